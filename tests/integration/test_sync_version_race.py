"""A customer who writes on a ticket right after the bridge's own write to it, before the
bridge reads the ticket back for the version its write left, must still reach the Bug.

The bridge talks to the Zendesk emulator through a small loopback proxy in this module. The
proxy relays every request unchanged; once armed, it adds the customer's comment to the
emulator at an exact point of the pass — after the emulator has answered the bridge's write
(or, for a bulk write, after the job status that says the job completed) and before that
answer reaches the bridge — so the comment lands between the write and any later read, with
no thread racing another and no sleep.

Freshdesk's read carries the conversation, so the bridge sees the customer's message in its
read back and keeps the ticket's old version. Zendesk's bulk read carries no conversation;
its ticket's last audit (sideloaded) names who changed it last, and a change by anyone but
the bridge keeps the old version too; see
:meth:`bridge.sync.record.RecordSteps._unprocessed_message`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from jira import JIRA

from bridge.config import load_config
from bridge.escalation import EscalationRequest
from bridge.sandbox.jira import DEMO_LOGINS
from bridge.services import Services
from tests.conftest import ACTOR
from tests.fixtures.bridge_comments import bridge_comments, escalate_together

#: Headers a relay must not pass on as they came (requests decodes and re-frames the body).
_HOP = {"connection", "keep-alive", "transfer-encoding", "content-encoding", "content-length"}


class _Relay(BaseHTTPRequestHandler):
    """Relays one request to ``server.upstream``; then, before answering, lets the armed
    hook see the request and the upstream's answer (the hook may change the emulator)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet in test output
        pass

    def _relay(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP | {"host"}}
        answer = requests.request(self.command, self.server.upstream + self.path, data=body, headers=headers,
                                  allow_redirects=False, timeout=30)
        hook = self.server.hook
        if hook is not None:
            hook(self.command, self.path.split("?", 1)[0], answer, body or b"")
        self.send_response(answer.status_code)
        for name, value in answer.headers.items():
            if name.lower() not in _HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = _relay


@contextmanager
def _proxy(upstream: str) -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Relay)
    server.daemon_threads = True
    server.upstream, server.hook = upstream.rstrip("/"), None
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def _once(when: Callable[[str, str, requests.Response, bytes], bool], then: Callable[[], None]):
    """A hook that runs ``then`` the first time ``when`` holds, and never again."""
    fired = threading.Event()
    lock = threading.Lock()

    def hook(method: str, path: str, answer: requests.Response, body: bytes) -> None:
        with lock:
            if not fired.is_set() and when(method, path, answer, body):
                then()
                fired.set()

    hook.fired = fired
    return hook


@pytest.fixture
def relay(sandbox) -> Iterator[ThreadingHTTPServer]:
    with _proxy(sandbox.zendesk.url) as server:
        yield server


@pytest.fixture
def proxied(bridge_env, relay) -> Services:
    """The bridge's services with every Zendesk request going through the relay."""
    return Services(load_config(None, env={**bridge_env, "BRIDGE_HELPDESK_URL": f"http://127.0.0.1:{relay.server_port}"}))


@pytest.fixture
def dev(sandbox) -> JIRA:
    return JIRA(server=sandbox.jira.url, basic_auth=DEMO_LOGINS["dev"].basic_auth("cloud"), max_retries=0)


def _sync(services: Services) -> None:
    report = services.sync_engine().run()
    assert report.exit_code == 0, report.failures


def _customer_says(sandbox, ticket: int, body: str) -> Callable[[], None]:
    def say() -> None:
        requester = sandbox.zendesk_state.ticket(ticket)["requester_id"]
        sandbox.zendesk_state.update_ticket(ticket, {"comment": {"body": body, "public": True}}, requester)
    return say


def _reached_bug(sandbox, key: str, token: str) -> int:
    return len([c for c in sandbox.jira_state.comments(key) if token in c["body"]])


def _after_bridge(sandbox, ticket: int, token: str) -> bool:
    """Whether the customer's comment stands on the ticket after the bridge's last reply."""
    bodies = [c["body"] for c in sandbox.zendesk_state.comments(ticket)]
    return bodies[-1].startswith(token) and bridge_comments(sandbox, ticket)[-1] in bodies[-2]


def test_a_comment_right_after_the_bridges_single_write_reaches_the_bug(sandbox, proxied, relay, dev):
    """One ticket: the bridge's announcement is a plain PUT; the customer writes the moment
    Zendesk has applied it."""
    key = proxied.escalator().escalate(EscalationRequest(ticket="101", actor=ACTOR)).jira_key
    sandbox.zendesk_state.export_skips_last_minute = False  # no clock moves here
    _sync(proxied)
    dev.transition_issue(key, "In Progress")
    token = "Customer note qv7r: it still crashes after your update."
    relay.hook = _once(lambda method, path, answer, _: method == "PUT" and path == "/api/v2/tickets/101.json"
                       and answer.ok, _customer_says(sandbox, 101, token))

    _sync(proxied)  # announces "in progress"; the customer writes right after that write
    assert relay.hook.fired.is_set() and _after_bridge(sandbox, 101, token)
    assert _reached_bug(sandbox, key, token) == 0  # this pass read the ticket before it
    relay.hook = None

    _sync(proxied)
    assert _reached_bug(sandbox, key, token) == 1
    _sync(proxied)
    assert _reached_bug(sandbox, key, token) == 1  # and once


def test_a_comment_right_after_the_bridges_bulk_write_reaches_the_bug(sandbox, proxied, relay, dev):
    """Three tickets: the announcements are one ``update_many`` job; the customer of 104
    writes the moment the job status says Zendesk has applied it, before the bridge reads
    the tickets back for their versions."""
    key = escalate_together(proxied, sandbox, (101, 104, 105))
    _sync(proxied)
    dev.transition_issue(key, "In Progress")
    token = "Customer note k3pz: the export still hangs."

    def completed(method: str, path: str, answer: requests.Response, _: bytes) -> bool:
        if method != "GET" or not path.startswith("/api/v2/job_statuses/") or not answer.ok:
            return False
        return all(job.get("status") == "completed" for job in answer.json().get("job_statuses", [answer.json()]))

    relay.hook = _once(completed, _customer_says(sandbox, 104, token))
    _sync(proxied)
    assert relay.hook.fired.is_set() and _after_bridge(sandbox, 104, token)
    assert all("bridge_state_in_progress" in sandbox.zendesk_state.ticket(t)["tags"] for t in (101, 104, 105))
    relay.hook = None

    _sync(proxied)
    assert _reached_bug(sandbox, key, token) == 1
    _sync(proxied)
    assert _reached_bug(sandbox, key, token) == 1


def test_a_comment_before_the_read_that_confirms_a_bulk_write_reaches_the_bug(sandbox, proxied, relay, dev):
    """While Zendesk keeps up with the bridge's jobs, a marked round is confirmed by reading
    its tickets back instead of polling (the read gives their versions too). The customer of
    104 writes after the job has applied the announcement, before that read."""
    key = escalate_together(proxied, sandbox, (101, 104, 105))
    _sync(proxied)
    jobs = sandbox.zendesk_state.job_runner
    token = "Customer note w8dn: still failing on our side."
    armed = threading.Event()

    def hook(method: str, path: str, answer: requests.Response, _: bytes) -> None:
        if method == "PUT" and path == "/api/v2/tickets/update_many.json" and answer.ok:
            assert jobs.wait_idle()  # the job has run before its submission is answered: Zendesk keeps up
            if armed.is_set():
                armed.clear()
                _customer_says(sandbox, 104, token)()

    relay.hook = hook
    dev.transition_issue(key, "In Progress")
    _sync(proxied)  # the first round polls (the pace is not known yet) and finds its job done
    dev.transition_issue(key, "In QA")
    armed.set()
    sandbox.zendesk.knobs.reset_counters()
    _sync(proxied)
    counts = sandbox.zendesk.knobs.counts()["by_route"]
    assert "GET /api/v2/job_statuses/show_many.json" not in counts, counts  # confirmed by reading
    assert not armed.is_set() and _after_bridge(sandbox, 104, token)
    relay.hook = None

    _sync(proxied)
    assert _reached_bug(sandbox, key, token) == 1
    _sync(proxied)
    assert _reached_bug(sandbox, key, token) == 1


def test_a_freshdesk_reply_right_after_the_bridges_write_reaches_the_bug(sandbox, tmp_path, dev):
    """Freshdesk: the bridge's announcement is a reply and then its tags (``PUT``); the
    customer replies the moment the tags are set, before the bridge reads the ticket back."""
    state = sandbox.freshdesk_state
    with _proxy(sandbox.freshdesk.url) as relay:
        env = {**sandbox.env(helpdesk="freshdesk"), "BRIDGE_STORE_URL": f"sqlite:///{tmp_path / 'fd.db'}",
               "BRIDGE_BRIDGE_ACTOR": ACTOR, "BRIDGE_HELPDESK_URL": f"http://127.0.0.1:{relay.server_port}"}
        services = Services(load_config(None, env=env))
        key = services.escalator().escalate(EscalationRequest(ticket="1", actor=ACTOR)).jira_key
        _sync(services)
        dev.transition_issue(key, "In Progress")
        token = "Customer note f5tb: the import is still stuck."

        def reply() -> None:
            state.add_conversation(1, token, user_id=state.ticket(1)["requester_id"], private=False, incoming=True)

        relay.hook = _once(lambda method, path, answer, body: method == "PUT" and path == "/api/v2/tickets/1"
                           and answer.ok and b"bridge_state_in_progress" in body, reply)
        _sync(services)
        assert relay.hook.fired.is_set()
        assert state.conversations_of(1)[-1]["body_text"].startswith(token)
        relay.hook = None

        _sync(services)
        assert _reached_bug(sandbox, key, token) == 1
        _sync(services)
        assert _reached_bug(sandbox, key, token) == 1
