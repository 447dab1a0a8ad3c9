"""Serving the emulators on loopback, and the knobs tests and benchmarks turn.

Each emulator (JIRA, Zendesk, Sentry, ...) is a Flask app built by its own module. This
module adds what every one of them shares:

* :class:`Knobs` — added latency, a request budget past which the service answers 429 with
  ``Retry-After`` and the vendor's own rate-limit headers, 5xx answers or dropped
  connections for the next N requests, a fraction of them or exactly the Nth one from now
  (``fail_at``, for fault matrices; optionally *after* the request was applied, the "timed
  out but it happened" case), per-service request counters, and a
  journal of every request received (method, path, query, body; never headers, so no
  credentials) that tests read to assert on what a service was sent.
* An admin API under ``/__sandbox__/`` (a path no vendor uses) to read and turn the knobs
  while the service runs: ``GET|PATCH /__sandbox__/knobs``, ``GET|DELETE
  /__sandbox__/counters``, ``GET|DELETE /__sandbox__/requests``. Admin requests are neither counted nor subject to the knobs.
* :class:`ServiceThread` — a threaded werkzeug server on 127.0.0.1 (port 0 picks a free
  port) in a daemon thread, started and stopped by test fixtures or ``bridge sandbox``.

A vendor module plugs in through :class:`Vendor`: its name, how its error bodies look, and
which rate-limit headers it sends.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.serving import WSGIRequestHandler, make_server

ADMIN_PREFIX = "/__sandbox__"


@dataclass
class Vendor:
    """What differs between vendors in the shared behaviour."""

    name: str
    #: Builds the vendor's error response for a status and a message.
    error_response: Callable[[int, str], Response]
    #: Rate-limit headers for (limit, remaining, reset_epoch_seconds).
    rate_limit_headers: Callable[[int, int, float], dict[str, str]]


@dataclass(frozen=True)
class JournalEntry:
    """One request as the emulator received it (headers are deliberately not kept)."""

    method: str
    path: str
    query: str
    body: str
    at: float


#: Bodies longer than this are cut in the journal; tests look at their start.
JOURNAL_BODY_LIMIT = 256 * 1024
#: The journal keeps this many most recent requests (benchmarks send far more).
JOURNAL_LIMIT = 20_000


@dataclass
class Knobs:
    """Run-time behaviour switches for one emulated service. Thread-safe through ``lock``."""

    latency_ms: float = 0.0
    #: Requests allowed per window before 429; None = unlimited.
    rate_limit: int | None = None
    #: Window length in seconds; None = the budget never refills.
    rate_window_s: float | None = None
    #: Seconds announced in Retry-After on 429.
    retry_after_s: int = 1
    #: Number of upcoming requests that fail.
    fail_next: int = 0
    #: Fraction (0..1) of requests that fail at random.
    fail_fraction: float = 0.0
    #: "error" answers ``fail_status``; "drop" closes the connection without an answer.
    fail_mode: str = "error"
    fail_status: int = 503
    #: Apply the request first, then fail (the write happened; the client cannot know).
    fail_after_apply: bool = False
    #: Only requests with these methods fail (empty = all), e.g. ["POST", "PUT"].
    fail_methods: list[str] = field(default_factory=list)
    #: Fail exactly the Nth request (any method) counted from when this knob was set; 0 = off.
    #: A fault matrix sets it to 1, 2, ... k_max to hit every request of a command once.
    fail_at: int = 0
    seed: int | None = None

    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    counters: Counter = field(default_factory=Counter, repr=False)
    journal: list = field(default_factory=list, repr=False)
    _window_start: float = field(default_factory=time.monotonic, repr=False)
    _window_used: int = field(default=0, repr=False)
    _fail_at_seen: int = field(default=0, repr=False)
    _rng: random.Random = field(default_factory=random.Random, repr=False)
    #: Requests being answered now, and the most there were at once since the counters were
    #: reset: how a test sees that a client sends requests together.
    in_flight: int = field(default=0, repr=False)
    peak_in_flight: int = field(default=0, repr=False)

    TUNABLE = (
        "latency_ms", "rate_limit", "rate_window_s", "retry_after_s", "fail_next",
        "fail_fraction", "fail_mode", "fail_status", "fail_after_apply", "fail_methods", "fail_at",
        "seed",
    )

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.TUNABLE}

    def update(self, values: dict) -> None:
        """Set knobs from a dict (the admin API's PATCH body); unknown names raise KeyError."""
        unknown = set(values) - set(self.TUNABLE)
        if unknown:
            raise KeyError(", ".join(sorted(unknown)))
        if values.get("fail_mode", self.fail_mode) not in ("error", "drop"):
            raise ValueError("fail_mode must be 'error' or 'drop'")
        with self.lock:
            for name, value in values.items():
                setattr(self, name, value)
            if "fail_at" in values:
                self._fail_at_seen = 0
            if "seed" in values and values["seed"] is not None:
                self._rng.seed(values["seed"])
            if "rate_limit" in values or "rate_window_s" in values:
                self._window_start = time.monotonic()
                self._window_used = 0

    def reset_counters(self) -> None:
        with self.lock:
            self.counters.clear()
            self.journal.clear()
            self.peak_in_flight = self.in_flight

    def received(self, method: str | None = None, path_contains: str = "") -> list[JournalEntry]:
        """Requests received so far, oldest first, optionally filtered."""
        with self.lock:
            entries = list(self.journal)
        return [
            e for e in entries
            if (method is None or e.method == method) and path_contains in e.path
        ]

    def counts(self) -> dict:
        """Counters as ``{"total": n, "by_route": {"GET /path/<rule>": n}}``."""
        with self.lock:
            by_route = dict(self.counters)
        return {"total": sum(by_route.values()), "by_route": by_route}

    # -- decisions taken per request -------------------------------------------------
    def take_budget(self) -> tuple[bool, int, float]:
        """Spend one request of the budget: (allowed, remaining, reset_epoch_seconds)."""
        with self.lock:
            if self.rate_limit is None:
                return True, 1_000_000, time.time()
            now = time.monotonic()
            if self.rate_window_s is not None and now - self._window_start >= self.rate_window_s:
                self._window_start, self._window_used = now, 0
            window = self.rate_window_s if self.rate_window_s is not None else self.retry_after_s
            reset = time.time() + max(0.0, window - (now - self._window_start))
            if self._window_used >= self.rate_limit:
                return False, 0, reset
            self._window_used += 1
            return True, self.rate_limit - self._window_used, reset

    def take_fault(self, method: str) -> bool:
        """Whether this request fails (consumes one of ``fail_next`` when it does)."""
        with self.lock:
            if self.fail_at > 0:
                # Counted before the method filter: "the Nth request" means any request.
                self._fail_at_seen += 1
                if self._fail_at_seen == self.fail_at:
                    return True
            if self.fail_methods and method not in self.fail_methods:
                return False
            if self.fail_next > 0:
                self.fail_next -= 1
                return True
            return self.fail_fraction > 0 and self._rng.random() < self.fail_fraction


def _dropped_connection() -> Response:
    """Close the client's socket so it sees a connection error, not an HTTP answer.

    The returned response's body raises while werkzeug writes it, which werkzeug treats
    as a dropped connection (quietly), before any status line reaches the client.
    """
    sock = request.environ.get("werkzeug.socket")
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _body():
        raise ConnectionAbortedError("sandbox dropped the connection on purpose")
        yield b""  # pragma: no cover - makes this a generator

    return Response(_body())


def install(app: Flask, vendor: Vendor, knobs: Knobs) -> None:
    """Wire the knobs, the admin API and the vendor's error shape into ``app``."""
    app.config["SANDBOX_KNOBS"] = knobs
    app.config["SANDBOX_VENDOR"] = vendor

    @app.before_request
    def _apply_knobs():
        if request.path.startswith(ADMIN_PREFIX):
            return None
        rule = request.url_rule.rule if request.url_rule is not None else request.path
        entry = JournalEntry(
            method=request.method,
            path=request.path,
            query=request.query_string.decode("latin-1"),
            body=request.get_data(cache=True, as_text=True)[:JOURNAL_BODY_LIMIT],
            at=time.time(),
        )
        with knobs.lock:
            knobs.counters[f"{request.method} {rule}"] += 1
            knobs.journal.append(entry)
            knobs.in_flight += 1
            knobs.peak_in_flight = max(knobs.peak_in_flight, knobs.in_flight)
            g.sandbox_counted = True
            if len(knobs.journal) > JOURNAL_LIMIT:
                del knobs.journal[: len(knobs.journal) - JOURNAL_LIMIT]
        if knobs.latency_ms:
            time.sleep(knobs.latency_ms / 1000.0)
        allowed, remaining, reset = knobs.take_budget()
        headers = vendor.rate_limit_headers(knobs.rate_limit or 0, remaining, reset)
        g.sandbox_rate_headers = headers
        if not allowed:
            response = vendor.error_response(429, "Rate limit exceeded.")
            response.headers.update(headers)
            response.headers["Retry-After"] = str(knobs.retry_after_s)
            return response
        g.sandbox_fault = knobs.take_fault(request.method)
        if g.sandbox_fault and not knobs.fail_after_apply:
            return _fail(vendor, knobs)
        return None

    @app.after_request
    def _after(response: Response):
        if request.path.startswith(ADMIN_PREFIX):
            return response
        if knobs.rate_limit is not None:
            for name, value in getattr(g, "sandbox_rate_headers", {}).items():
                response.headers.setdefault(name, value)
        if getattr(g, "sandbox_fault", False) and knobs.fail_after_apply and response.status_code < 400:
            return _fail(vendor, knobs)
        return response

    @app.teardown_request
    def _answered(_exc: BaseException | None) -> None:
        if g.pop("sandbox_counted", False):
            with knobs.lock:
                knobs.in_flight -= 1

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        return vendor.error_response(exc.code or 500, exc.description or exc.name)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        app.logger.exception("sandbox %s: unexpected error", vendor.name)
        return vendor.error_response(500, "Internal server error")

    @app.get(f"{ADMIN_PREFIX}/knobs")
    def _get_knobs():
        return jsonify(knobs.as_dict())

    @app.patch(f"{ADMIN_PREFIX}/knobs")
    def _set_knobs():
        try:
            knobs.update(request.get_json(force=True) or {})
        except (KeyError, ValueError, TypeError) as exc:
            return jsonify({"error": f"bad knob: {exc}"}), 400
        return jsonify(knobs.as_dict())

    @app.get(f"{ADMIN_PREFIX}/counters")
    def _get_counters():
        return jsonify(knobs.counts())

    @app.delete(f"{ADMIN_PREFIX}/counters")
    def _reset_counters():
        knobs.reset_counters()
        return "", 204

    @app.get(f"{ADMIN_PREFIX}/requests")
    def _get_journal():
        return jsonify([e.__dict__ for e in knobs.received()])

    @app.delete(f"{ADMIN_PREFIX}/requests")
    def _reset_journal():
        knobs.reset_counters()
        return "", 204


def _fail(vendor: Vendor, knobs: Knobs) -> Response:
    if knobs.fail_mode == "drop":
        return _dropped_connection()
    response = vendor.error_response(knobs.fail_status, "Service unavailable (sandbox fault).")
    if knobs.fail_status == 429:
        # An injected 429 looks like the budget's own: clients read Retry-After to wait.
        response.headers["Retry-After"] = str(knobs.retry_after_s)
    return response


class _QuietHandler(WSGIRequestHandler):
    """Werkzeug's request handler without the per-request access log line."""

    def log_request(self, *args, **kwargs) -> None:
        # Callers read the counters instead; one line per request would drown test output.
        pass


S = TypeVar("S")


def start_emulator(state: S, create_app: Callable[..., Flask], *, port: int = 0, seed: bool = True,
                   **app_options: Any) -> tuple["ServiceThread", S]:
    """Serve ``state`` (the demo world seeded into it first when ``seed``) through
    ``create_app(state, **app_options)`` on 127.0.0.1:``port`` (0: a free one) from a daemon
    thread; the state learns its own base URL (DSNs, permalinks, ``Link`` headers)."""
    if seed:
        state.seed_demo()  # type: ignore[attr-defined]
    service = ServiceThread(create_app(state, **app_options), port=port)
    state.base_url = service.url  # type: ignore[attr-defined]
    return service.start(), state


class ServiceThread:
    """One emulated service served on 127.0.0.1 from a daemon thread."""

    def __init__(self, app: Flask, port: int = 0, host: str = "127.0.0.1") -> None:
        self.app = app
        self._server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler)
        self._server.daemon_threads = True
        self.host = host
        self.port = self._server.server_port
        # A short poll interval makes stop() return in ~50 ms instead of werkzeug's 500 ms,
        # which is what lets every test start a fresh sandbox of its own.
        self._thread = threading.Thread(target=lambda: self._server.serve_forever(poll_interval=0.05),
                                        name=f"sandbox:{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def knobs(self) -> Knobs:
        return self.app.config["SANDBOX_KNOBS"]

    def start(self) -> "ServiceThread":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "ServiceThread":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
