"""JIRA answering 503 with Retry-After (maintenance, overload) is waited for like a 429: a
short wait is honoured, a wait longer than BRIDGE_HTTP_TIMEOUT fails at once naming it
(cli.md). Served over real HTTP on loopback."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import pairwise
from typing import ClassVar

import pytest

from bridge.connectors.jira import JiraTracker
from bridge.errors import ServiceUnreachable


class Jira503(BaseHTTPRequestHandler):
    """serverInfo answers; every other request gets 503 with ``retry_after`` (None: no header)."""

    retry_after: str | None = None
    hits: ClassVar[list[float]] = []

    def do_GET(self) -> None:
        if self.path.startswith("/rest/api/2/serverInfo"):
            body = {"versionNumbers": [9, 12, 0], "deploymentType": "Server", "baseUrl": "http://x"}
            self.send_response(200)
        else:
            self.hits.append(time.monotonic())
            body = {"errorMessages": ["JIRA is under maintenance"]}
            self.send_response(503)
            if self.retry_after is not None:
                self.send_header("Retry-After", self.retry_after)
        data = json.dumps(body).encode()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


def serve(retry_after: str | None) -> Iterator[tuple[str, list[float]]]:
    handler = type("Answering", (Jira503,), {"retry_after": retry_after, "hits": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", handler.hits
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def jira_asking_an_hour():
    yield from serve("3600")


@pytest.fixture
def jira_asking_a_second():
    yield from serve("1")


def test_a_503_asking_for_longer_than_the_budget_fails_at_once_naming_the_wait(jira_asking_an_hour):
    url, hits = jira_asking_an_hour
    tracker = JiraTracker(url, user="u", token="t", timeout=5, deployment="server")
    with pytest.raises(ServiceUnreachable) as info:
        tracker.issue("SUP-1")
    assert len(hits) == 1, "retried a JIRA that asked to be left alone for an hour"
    message = str(info.value)
    assert "3600 s" in message and "503" in message and "JIRA is under maintenance" in message
    assert "429" not in message
    assert info.value.retry_after == pytest.approx(3600)


def test_a_503_asking_for_a_second_is_waited_for_before_each_retry(jira_asking_a_second):
    url, hits = jira_asking_a_second
    tracker = JiraTracker(url, user="u", token="t", timeout=10, retries=2, deployment="server")
    with pytest.raises(ServiceUnreachable) as info:
        tracker.issue("SUP-1")
    assert len(hits) == 3
    assert all(later - earlier >= 1.0 for earlier, later in pairwise(hits)), hits
    assert "503" in str(info.value)
