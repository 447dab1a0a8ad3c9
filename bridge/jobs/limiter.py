"""Rate limits shared by every worker: one token bucket per service, in PostgreSQL.

Four workers on three machines must together stay inside JIRA's and the helpdesk's budget,
so the bucket cannot live in a process. Each request first *reserves* a token with one
atomic UPDATE of the service's row (refill by elapsed time, take one, may go negative); a
negative balance is the caller's place in the queue, and it sleeps ``-tokens / rate``
seconds before sending. The row lock serialises reservations, so the sum over all workers
never passes ``rate`` per second plus the burst.

A 429 is shared too: its ``Retry-After`` (plus jitter, so the workers that all waited do
not come back in the same millisecond) becomes the row's ``blocked_until``, which every
worker's next reservation honours; ``throttled`` counts the 429s (``/metrics`` and
`bridge doctor` read it). The connectors' sessions retry a 429 themselves, inside
urllib3, out of sight of a requests adapter: their Retry is replaced by one that reports
each 429 it sees and takes a token before each resend.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Mapping

from requests.adapters import BaseAdapter, HTTPAdapter
from sqlalchemy import Engine, text
from urllib3.util.retry import Retry

from bridge.connectors.http import retry_after_seconds

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_RATES", "RateLimiter", "limit_session", "parse_rates"]

#: Requests per second all workers together may send, per service (0 = no limit). JIRA
#: Cloud budgets points per hour per user; Zendesk's Professional plan 400 a minute;
#: Freshdesk's Growth plan 200 a minute. Override with `bridge worker --rate SERVICE=N`.
DEFAULT_RATES: dict[str, float] = {"jira": 10.0, "zendesk": 6.0, "freshdesk": 3.0, "django-helpdesk": 0.0}
#: The longest a shared Retry-After may hold every worker back.
MAX_BLOCK_S = 120.0
#: Random seconds added to a Retry-After, so waiting workers come back spread out.
JITTER_S = 0.5
#: A service without a limit has no bucket to take from, only the shared hold of another
#: worker's 429 to honour: read at most this often (a query per request would cost more than
#: the hold saves), and at once in the process that saw the 429.
HOLD_RECHECK_S = 1.0

_RESERVE = text("""
    INSERT INTO bridge_rate_limits (service, tokens, updated_at, throttled)
    VALUES (:service, :burst - 1, clock_timestamp(), 0)
    ON CONFLICT (service) DO UPDATE SET
        tokens = LEAST(:burst, bridge_rate_limits.tokens
                       + EXTRACT(EPOCH FROM clock_timestamp() - bridge_rate_limits.updated_at) * :rate) - 1,
        updated_at = clock_timestamp()
    RETURNING tokens,
              GREATEST(0, EXTRACT(EPOCH FROM COALESCE(blocked_until, clock_timestamp()) - clock_timestamp()))
""")
_BLOCK = text("""
    INSERT INTO bridge_rate_limits (service, tokens, updated_at, blocked_until, throttled)
    VALUES (:service, 0, clock_timestamp(), clock_timestamp() + make_interval(secs => :seconds), 1)
    ON CONFLICT (service) DO UPDATE SET
        blocked_until = GREATEST(COALESCE(bridge_rate_limits.blocked_until, clock_timestamp()),
                                 clock_timestamp() + make_interval(secs => :seconds)),
        throttled = bridge_rate_limits.throttled + 1
""")


def parse_rates(values: list[str] | tuple[str, ...]) -> dict[str, float]:
    """``["jira=5", "zendesk=2.5"]`` over the defaults; ValueError names a bad entry."""
    rates = dict(DEFAULT_RATES)
    for value in values:
        service, sep, number = value.partition("=")
        try:
            rate = float(number)
        except ValueError:
            rate = -1.0
        if not sep or not service.strip() or not (rate >= 0 and rate != float("inf")):
            raise ValueError(f"--rate {value!r}: expected SERVICE=REQUESTS_PER_SECOND (a number, 0 for no limit)")
        rates[service.strip()] = rate
    return rates


class RateLimiter:
    """The shared buckets on the store's PostgreSQL engine."""

    def __init__(self, engine: Engine, rates: Mapping[str, float], *, sleep=time.sleep,
                 rng: random.Random | None = None, clock=time.monotonic) -> None:
        self.engine = engine
        self.rates = dict(rates)
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.clock = clock
        #: Unlimited services: (when the shared hold was read, when it ends), by the clock.
        self._holds: dict[str, tuple[float, float]] = {}

    def take(self, service: str) -> float:
        """Wait for one request's token for ``service``; how long it waited (seconds)."""
        rate = self.rates.get(service, 0.0)
        if rate > 0:
            with self.engine.begin() as connection:
                tokens, blocked = connection.execute(_RESERVE, {"service": service, "rate": rate,
                                                                "burst": max(1.0, rate)}).one()
            wait = max(float(blocked), -float(tokens) / rate if tokens < 0 else 0.0)
        else:
            wait = self._hold(service)
        if wait > 0:
            self.sleep(wait)
        return wait

    def _hold(self, service: str) -> float:
        """Seconds left of the shared hold on an unlimited ``service`` (read every HOLD_RECHECK_S)."""
        now = self.clock()
        read_at, ends = self._holds.get(service, (None, now))
        if read_at is None or now - read_at >= HOLD_RECHECK_S:
            with self.engine.connect() as connection:
                row = connection.execute(text(
                    "SELECT GREATEST(0, EXTRACT(EPOCH FROM blocked_until - clock_timestamp())) "
                    "FROM bridge_rate_limits WHERE service = :service"), {"service": service}).first()
            ends = now + (float(row[0]) if row and row[0] is not None else 0.0)
            self._holds[service] = (now, ends)
        return max(0.0, ends - now)

    def throttled(self, service: str, retry_after: float | None) -> None:
        """A 429 from ``service``: hold every worker back for its Retry-After plus jitter."""
        seconds = min(MAX_BLOCK_S, retry_after if retry_after is not None else 1.0) + self.rng.uniform(0, JITTER_S)
        with self.engine.begin() as connection:
            connection.execute(_BLOCK, {"service": service, "seconds": seconds})
        self._holds[service] = (self.clock(), self.clock() + seconds)
        log.info("%s answered 429: all workers hold back %.1f s", service, seconds)

    def throttled_counts(self) -> dict[str, int]:
        """429s seen per service, by every worker since the table was created."""
        with self.engine.connect() as connection:
            rows = connection.execute(text("SELECT service, throttled FROM bridge_rate_limits")).all()
        return {service: int(count) for service, count in rows}


class _ReportingRetry:
    """Mixed into a session's urllib3 Retry class: each 429 its retries see is reported to
    the limiter (shared hold, count), and each resend first takes a token."""

    limiter: RateLimiter
    service: str

    def new(self, **kw):
        retry = super().new(**kw)  # type: ignore[misc]
        retry.limiter, retry.service = self.limiter, self.service
        return retry

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
        if response is not None and response.status == 429:
            self.limiter.throttled(self.service, retry_after_seconds(response))
            response.bridge_throttle_reported = True  # not counted again when handed back
        return super().increment(method, url, response, error, _pool, _stacktrace)  # type: ignore[misc]

    def sleep(self, response=None) -> None:
        super().sleep(response)  # type: ignore[misc]
        self.limiter.take(self.service)


@functools.cache
def _reporting(retry_class: type) -> type:
    return type(f"Reporting{retry_class.__name__}", (_ReportingRetry, retry_class), {})


def _report_retries(adapter, limiter: RateLimiter, service: str) -> None:
    """Swap ``adapter``'s urllib3 Retry for a reporting copy of it (once)."""
    retry = getattr(adapter, "max_retries", None)
    if isinstance(adapter, HTTPAdapter) and isinstance(retry, Retry) and not isinstance(retry, _ReportingRetry):
        reporting = retry.new()
        reporting.__class__ = _reporting(type(retry))
        reporting.limiter, reporting.service = limiter, service
        adapter.max_retries = reporting


class _LimitedAdapter(BaseAdapter):
    """Wraps a session's adapter: a token before each request, a 429 shared after it."""

    def __init__(self, inner: BaseAdapter, limiter: RateLimiter, service: str) -> None:
        super().__init__()
        self.inner, self.limiter, self.service = inner, limiter, service
        _report_retries(inner, limiter, service)

    def send(self, request, **kwargs):
        self.limiter.take(self.service)
        response = self.inner.send(request, **kwargs)
        if response.status_code == 429 and not getattr(response.raw, "bridge_throttle_reported", False):
            self.limiter.throttled(self.service, retry_after_seconds(response))
        return response

    def close(self) -> None:
        self.inner.close()


def limit_session(session, limiter: RateLimiter, service: str) -> None:
    """Route every request of ``session`` (a requests Session), and every resend of its
    retries, through ``limiter``."""
    for prefix in ("https://", "http://"):
        current = session.get_adapter(prefix)
        if not isinstance(current, _LimitedAdapter):
            session.mount(prefix, _LimitedAdapter(current, limiter, service))
