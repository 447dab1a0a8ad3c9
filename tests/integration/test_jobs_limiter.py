"""The rate limit all workers share through PostgreSQL, and the 429s it shares."""

from __future__ import annotations

import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from bridge.jobs.limiter import DEFAULT_RATES, HOLD_RECHECK_S, JITTER_S, RateLimiter, limit_session, parse_rates
from bridge.store.db import make_engine
from tests.fixtures.jobs import jobs_store_url  # noqa: F401 - a fixture

pytestmark = pytest.mark.postgres


class Recorder:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)  # not slept: the waits are what the test reads


@pytest.fixture
def engine(jobs_store_url):
    engine = make_engine(jobs_store_url)
    yield engine
    engine.dispose()


def test_limiters_of_several_workers_queue_behind_one_bucket(engine):
    # One request per 100 s, burst 1: whatever the machine's speed, the third request of
    # the three "workers" waits about 200 s.
    sleeps = [Recorder() for _ in range(3)]
    workers = [RateLimiter(engine, {"jira": 0.01}, sleep=s) for s in sleeps]
    for worker in workers:
        worker.take("jira")
    waits = sorted(w for s in sleeps for w in s.waits)
    assert len(waits) == 2  # the first took the burst's token without waiting
    assert 90 < waits[0] <= 100 and 190 < waits[1] <= 200


def test_a_429_holds_every_worker_back_for_its_retry_after_plus_jitter(engine):
    mine, other = Recorder(), Recorder()
    RateLimiter(engine, {"zendesk": 0}, sleep=mine).throttled("zendesk", 30)
    RateLimiter(engine, {"zendesk": 0}, sleep=other).take("zendesk")
    assert len(other.waits) == 1 and 25 < other.waits[0] <= 30 + JITTER_S
    assert RateLimiter(engine, {}).throttled_counts() == {"zendesk": 1}


def test_an_unlimited_service_reads_the_shared_hold_once_a_second(engine):
    import sqlalchemy as sa

    reads = []

    def seen(conn, cursor, statement, *rest) -> None:
        if "blocked_until" in statement:
            reads.append(statement)

    sa.event.listen(engine, "before_cursor_execute", seen)
    now = [100.0]
    waits = Recorder()
    limiter = RateLimiter(engine, {"zendesk": 0}, sleep=waits, clock=lambda: now[0])
    for _ in range(5):
        limiter.take("zendesk")
    assert len(reads) == 1 and waits.waits == []
    RateLimiter(engine, {"zendesk": 0}, sleep=Recorder()).throttled("zendesk", 30)  # another worker's 429
    assert limiter.take("zendesk") == 0  # read less than HOLD_RECHECK_S ago
    now[0] += HOLD_RECHECK_S
    assert 25 < limiter.take("zendesk") <= 30 + JITTER_S
    # The process that saw a 429 holds back at once.
    limiter.throttled("zendesk", 60)
    assert 55 < limiter.take("zendesk") <= 60 + JITTER_S


class _TooMany(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server API
        self.send_response(429)
        self.send_header("Retry-After", "20")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_a_limited_session_reports_429s_from_a_real_server(engine):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _TooMany)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        session = requests.Session()
        waits = Recorder()
        limit_session(session, RateLimiter(engine, {"zendesk": 50}, sleep=waits), "zendesk")
        assert session.get(f"http://127.0.0.1:{server.server_port}/api/v2/tickets.json", timeout=10).status_code == 429
        session.get(f"http://127.0.0.1:{server.server_port}/api/v2/tickets.json", timeout=10)
    finally:
        server.shutdown()
        server.server_close()
    assert RateLimiter(engine, {}).throttled_counts() == {"zendesk": 2}
    assert waits.waits and 15 < waits.waits[0] <= 20 + JITTER_S  # the second request waited for the first's 429


class _TooManyOnce(BaseHTTPRequestHandler):
    """429 (Retry-After: 0) to every first request of a path, 200 to the next."""

    seen: set[str] = set()

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        first = self.path not in self.seen
        self.seen.add(self.path)
        self.send_response(429 if first else 200)
        if first:
            self.send_header("Retry-After", "0")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_a_429_the_sessions_own_retries_absorb_is_counted_shared_and_its_resend_takes_a_token(engine):
    from bridge.connectors.http import build_session

    server = ThreadingHTTPServer(("127.0.0.1", 0), _TooManyOnce)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        session = build_session(retries=3)  # as the helpdesk connectors build theirs: 429 retried inside
        waits = Recorder()
        limit_session(session, RateLimiter(engine, {"zendesk": 0}, sleep=waits, rng=random.Random(7)), "zendesk")
        assert session.get(f"http://127.0.0.1:{server.server_port}/a", timeout=10).status_code == 200
    finally:
        server.shutdown()
        server.server_close()
    assert RateLimiter(engine, {}).throttled_counts() == {"zendesk": 1}
    # The resend waited for the shared hold (Retry-After 0 plus jitter) like any other request.
    assert len(waits.waits) == 1 and 0 < waits.waits[0] <= JITTER_S


names = st.sampled_from(["jira", "zendesk", "freshdesk", "django-helpdesk"])


@given(names, st.floats(min_value=0, max_value=1e6, allow_nan=False))
def test_a_well_formed_rate_overrides_its_default(service, rate):
    assert parse_rates([f"{service}={rate!r}"]) == {**DEFAULT_RATES, service: rate}


@given(st.text(max_size=20))
def test_anything_else_is_refused_naming_the_option(value):
    service, sep, number = value.partition("=")
    try:
        ok = bool(sep and service.strip()) and 0 <= float(number) < float("inf")
    except ValueError:
        ok = False
    if ok:
        assert parse_rates([value])[service.strip()] == float(number)
    else:
        with pytest.raises(ValueError, match="--rate"):
            parse_rates([value])
