"""Delivering the emulators' outgoing webhooks: queued, retried, sent from a background thread.

Every emulator that sends webhooks (JIRA, Zendesk, Sentry, Freshdesk) hands its deliveries to
one :class:`Dispatcher`, which sends them the way the vendors do and lets tests make delivery
as unreliable as the real thing. What differs per vendor — the headers and the signature — is
each vendor's :class:`Delivery` subclass (:meth:`Delivery.headers`); the payload shapes are
each vendor's hub's.

* **Identity** — a delivery's ``identifier`` is one value per delivery, the same on every
  retry and every duplicate, so a receiver can deduplicate (each vendor names it in its own
  header).
* **Retries** — on 408, 409, 425, 429 and 5xx answers, time-outs and refused connections, up
  to ``max_retries`` times with exponential back-off (``retry_backoff_s`` doubled per try).
* **Knobs** (:class:`DeliveryKnobs`, under ``/__sandbox__/webhooks``): ``duplicate`` sends
  every delivery N extra times; ``delay_s`` holds each one back; ``reorder_window`` holds that
  many deliveries (or whatever arrived within ``reorder_hold_s``) and releases them shuffled;
  ``drop_fraction`` loses that share outright; ``seed`` makes the dice repeatable.

Deliveries never block the API call that caused them: :meth:`Dispatcher.submit` only queues,
and one daemon thread sends in order of due time. :meth:`Dispatcher.wait_idle` lets a test
wait (with a deadline) until nothing is queued, held or in flight;
:func:`add_delivery_controls` puts the knobs and the report under ``/__sandbox__/webhooks``
of an emulator's Flask app or blueprint.
"""

from __future__ import annotations

import heapq
import itertools
import json
import random
import threading
import time
from dataclasses import dataclass, field, fields, replace
from typing import Any, Callable

import requests
from flask import Blueprint, Flask, Response, jsonify, request

from bridge.sandbox.server import ADMIN_PREFIX

#: Answers after which the vendors try again (everything else, 2xx included, is final).
RETRY_STATUSES = frozenset({408, 409, 425, 429})
#: Attempts kept for tests to read (oldest dropped first).
ATTEMPT_LOG_LIMIT = 10_000


@dataclass(frozen=True)
class Delivery:
    """One event for one registration: what is POSTed, to where, under which identifier.

    Each vendor subclasses it for :meth:`headers` (its names, its signature); ``secret`` is
    whatever that vendor signs with and never leaves the process otherwise.
    """

    identifier: str
    webhook_id: int
    event: str
    url: str
    body: bytes
    secret: str | None = None
    attempt: int = 0  # 0 = first try; N = N-th retry
    copy: int = 0  # 0 = the delivery itself; N = the N-th duplicate (``duplicate`` knob)

    def headers(self) -> dict[str, str]:
        """The request headers of this attempt (called as it leaves, so each retry anew)."""
        raise NotImplementedError(f"{type(self).__name__} must say which headers its vendor sends")


@dataclass
class DeliveryKnobs:
    """How unreliable delivery is; every field can be set through ``PATCH /__sandbox__/webhooks``."""

    duplicate: int = 0
    delay_s: float = 0.0
    reorder_window: int = 0
    reorder_hold_s: float = 0.5
    drop_fraction: float = 0.0
    seed: int | None = None
    max_retries: int = 5
    retry_backoff_s: float = 0.1
    timeout_s: float = 5.0

    def updated(self, values: dict[str, Any]) -> "DeliveryKnobs":
        """A copy with ``values`` applied; raises ValueError naming the knob that is wrong."""
        known = {f.name: f for f in fields(self)}
        for name, value in values.items():
            if name not in known:
                raise ValueError(f"unknown webhook knob '{name}' (known: {', '.join(sorted(known))})")
            if name == "seed":
                if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                    raise ValueError("seed must be an integer or null")
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{name} must be a number >= 0")
            if name in ("duplicate", "reorder_window", "max_retries") and not float(value).is_integer():
                raise ValueError(f"{name} must be a whole number")
        if not 0 <= float(values.get("drop_fraction", self.drop_fraction)) <= 1:
            raise ValueError("drop_fraction must be between 0 and 1")
        cast = {name: (int(v) if name in ("duplicate", "reorder_window", "max_retries") and v is not None else v)
                for name, v in values.items()}
        return replace(self, **cast)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class _Stats:
    submitted: int = 0
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    dropped: int = 0
    attempts: list[dict] = field(default_factory=list)


class Dispatcher:
    """A queue of deliveries and the one thread that sends them (named ``thread_name``)."""

    def __init__(self, thread_name: str = "sandbox-webhooks") -> None:
        self._thread_name = thread_name
        self.knobs = DeliveryKnobs()
        self._cond = threading.Condition()
        self._queue: list[tuple[float, int, Delivery]] = []  # heap by due time, then order
        self._held: list[Delivery] = []
        self._held_since = 0.0
        self._in_flight = 0
        self._order = itertools.count()
        self._generation = 0  # bumped by reset(): answers to older sends are ignored
        self._stats = _Stats()
        self._rng = random.Random()
        self._session = requests.Session()
        self._thread: threading.Thread | None = None
        self._closed = False

    # -- control ------------------------------------------------------------------------
    def set_knobs(self, values: dict[str, Any]) -> DeliveryKnobs:
        with self._cond:
            self.knobs = self.knobs.updated(values)
            if "seed" in values and values["seed"] is not None:
                self._rng.seed(values["seed"])
            self._cond.notify_all()
            return self.knobs

    def reset(self) -> None:
        """Forget queued deliveries, the log and the knobs (a fresh site)."""
        with self._cond:
            self._queue.clear()
            self._held.clear()
            self._generation += 1
            self._in_flight = 0
            self._stats = _Stats()
            self.knobs = DeliveryKnobs()
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- what tests read ----------------------------------------------------------------
    def pending(self) -> int:
        """Deliveries queued, held for reordering or being sent right now."""
        with self._cond:
            return len(self._queue) + len(self._held) + self._in_flight

    def wait_idle(self, timeout: float) -> bool:
        """Block until nothing is pending or ``timeout`` seconds passed; answers whether idle."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._queue) + len(self._held) + self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def report(self) -> dict[str, Any]:
        with self._cond:
            stats = self._stats
            return {"knobs": self.knobs.as_dict(), "pending": len(self._queue) + len(self._held) + self._in_flight,
                    "submitted": stats.submitted, "sent": stats.sent, "delivered": stats.delivered,
                    "failed": stats.failed, "dropped": stats.dropped, "attempts": list(stats.attempts)}

    # -- producing ----------------------------------------------------------------------
    def submit(self, delivery: Delivery) -> None:
        """Queue ``delivery`` (and its duplicates) under the current knobs; never blocks on I/O."""
        with self._cond:
            self._stats.submitted += 1
            knobs = self.knobs
            if knobs.drop_fraction and self._rng.random() < knobs.drop_fraction:
                self._stats.dropped += 1
                self._log(delivery, outcome="dropped")
                return
            copies = [delivery] + [replace(delivery, copy=n) for n in range(1, knobs.duplicate + 1)]
            if knobs.reorder_window > 1:
                if not self._held:
                    self._held_since = time.monotonic()
                self._held.extend(copies)
                if len(self._held) >= knobs.reorder_window:
                    self._release_held()
            else:
                for item in copies:
                    self._push(item, time.monotonic() + knobs.delay_s)
            self._ensure_thread()
            self._cond.notify_all()

    def _release_held(self) -> None:
        held, self._held = self._held, []
        self._rng.shuffle(held)
        now = time.monotonic()
        for item in held:
            self._push(item, now + self.knobs.delay_s)

    def _push(self, delivery: Delivery, due: float) -> None:
        heapq.heappush(self._queue, (due, next(self._order), delivery))

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name=self._thread_name, daemon=True)
            self._thread.start()

    # -- the sending thread -------------------------------------------------------------
    def _next(self) -> tuple[Delivery, int] | None:
        """Wait for the next due delivery; None once closed."""
        with self._cond:
            while not self._closed:
                now = time.monotonic()
                if self._held and now - self._held_since >= self.knobs.reorder_hold_s:
                    self._release_held()
                waits = []
                if self._queue:
                    due, _, delivery = self._queue[0]
                    if due <= now:
                        heapq.heappop(self._queue)
                        self._in_flight += 1
                        return delivery, self._generation
                    waits.append(due - now)
                if self._held:
                    waits.append(self._held_since + self.knobs.reorder_hold_s - now)
                self._cond.wait(max(0.001, min(waits)) if waits else None)
            return None

    def _run(self) -> None:
        while True:
            taken = self._next()
            if taken is None:
                return
            delivery, generation = taken
            status, error = self._send(delivery)
            with self._cond:
                if generation != self._generation:
                    continue  # reset() while this was on the wire: its answer is old news
                self._in_flight -= 1
                self._stats.sent += 1
                retryable = error is not None or status in RETRY_STATUSES or (status or 0) >= 500
                if not retryable:
                    self._stats.delivered += 1
                    self._log(delivery, outcome="delivered", status=status)
                elif delivery.attempt < self.knobs.max_retries:
                    self._log(delivery, outcome="retry", status=status, error=error)
                    backoff = self.knobs.retry_backoff_s * (2 ** delivery.attempt)
                    self._push(replace(delivery, attempt=delivery.attempt + 1), time.monotonic() + backoff)
                else:
                    self._stats.failed += 1
                    self._log(delivery, outcome="failed", status=status, error=error)
                self._cond.notify_all()

    def _send(self, delivery: Delivery) -> tuple[int | None, str | None]:
        try:
            response = self._session.post(delivery.url, data=delivery.body, headers=delivery.headers(),
                                          timeout=self.knobs.timeout_s, allow_redirects=False)
        except requests.Timeout:
            return None, "timeout"
        except requests.RequestException as exc:
            return None, type(exc).__name__
        response.close()
        return response.status_code, None

    def _log(self, delivery: Delivery, *, outcome: str, status: int | None = None, error: str | None = None) -> None:
        # The body and secret stay out of the log: tests receive bodies on their own server.
        self._stats.attempts.append({
            "identifier": delivery.identifier, "webhook_id": delivery.webhook_id, "event": delivery.event,
            "url": delivery.url, "attempt": delivery.attempt, "copy": delivery.copy, "outcome": outcome,
            "status": status, "error": error, "at": time.time()})
        if len(self._stats.attempts) > ATTEMPT_LOG_LIMIT:
            del self._stats.attempts[: len(self._stats.attempts) - ATTEMPT_LOG_LIMIT]


def add_delivery_controls(routes: Flask | Blueprint, dispatcher: Dispatcher,
                          reset: Callable[[], None] | None = None) -> None:
    """Add ``/__sandbox__/webhooks`` to ``routes``: the test controls of ``dispatcher``.

    ``GET`` answers the knobs, counters and every attempt (``?wait=S`` first waits up to S
    seconds until nothing is queued, held or in flight, so tests poll without sleeping);
    ``PATCH`` sets knobs from a JSON object (400 naming the wrong one); ``DELETE`` forgets the
    queue and the log through ``reset`` (the dispatcher's own reset when not given: a vendor
    whose defaults differ from the dispatcher's passes its own).
    """

    @routes.get(f"{ADMIN_PREFIX}/webhooks")
    def delivery_report():
        wait = request.args.get("wait")
        if wait:
            try:
                dispatcher.wait_idle(min(60.0, max(0.0, float(wait))))
            except ValueError:
                return jsonify({"error": "wait must be a number of seconds"}), 400
        return jsonify(dispatcher.report())

    @routes.patch(f"{ADMIN_PREFIX}/webhooks")
    def set_delivery_knobs():
        try:
            values = json.loads(request.get_data() or b"{}")
            if not isinstance(values, dict):
                raise ValueError("the body must be a JSON object of knobs")
            knobs = dispatcher.set_knobs(values)
        except ValueError as exc:
            return jsonify({"error": f"bad webhook knob: {exc}"}), 400
        return jsonify(knobs.as_dict())

    @routes.delete(f"{ADMIN_PREFIX}/webhooks")
    def reset_deliveries():
        (reset or dispatcher.reset)()
        return Response(status=204)
