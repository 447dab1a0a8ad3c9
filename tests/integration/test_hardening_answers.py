"""F5: a service answering 200 with something that is not its API's JSON — an HTML page, invalid
or empty JSON, a list or ``null`` — is one error at the connector edge
(:class:`~bridge.errors.UnexpectedAnswer`, exit 3) naming the content type and the first bytes
with our credentials stripped; never a ``JSONDecodeError``, ``KeyError`` or ``TypeError``.

The services are a tiny loopback HTTP server answering every request the same canned way,
so each connector is driven through real HTTP exactly as against the vendor.
"""

from __future__ import annotations

import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bridge.connectors.bugsink import BugsinkErrorTracker
from bridge.connectors.django_helpdesk import DjangoHelpdesk
from bridge.connectors.freshdesk import FreshdeskHelpdesk
from bridge.connectors.jira import JiraTracker
from bridge.connectors.sentry import SentryErrorTracker
from bridge.connectors.zendesk import ZendeskHelpdesk
from bridge.errors import EXIT_SERVICE, UnexpectedAnswer
from bridge.policy.visibility import OutboundGate

TOKEN = "tok-3f9a1c7e5b2d"


class CannedServer:
    """A loopback HTTP server answering every request with one canned answer (or, with
    ``silent``, never answering at all; with ``tls``, over HTTPS). Use as a context manager."""

    def __init__(self, status: int = 200, content_type: str | None = "application/json", body: bytes = b"{}",
                 headers: dict[str, str] | None = None, silent: bool = False,
                 tls: ssl.SSLContext | None = None,
                 first: list[tuple[int, dict[str, str], bytes]] | None = None) -> None:
        self.status, self.content_type, self.body = status, content_type, body
        #: Answers (status, headers, body) given to the first requests, before the canned one.
        self.first = list(first or [])
        self.headers = headers or {}
        self.silent = silent
        self.requests: list[tuple[str, str]] = []
        self._release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                server.requests.append((self.command, self.path))
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                if server.silent:
                    server._release.wait(60)  # hold the connection, answer nothing
                    return
                status, headers, body = (server.first.pop(0) if server.first
                                         else (server.status, server.headers, server.body))
                self.send_response(status)
                if server.content_type:
                    self.send_header("Content-Type", server.content_type)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "CannedServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()


# An HTML sign-in page that even quotes our token back (a proxy echoing the request).
HTML = f"<!DOCTYPE html><html><head><title>Sign in</title></head><body>token={TOKEN}</body></html>".encode()
ANSWERS = {
    "html": ("text/html; charset=utf-8", HTML),
    "invalid json": ("application/json", b'{"ticket": {"id": 1,'),
    "empty": ("application/json", b""),
    "list": ("application/json", b"[1, 2, 3]"),
    "null": ("application/json", b"null"),
    "no fields": ("application/json", b'{"unexpected": true}'),
}


def _zendesk(url):
    return lambda: ZendeskHelpdesk(url, email="agent@example.com", token=TOKEN, gate=OutboundGate(), retries=0).get_ticket("1")


def _freshdesk(url):
    return lambda: FreshdeskHelpdesk(url, api_key=TOKEN, gate=OutboundGate(), retries=0).get_ticket("1")


def _django_helpdesk(url):
    return lambda: DjangoHelpdesk(url, token=TOKEN, gate=OutboundGate(), retries=0).get_ticket("1")


def _jira(url):
    return lambda: JiraTracker(url, user="bridge@example.com", token=TOKEN, retries=0).issue("SUP-1")


def _sentry(url):
    return lambda: SentryErrorTracker(url, org="acme", token=TOKEN, retries=0).issue("4505")


def _bugsink(url):
    return lambda: BugsinkErrorTracker(url, token=TOKEN, retries=0).issue("BACKEND-1")


CONNECTORS = {"Zendesk": _zendesk, "Freshdesk": _freshdesk, "django-helpdesk": _django_helpdesk, "JIRA": _jira,
              "Sentry": _sentry, "Bugsink": _bugsink}


@pytest.mark.parametrize("answer", list(ANSWERS))
@pytest.mark.parametrize("service", list(CONNECTORS))
def test_an_answer_that_is_not_the_apis_json_is_named_as_such(service, answer):
    content_type, body = ANSWERS[answer]
    with CannedServer(content_type=content_type, body=body) as server:
        with pytest.raises(UnexpectedAnswer) as caught:
            CONNECTORS[service](server.url)()
    error = caught.value
    message = str(error)
    assert error.exit_code == EXIT_SERVICE
    assert f"{service} answered something that is not its API's JSON: {content_type.split(';')[0]}" in message
    assert "\n" not in message
    assert TOKEN not in message
    if answer == "html":
        assert "<!DOCTYPE html>" in message and "Sign in" in message
    assert error.__cause__ is None


def test_the_excerpt_is_short_and_without_secrets():
    from bridge.connectors.http import EXCERPT_BYTES, excerpt

    text = excerpt(("Authorization: Bearer abcdef123456 " + "x" * 1000).encode(), ())
    assert "abcdef123456" not in text and len(text) <= EXCERPT_BYTES
    assert excerpt(b"https://user:pw@host/?api_token=zzzzzz", ()) == "https://***@host/?api_token=***"
    assert excerpt(b"\x00\xff<html>\r\n</html>", ()) == "\ufffd<html> </html>"
