"""The customer's Escalate button as a signed link (policy 000), served by `bridge serve`.

Every customer message the bridge sends on a ticket below the highest severity ends with
:func:`bridge.escalate_links.escalate_link`: a signed link to ``/escalate/<ticket>`` that
names the helpdesk and the ticket and expires. Opening it changes nothing: a
confirmation page quotes the policy's warning; only its form's POST acts, and only with a
CSRF token bound to the link and to a cookie set by that page (double submit), so a page
elsewhere cannot press the button for the customer. The press goes into the inbox keyed by
the link, so pressing twice, or replaying the POST, is one press; the escalation itself is
idempotent too (one page, one priority change, one acknowledgement).
"""

from __future__ import annotations

import secrets
from urllib.parse import quote

from flask import Blueprint, current_app, make_response, render_template_string, request

from bridge.escalate_links import CSRF_MAX_AGE_S, LinkRefused, LinkSigner, link_digest

__all__ = ["blueprint"]

_CSRF_COOKIE = "bridge_escalate_csrf"

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


def blueprint(services, signer: LinkSigner, accept) -> Blueprint:
    """The /escalate pages. ``accept(ticket_id, press_id)`` records a press in the inbox and
    returns False when this press was recorded before."""
    bp = Blueprint("escalate", __name__)
    kind = services.config.helpdesk.kind

    def highest() -> str:
        return services.profile.highest.replace("-", " ").title()

    @bp.get("/escalate/<ticket>")
    def confirm(ticket: str):
        link = request.args.get("t", "")
        try:
            signer.check_link(link, kind, ticket)
        except LinkRefused as refused:
            return _page(refused.status, "Escalate", refused.message)
        nonce = secrets.token_urlsafe(24)
        response = _page(200, "Escalate this ticket?", "", warning=WARNING.format(highest=highest()),
                         action=f"/escalate/{quote(ticket, safe='')}", link=link, ticket=ticket,
                         csrf=signer.csrf_token(link, nonce), highest=highest())
        response.set_cookie(_CSRF_COOKIE, nonce, max_age=CSRF_MAX_AGE_S, httponly=True, samesite="Strict",
                            secure=request.is_secure, path="/escalate/")
        return response

    @bp.post("/escalate/<ticket>")
    def press(ticket: str):
        link = request.form.get("t", "")
        try:
            signer.check_link(link, kind, ticket)
            signer.check_csrf(request.form.get("csrf_token"), link, request.cookies.get(_CSRF_COOKIE))
        except LinkRefused as refused:
            return _page(refused.status, "Escalate", refused.message)
        # One press per link, however often it is confirmed.
        accept(ticket, "link:" + link_digest(link))
        current_app.logger.info("Escalate button pressed for %s ticket %s", kind, ticket)
        return _page(202, "Escalation requested",
                     f"Thank you. Ticket {ticket} is being moved to {highest()} severity and an engineer "
                     "will be paged. You will receive a confirmation on the ticket.")

    return bp
