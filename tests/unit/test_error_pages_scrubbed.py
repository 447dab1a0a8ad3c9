"""An error answer — a proxy's HTML page or a vendor's JSON — that quotes the request's
headers or our token: its text reaches errors (stderr, the outbox, audit rows) scrubbed,
on one line, bounded. Served over real HTTP on loopback."""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from bridge.cli import main
from bridge.connectors.freshdesk import FreshdeskHelpdesk
from bridge.connectors.zendesk import ZendeskHelpdesk
from bridge.errors import BridgeError
from bridge.policy.visibility import OutboundGate

EMAIL = "agent@example.com"
TOKEN = "zd-canary-token-7f3a9c5e"
API_KEY = "fd-canary-key-2b8d4e1a"


def basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


class EchoingErrors(BaseHTTPRequestHandler):
    """Answers every request with ``status`` and a body quoting its Authorization header:
    an HTML proxy page, or a JSON error whose message quotes the header and its password."""

    status = 502
    shape = "html"

    def _answer(self) -> None:
        auth = self.headers.get("Authorization") or ""
        if self.shape == "html":
            body = ("<html><body><h1>Bad Gateway</h1><pre>upstream timed out; request was:\n"
                    f"{self.command} {self.path}\nAuthorization: {auth}\n</pre></body></html>").encode()
            kind = "text/html"
        else:
            password = base64.b64decode(auth.split()[-1]).decode().rpartition(":")[2] if auth else ""
            body = json.dumps({"error": f"Couldn't authenticate you with\n{auth}",
                               "description": f"the key {password} is not valid here",
                               "errors": [{"field": "auth", "message": f"sent {auth}", "code": "invalid"}]}).encode()
            kind = "application/json"
        self.send_response(self.status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_POST = _answer

    def log_message(self, *args) -> None:
        pass


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def handler(status: int, shape: str) -> type[EchoingErrors]:
    return type("Answering", (EchoingErrors,), {"status": status, "shape": shape})


def assert_scrubbed(error: Exception, *secrets: str) -> None:
    text = str(error)
    for secret in secrets:
        assert secret not in text, text
    assert "\n" not in text and len(text) < 800, text


@pytest.mark.parametrize(("status", "shape"), [(502, "html"), (401, "html"), (500, "html"),
                                               (503, "json"), (401, "json"), (422, "json")])
def test_zendesk_error_answers_never_show_the_token_or_its_basic_form(status, shape):
    with serving(handler(status, shape)) as url:
        helpdesk = ZendeskHelpdesk(url, email=EMAIL, token=TOKEN, gate=OutboundGate(), retries=0)
        with pytest.raises(BridgeError) as info:
            helpdesk.get_ticket("101")
    assert str(status) in str(info.value)
    assert_scrubbed(info.value, TOKEN, basic(f"{EMAIL}/token", TOKEN))


@pytest.mark.parametrize(("status", "shape"), [(400, "html"), (400, "json"), (502, "html"), (503, "json")])
def test_freshdesk_error_answers_never_show_the_api_key_or_its_basic_form(status, shape):
    with serving(handler(status, shape)) as url:
        helpdesk = FreshdeskHelpdesk(url, api_key=API_KEY, gate=OutboundGate(), retries=0)
        with pytest.raises(BridgeError) as info:
            helpdesk.get_ticket("101")
    assert_scrubbed(info.value, API_KEY, basic(API_KEY, "X"))


def test_a_json_error_keeps_the_vendors_own_words():
    with serving(handler(422, "json")) as url:
        helpdesk = ZendeskHelpdesk(url, email=EMAIL, token=TOKEN, gate=OutboundGate(), retries=0)
        with pytest.raises(BridgeError) as info:
            helpdesk.get_ticket("101")
    assert "Couldn't authenticate you with Basic ***" in str(info.value)
    assert "the key *** is not valid here" in str(info.value)


def test_a_write_answered_by_such_a_page_leaves_no_credentials_in_the_store(bridge_env, tmp_path):
    """Reads reach the emulated Zendesk through a proxy; its writes get the echoing page, and
    the failure is recorded in the store without the credentials."""
    upstream = bridge_env["BRIDGE_HELPDESK_URL"]

    class Proxy(EchoingErrors):
        def do_GET(self) -> None:
            answer = requests.get(upstream + self.path, headers={"Authorization": self.headers["Authorization"]},
                                  timeout=10)
            self.send_response(answer.status_code)
            self.send_header("Content-Type", answer.headers.get("Content-Type", "application/json"))
            self.send_header("Content-Length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)

    with serving(Proxy) as url:
        result = CliRunner().invoke(main, ["escalate", "101"], env={**bridge_env, "BRIDGE_HELPDESK_URL": url},
                                    catch_exceptions=False)
    assert result.exit_code != 0, result.output
    token = bridge_env["BRIDGE_HELPDESK_TOKEN"]
    secrets = (token, basic(f"{bridge_env['BRIDGE_HELPDESK_USER']}/token", token))
    for secret in secrets:
        assert secret not in result.output
    store = Path(bridge_env["BRIDGE_STORE_URL"].removeprefix("sqlite:///"))
    dump = "\n".join(sqlite3.connect(store).iterdump())
    assert "Bad Gateway" in dump, "the failed write is recorded"
    for secret in secrets:
        assert secret not in dump and secret.encode() not in store.read_bytes()
