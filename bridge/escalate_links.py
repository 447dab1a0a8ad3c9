"""Signed Escalate links (policy 000's button): made for every customer message below the
highest severity, checked by the pages `bridge serve` shows (:mod:`bridge.service.button`).

A link is ``<BRIDGE_SERVE_PUBLIC_URL>/escalate/<ticket>?t=<token>``, where the token is
signed with ``BRIDGE_SERVE_SECRET_KEY`` (itsdangerous), names the helpdesk and the ticket,
and expires after ``[serve] escalate_link_days``. Kept apart from the pages so that the
processes that only write messages (`bridge sync`, `bridge escalate`) sign links without
loading the web framework.
"""

from __future__ import annotations

import hashlib
import secrets
from urllib.parse import quote

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

__all__ = ["CSRF_MAX_AGE_S", "LinkRefused", "LinkSigner", "configure", "escalate_link", "link_digest"]

_LINK_SALT = "bridge.escalate-link"
_CSRF_SALT = "bridge.escalate-csrf"
#: How long the confirmation page's form stays valid.
CSRF_MAX_AGE_S = 3600


class LinkSigner:
    """Signs and checks Escalate links and their confirmation forms' CSRF tokens."""

    def __init__(self, secret_key: str, *, max_age_days: int = 30) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key)
        self.max_age_s = max_age_days * 86400

    def link_token(self, kind: str, ticket_id: str) -> str:
        return self._serializer.dumps({"k": kind, "t": str(ticket_id)}, salt=_LINK_SALT)

    def check_link(self, token: str, kind: str, ticket_id: str) -> str:
        """Raise :class:`LinkRefused` unless ``token`` is a live link for this very ticket.

        Returns the link's press id: the fingerprint of what was signed (the payload and
        its timestamp), not of ``token`` as sent. The signature's base64 ignores the spare
        bits of its last character and any character outside its alphabet, so one link has
        unboundedly many spellings that all verify; keyed by the spelling, each would be a
        press (an inbox row and a worker pass) of its own.
        """
        try:
            data = self._serializer.loads(token, salt=_LINK_SALT, max_age=self.max_age_s)
        except SignatureExpired:
            raise LinkRefused(410, "This Escalate link has expired. Please reply to the ticket instead.") from None
        except BadSignature:
            raise LinkRefused(403, "This Escalate link is not valid.") from None
        if not isinstance(data, dict) or data.get("k") != kind or data.get("t") != str(ticket_id):
            raise LinkRefused(403, "This Escalate link is not valid for this ticket.")
        # What itsdangerous verified is everything before the last separator, byte for byte.
        return link_digest(token.rsplit(".", 1)[0])

    def csrf_token(self, link: str, nonce: str) -> str:
        return self._serializer.dumps({"l": link_digest(link), "n": nonce}, salt=_CSRF_SALT)

    def check_csrf(self, token: str | None, link: str, nonce: str | None) -> None:
        if not token or not nonce:
            raise LinkRefused(400, "The confirmation is missing its security token. Please open the link again.")
        try:
            data = self._serializer.loads(token, salt=_CSRF_SALT, max_age=CSRF_MAX_AGE_S)
        except BadSignature:  # SignatureExpired is a BadSignature
            raise LinkRefused(400, "The confirmation has expired or is not valid. Please open the link again.") from None
        if not isinstance(data, dict) or data.get("l") != link_digest(link) or not secrets.compare_digest(
                str(data.get("n")), nonce):
            raise LinkRefused(400, "The confirmation does not belong to this link. Please open the link again.")


class LinkRefused(Exception):
    """A link or confirmation that changes nothing; ``status`` and a sentence for the customer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def link_digest(text: str) -> str:
    """A link's fingerprint (its CSRF tokens and its press in the inbox name it by this)."""
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
