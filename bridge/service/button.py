"""The customer's Escalate button as a signed link (policy 000), served by `bridge serve`.

Every customer message the bridge sends on a ticket below the highest severity ends with
:func:`bridge.escalate_links.escalate_link`: a signed link to ``/escalate/<ticket>`` that
names the helpdesk and the ticket and expires. Opening it changes nothing: a
confirmation page quotes the policy's warning; only its form's POST acts, and only with a
CSRF token bound to the link and to a cookie set by that page (double submit), so a page
elsewhere cannot press the button for the customer. The press goes into the inbox keyed by
the link (what was signed, however the link is spelled), so pressing twice, or replaying
the POST, is one press; the escalation itself is idempotent too (one page, one priority
change, one acknowledgement). The cookie's nonce is kept while it lives, so the same link
open in two tabs confirms from either.

Before a press is accepted, the escalation it asks for is planned (a dry run, as the board
previews one; it reads, writes nothing): a press the support policy refuses (a solved
ticket, a requester the policy does not accept) is refused on the page (409, audited
without the customer's name) instead of thanked for and then failed in the inbox, and a
press on an escalation already at the highest severity (its page sent) is told so instead
of promised a page that never comes. A service that cannot be asked does not lose the
press: it is accepted and the worker plans it again.

The pages are rate limited per client address, per ticket and, for the presses that plan,
per process (:mod:`bridge.service.button_limits`): over a limit the customer gets a 429
page saying when to try again, and nothing is read or written.
"""

from __future__ import annotations

import logging
import math
import re
import secrets
import time
from urllib.parse import quote

from flask import Blueprint, make_response, render_template_string, request
from flask_limiter import RateLimitExceeded

from bridge.actions import PageOnCall
from bridge.errors import BridgeError, NotAllowed, UnknownTicket, UsageError
from bridge.escalate_links import CSRF_MAX_AGE_S, LinkRefused, LinkSigner
from bridge.service.button_limits import BLUEPRINT

log = logging.getLogger(__name__)

__all__ = ["blueprint"]

_CSRF_COOKIE = "bridge_escalate_csrf"
#: A nonce this module made (``secrets.token_urlsafe(24)``); any other cookie value is replaced.
_NONCE = re.compile(r"[A-Za-z0-9_-]{32}")
#: The audit's name for a press (the actor is the worker's, so the trail reads as one).
AUDIT_ACTION = "escalate-button"
#: How long a refused link's answer is given again without asking the services, and how
#: many such answers one process keeps.
REFUSAL_MEMORY_S = 300
REFUSALS_KEPT = 1000

# Policy 000's own words, with the profile's highest severity named.
WARNING = ("Please be judicious in your use of the button, noting that it will move the ticket to "
           "{highest} Severity Status. If the urgency / impact of the issue has increased, but not to the "
           "level of an emergency, please add a comment to the ticket providing the new information so "
           "that Support can address it accordingly.")


# -- the pages ------------------------------------------------------------------------------

_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{{ title }}</title></head>
<body><main><h1>{{ title }}</h1>
{% if message %}<p>{{ message }}</p>{% endif %}
{% if form %}<blockquote><p>{{ warning }}</p></blockquote>
<form method="post" action="{{ action }}">
<input type="hidden" name="t" value="{{ link }}"><input type="hidden" name="csrf_token" value="{{ csrf }}">
<button type="submit">Escalate ticket {{ ticket }} to {{ highest }}</button></form>{% endif %}
</main></body></html>"""


def _page(status: int, title: str, message: str = "", **form) -> tuple:
    response = make_response(render_template_string(_PAGE, title=title, message=message, form=bool(form), **form),
                             status)
    response.headers["Content-Security-Policy"] = "default-src 'none'; form-action 'self'; frame-ancestors 'none'"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def blueprint(services, signer: LinkSigner, accept, limits) -> Blueprint:
    """The /escalate pages. ``accept(ticket_id, press_id)`` records a press in the inbox and
    returns False when this press was recorded before; ``limits`` is the app's
    :class:`bridge.service.button_limits.ButtonLimits`."""
    bp = Blueprint(BLUEPRINT, __name__)
    kind = services.config.helpdesk.kind

    def highest() -> str:
        return services.profile.highest.replace("-", " ").title()

    #: Refusals lately given, by press id: a link the policy refuses, confirmed again and
    #: again, is answered from here instead of reading the ticket and the Bug (and writing
    #: an audit row) every time. Per process, bounded, for REFUSAL_MEMORY_S.
    refusals: dict[str, tuple[float, LinkRefused]] = {}

    def refused_lately(press_id: str) -> LinkRefused | None:
        known = refusals.get(press_id)
        return known[1] if known is not None and known[0] > time.monotonic() else None

    def remember_refusal(press_id: str, refused: LinkRefused) -> None:
        now = time.monotonic()
        if len(refusals) >= REFUSALS_KEPT:
            for key in [k for k, (until, _) in refusals.items() if until <= now] or list(refusals)[:REFUSALS_KEPT // 2]:
                refusals.pop(key, None)
        refusals[press_id] = (now + REFUSAL_MEMORY_S, refused)

    def planned(ticket: str) -> list | None:
        """The actions this press would plan (a dry run), or None when a service could not
        be asked; raises :class:`LinkRefused` for a press the worker would fail for good."""
        from bridge.escalation import EscalationRequest
        from bridge.service.worker import ESCALATE_ACTOR

        try:
            result = services.escalator().escalate(
                EscalationRequest(ticket=ticket, actor=ESCALATE_ACTOR, emergency=True, dry_run=True))
        except UsageError as exc:
            # The dry run audits nothing; the refusal is the customer's action, so it is
            # recorded here, by kind of refusal only: the message may quote the requester.
            why = ("refused by the support policy" if isinstance(exc, NotAllowed) else "no such ticket"
                   if isinstance(exc, UnknownTicket) else f"cannot be escalated ({type(exc).__name__})")
            services.store.audit.record(ESCALATE_ACTOR, AUDIT_ACTION, f"{kind}:{ticket}", "denied",
                                        f"Escalate link press {why}")
            log.info("Escalate link press for %s ticket %s refused: %s", kind, ticket, why)
            if isinstance(exc, UnknownTicket):
                raise LinkRefused(404, "This ticket no longer exists.") from None
            raise LinkRefused(409, "This ticket cannot be escalated with this link (it may be solved or closed). "
                                   "Please reply to the ticket or contact Support.") from None
        except BridgeError as exc:  # a service away: the worker plans the press again
            log.warning("Escalate link press for %s ticket %s accepted unplanned: %s", kind, ticket,
                        type(exc).__name__)
            return None
        return [outcome.action for outcome in result.outcomes]

    def planned_within_ceiling(ticket: str) -> list | None:
        # The process-wide ceiling is taken here, where a press is about to read the
        # services, so a replayed or already accepted press never uses it up.
        with limits.total:
            return planned(ticket)

    @bp.errorhandler(RateLimitExceeded)
    def too_many(_exc):
        wait = limits.retry_after()
        when = f"{wait} seconds" if wait < 120 else f"{math.ceil(wait / 60)} minutes"
        response = _page(429, "Escalate",
                         f"Too many Escalate requests have come in just now. Please try again in {when}. "
                         "If the matter cannot wait, please reply to the ticket or contact Support.")
        response.headers["Retry-After"] = str(wait)
        return response

    @bp.get("/escalate/<ticket>")
    @limits.per_client
    def confirm(ticket: str):
        link = request.args.get("t", "")
        try:
            signer.check_link(link, kind, ticket)
        except LinkRefused as refused:
            return _page(refused.status, "Escalate", refused.message)
        # The nonce of a page opened before (another tab of this link, or another link) is
        # kept: a new one would orphan that page's form. Only a value of our own shape.
        nonce = request.cookies.get(_CSRF_COOKIE, "")
        if not _NONCE.fullmatch(nonce):
            nonce = secrets.token_urlsafe(24)
        response = _page(200, "Escalate this ticket?", "", warning=WARNING.format(highest=highest()),
                         action=f"/escalate/{quote(ticket, safe='')}", link=link, ticket=ticket,
                         csrf=signer.csrf_token(link, nonce), highest=highest())
        response.set_cookie(_CSRF_COOKIE, nonce, max_age=CSRF_MAX_AGE_S, httponly=True, samesite="Strict",
                            secure=request.is_secure, path="/escalate/")
        return response

    @bp.post("/escalate/<ticket>")
    @limits.per_client
    @limits.per_ticket
    def press(ticket: str):
        link = request.form.get("t", "")
        try:
            press_id = signer.check_link(link, kind, ticket)
            signer.check_csrf(request.form.get("csrf_token"), link, request.cookies.get(_CSRF_COOKIE))
            # A press already in the inbox is not planned again: a repeated confirmation costs
            # one store read, not a read of the ticket and the Bug per click.
            lately = refused_lately(press_id)
            if lately is not None:
                raise lately
            pressed = services.store.inbox.item("button", "link:" + press_id) is not None
            try:
                actions = None if pressed else planned_within_ceiling(ticket)
            except LinkRefused as refused:
                remember_refusal(press_id, refused)
                raise
        except LinkRefused as refused:
            return _page(refused.status, "Escalate", refused.message)
        if actions == []:
            # Already at the highest severity with its page sent: nothing to accept. 202 as
            # for any press received (what test_serve_button pins); the page says what it did.
            return _page(202, "Already escalated",
                         f"Ticket {ticket} is already at {highest()} severity and Support has been alerted. "
                         "If something has changed, please add a comment to the ticket.")
        # One press per link, however often it is confirmed and however it is spelled.
        accept(ticket, "link:" + press_id)
        log.info("Escalate button pressed for %s ticket %s", kind, ticket)
        # Promised only when planned: no pager, or the page already sent, means none comes.
        paged = " and the on-call engineer will be paged" if actions and any(
            isinstance(a, PageOnCall) for a in actions) else ""
        return _page(202, "Escalation requested",
                     f"Thank you. Ticket {ticket} is being moved to {highest()} severity{paged}. "
                     "You will receive a confirmation on the ticket.")

    return bp
