"""Rate limits of the Escalate button's public pages (:mod:`bridge.service.button`).

The pages need no sign-in, by design, and the first confirmation of each link plans the
escalation: a dry run that reads the ticket from the helpdesk (two requests) and the Bug
from JIRA (one, once there is a Bug). Those reads come out of the same vendor rate limits
the sync lives on, and every accepted press is an inbox row the worker plans again. So three
limits, enforced by flask-limiter on the ``limits`` package, each keyed so that one client or
one link cannot use up what the others need:

- **per client address** (``[serve] escalate_limit_per_client``, default 30 a minute), on
  the page and the confirmation together: bounds what one address can make the process do
  at all, even with links that are refused. A press is two requests (page, confirmation), so
  30 is fifteen presses a minute: more than a person clicks, and room for an office of
  customers behind one NAT. Behind a reverse proxy the address is the one the proxy saw
  (``[serve] proxy_hops``, applied by :func:`bridge.service.app.create_app`); without that
  setting, every customer would share the proxy's address and so one budget. An IPv6
  client is its /64, the block one subscriber is given: per address, one home would have
  2^64 budgets.
- **per ticket** (``escalate_limit_per_ticket``, default 10 a minute), on confirmations that
  carry a valid link only, so nobody without one of the ticket's links can spend its budget
  (an invalid link is refused before any read, and counts against its client only). A
  ticket gets one link per message; ten is every click of a customer with several messages
  open, and a replaying client of one link is stopped at ten.
- **all tickets** (``escalate_limit_total``, default 20 a minute), the process's ceiling on
  presses it *plans*, taken only when a press is about to read the services: a confirmation
  already in the inbox (a replay, a second click) or refused lately reads nothing and is not
  counted, so replays of one link cannot use up the ceiling, and one ticket (10) can take at
  most half of it. Twenty dry runs are 40 helpdesk and 20 JIRA reads a minute: about a ninth
  of Zendesk's and a quarter of Freshdesk's request budget at `bridge worker`'s default rates
  (6 and 3 a second), leaving the sync the rest; the button is for emergencies, and even a
  wide outage brings a few presses a minute, each told when to try again.

Over a limit the answer is a 429 with ``Retry-After`` (the button's own page says when to
try again); nothing is read from a service and nothing is written. Each refusal is counted
in ``/metrics`` (``bridge_escalate_rate_limited_total`` by limit) and logged as a warning at
most once a minute per limit, so a flood does not become a flood of log lines.

Storage is in memory, per process: several `bridge serve` processes each enforce their own
limits (N processes behind a load balancer allow up to N times the numbers). Webhooks, the
board, ``/healthz``, ``/readyz`` and ``/metrics`` are never limited: only the button's
blueprint is.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time

from flask import Flask, g, request
from flask_limiter import Limiter, RequestLimit
from flask_limiter.util import get_remote_address
from limits import parse

from bridge.escalate_links import LinkRefused, LinkSigner

log = logging.getLogger(__name__)

__all__ = ["BLUEPRINT", "ButtonLimits", "client_of_request"]

#: The blueprint whose routes are limited; every other request passes the limiter untouched.
BLUEPRINT = "escalate"
#: The limits' scopes (their buckets' names) and the label each has in the metric.
_SCOPES = {"escalate-client": "client", "escalate-ticket": "ticket", "escalate-all": "all"}
#: How often a limit's refusals are logged (the metric counts every one).
_LOG_EVERY = parse("1 per minute")


class ButtonLimits:
    """The Escalate pages' limits for one app: decorators for the views (:attr:`per_client`,
    :attr:`per_ticket`), a context manager around planning (:attr:`total`), and the wait to
    tell a refused customer (:meth:`retry_after`). ``metrics`` is the app's
    :class:`bridge.service.metrics.Metrics`."""

    def __init__(self, serve, signer: LinkSigner, kind: str, metrics) -> None:
        self._signer = signer
        self._kind = kind
        self._metrics = metrics
        # A moving window: exact (no double burst where two fixed windows meet), a refused
        # request takes no slot, and it remembers at most the limit's count of hits per key.
        self.limiter = Limiter(client_of_request, strategy="moving-window", storage_uri="memory://",
                               key_prefix="bridge", on_breach=self._breached)
        self.per_client = self.limiter.shared_limit(serve.escalate_limit_per_client, scope="escalate-client",
                                                    key_func=client_of_request)
        self.per_ticket = self.limiter.shared_limit(serve.escalate_limit_per_ticket, scope="escalate-ticket",
                                                    key_func=self._signed_ticket,
                                                    exempt_when=lambda: not self._signed_ticket())
        #: Entered just before a press reads the services (``with limits.total: ...``).
        self.total = self.limiter.shared_limit(serve.escalate_limit_total, scope="escalate-all",
                                               key_func=lambda: "all")

    def init_app(self, app: Flask) -> None:
        """Limit ``app``'s Escalate pages, and nothing else of it."""
        self.limiter.init_app(app)
        self.limiter.request_filter(lambda: request.blueprint != BLUEPRINT)

    def retry_after(self) -> int:
        """Whole seconds until the limit this request broke lets one more through (at least 1)."""
        broken = self.limiter.current_limit
        if broken is None:
            return 60
        # The window's own reset time (``reset_at`` is that plus a second, rounded down).
        return max(1, math.ceil(broken.window.reset_time - time.time()))

    def _signed_ticket(self) -> str:
        """``kind:ticket`` when this confirmation carries a valid link of its ticket, else ``""``.
        Checked once per request (an HMAC); the view checks it again for its own answer."""
        if "bridge_escalate_ticket" not in g:
            ticket = (request.view_args or {}).get("ticket", "")
            try:
                self._signer.check_link(request.form.get("t", ""), self._kind, ticket)
                g.bridge_escalate_ticket = f"{self._kind}:{ticket}"
            except LinkRefused:
                g.bridge_escalate_ticket = ""
        return g.bridge_escalate_ticket

    def _breached(self, limit: RequestLimit) -> None:
        which = _SCOPES.get(limit.request_args[-1], "other")
        self._metrics.escalate_limited.labels(which).inc()
        # A flood must not become a flood of log lines: one per limit a minute (the library's
        # own counter again), the metric has every refusal.
        if not self.limiter.limiter.hit(_LOG_EVERY, "log", which):
            return
        if which == "client":
            whose = f"client {client_of_request()!r}"
        elif which == "ticket":  # a ticket of a valid link: ours, not the sender's text
            whose = f"{self._kind} ticket {(request.view_args or {}).get('ticket', '')}"
        else:
            whose = "all tickets together"
        log.warning("Escalate button: %s over its rate limit (%s); answering 429 (logged once a minute, "
                    "see bridge_escalate_rate_limited_total)", whose, limit.limit)


def client_of_request() -> str:
    """The client the per-client limit counts this request against: its IPv4 address, or the
    /64 of its IPv6 address (the connection's, or the one the trusted proxies reported)."""
    address = get_remote_address()
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:  # not an address (a proxy's odd header): still one budget per value
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # ::ffff:192.0.2.1, an IPv4 client on a dual-stack socket
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)
