"""The customer's Escalate button as a signed link (policy 000), served by `bridge serve`.

Every customer message the bridge sends on a ticket below the highest severity ends with
:func:`escalate_link`: ``<BRIDGE_SERVE_PUBLIC_URL>/escalate/<ticket>?t=<token>``, where the
token is signed with ``BRIDGE_SERVE_SECRET_KEY`` (itsdangerous), names the helpdesk and the
ticket, and expires after ``[serve] escalate_link_days``. Opening it changes nothing: a
confirmation page quotes the policy's warning; only its form's POST acts, and only with a
CSRF token bound to the link and to a cookie set by that page (double submit), so a page
elsewhere cannot press the button for the customer. The press goes into the inbox keyed by
the link, so pressing twice, or replaying the POST, is one press; the escalation itself is
idempotent too (one page, one priority change, one acknowledgement).
"""

from __future__ import annotations

import hashlib
import secrets
from urllib.parse import quote

from flask import Blueprint, current_app, make_response, render_template_string, request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

__all__ = ["LinkSigner", "blueprint", "configure", "escalate_link"]

_LINK_SALT = "bridge.escalate-link"
_CSRF_SALT = "bridge.escalate-csrf"
_CSRF_COOKIE = "bridge_escalate_csrf"
#: How long the confirmation page's form stays valid.
CSRF_MAX_AGE_S = 3600

# Policy 000's own words, with the profile's highest severity named.
WARNING = ("Please be judicious in your use of the button, noting that it will move the ticket to "
           "{highest} Severity Status. If the urgency / impact of the issue has increased, but not to the "
           "level of an emergency, please add a comment to the ticket providing the new information so "
           "that Support can address it accordingly.")


class LinkSigner:
    """Signs and checks Escalate links and their confirmation forms' CSRF tokens."""

    def __init__(self, secret_key: str, *, max_age_days: int = 30) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key)
        self.max_age_s = max_age_days * 86400

    def link_token(self, kind: str, ticket_id: str) -> str:
        return self._serializer.dumps({"k": kind, "t": str(ticket_id)}, salt=_LINK_SALT)

    def check_link(self, token: str, kind: str, ticket_id: str) -> None:
        """Raise :class:`LinkRefused` unless ``token`` is a live link for this very ticket."""
        try:
            data = self._serializer.loads(token, salt=_LINK_SALT, max_age=self.max_age_s)
        except SignatureExpired:
            raise LinkRefused(410, "This Escalate link has expired. Please reply to the ticket instead.") from None
        except BadSignature:
            raise LinkRefused(403, "This Escalate link is not valid.") from None
        if not isinstance(data, dict) or data.get("k") != kind or data.get("t") != str(ticket_id):
            raise LinkRefused(403, "This Escalate link is not valid for this ticket.")

    def csrf_token(self, link: str, nonce: str) -> str:
        return self._serializer.dumps({"l": _digest(link), "n": nonce}, salt=_CSRF_SALT)

    def check_csrf(self, token: str | None, link: str, nonce: str | None) -> None:
        if not token or not nonce:
            raise LinkRefused(400, "The confirmation is missing its security token. Please open the link again.")
        try:
            data = self._serializer.loads(token, salt=_CSRF_SALT, max_age=CSRF_MAX_AGE_S)
        except BadSignature:  # SignatureExpired is a BadSignature
            raise LinkRefused(400, "The confirmation has expired or is not valid. Please open the link again.") from None
        if not isinstance(data, dict) or data.get("l") != _digest(link) or not secrets.compare_digest(
                str(data.get("n")), nonce):
            raise LinkRefused(400, "The confirmation does not belong to this link. Please open the link again.")


class LinkRefused(Exception):
    """A link or confirmation that changes nothing; ``status`` and a sentence for the customer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# -- the link in customer messages ----------------------------------------------------------

_configured = None


def configure(config) -> None:
    """Use ``config`` (a :class:`bridge.config.Config`) for :func:`escalate_link`."""
    global _configured
    _configured = config


def escalate_link(ticket_kind: str, ticket_id: str, *, config=None) -> str | None:
    """The signed Escalate link for a ticket, or None when `bridge serve` has no public URL
    or no secret key configured (messages then carry no link).

    The caller decides whether the ticket is below the highest severity (no link at the
    highest). ``config`` defaults to the one given to :func:`configure`, else the
    environment's (``load_config()``).
    """
    if config is None:
        config = _configured
    if config is None:
        from bridge.config import load_config

        config = load_config()
    serve = config.serve
    if serve.secret_key is None or serve.public_url is None:
        return None
    signer = LinkSigner(serve.secret_key.get_secret_value(), max_age_days=serve.escalate_link_days)
    token = signer.link_token(ticket_kind, str(ticket_id))
    return f"{serve.public_url}/escalate/{quote(str(ticket_id), safe='')}?t={token}"


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
        accept(ticket, "link:" + _digest(link))
        current_app.logger.info("Escalate button pressed for %s ticket %s", kind, ticket)
        return _page(202, "Escalation requested",
                     f"Thank you. Ticket {ticket} is being moved to {highest()} severity and an engineer "
                     "will be paged. You will receive a confirmation on the ticket.")

    return bp
