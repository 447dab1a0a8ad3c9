"""Board accounts: password hashing, sign-in with throttling, sessions and roles.

No web framework here: :mod:`bridge.board.auth` turns these into pages and cookies, and
``bridge users add`` uses the same hashing. Rules:

- Passwords are hashed with argon2id (argon2-cffi's defaults, which follow RFC 9106).
- :data:`THROTTLE_AFTER` wrong passwords in a row for one account name throttle it: every
  sign-in as that name is refused, even with the right password, until
  :data:`THROTTLE_FOR` has passed since the last wrong one. Unknown names are counted the
  same way, so the answer never tells whether an account exists.
- A session is a random token in a cookie; the store keeps only its SHA-256, with the CSRF
  token every form of that session carries. Signing out deletes the row.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from bridge.board.times import when
from bridge.store.tables import BoardSession, BoardUser, utcnow
from bridge.store.users import ROLES

__all__ = [
    "ROLES",
    "SESSION_TTL",
    "THROTTLE_AFTER",
    "THROTTLE_FOR",
    "BadCredentials",
    "SignedIn",
    "Throttled",
    "authenticate",
    "hash_password",
    "may",
    "open_session",
    "token_hash",
]

THROTTLE_AFTER = 10
THROTTLE_FOR = timedelta(minutes=15)
SESSION_TTL = timedelta(hours=12)
#: The shortest password ``bridge users add`` accepts.
MIN_PASSWORD = 12

_hasher = PasswordHasher()
# Verified against when the name is unknown, so an unknown name costs as long as a known one.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class BadCredentials(Exception):
    """Unknown name or wrong password (deliberately not saying which)."""


class Throttled(Exception):
    """Too many wrong passwords in a row for this name; try again after ``until``."""

    def __init__(self, until: datetime) -> None:
        super().__init__(f"too many wrong passwords: try again after {when(until)}")
        self.until = until


@dataclass(frozen=True)
class SignedIn:
    """A new session: ``token`` goes into the cookie and nowhere else."""

    token: str
    session: BoardSession
    user: BoardUser


def hash_password(password: str) -> str:
    """The argon2id hash stored for ``password``."""
    return _hasher.hash(password)


def token_hash(token: str) -> str:
    """What the store keeps of a session token."""
    return hashlib.sha256(token.encode()).hexdigest()


def may(role: str, needed: str) -> bool:
    """Whether ``role`` is at least ``needed`` (viewer < manager < admin)."""
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


def authenticate(users, name: str, password: str, *, now: datetime | None = None) -> BoardUser:
    """The account ``name`` if ``password`` is right; :class:`Throttled` or :class:`BadCredentials`."""
    now = now or utcnow()
    key = name.strip().lower()
    failures = users.failures(key)
    if failures is not None and failures.failures >= THROTTLE_AFTER:
        until = failures.last_failure_at + THROTTLE_FOR
        if now < until:
            raise Throttled(until)
        users.clear_failures(key)  # the throttle ran out: a fresh run of ten
    user = users.by_name(name.strip())
    try:
        _hasher.verify(user.password_hash if user and user.password_hash else _DUMMY_HASH, password)
        if user is None or user.password_hash is None:
            raise VerificationError("no such account")
    except (VerificationError, InvalidHashError):
        if users.record_failure(key, now=now) >= THROTTLE_AFTER:
            raise Throttled(now + THROTTLE_FOR) from None
        raise BadCredentials("unknown name or wrong password") from None
    users.clear_failures(key)
    return user


def open_session(users, user: BoardUser, *, ttl: timedelta = SESSION_TTL) -> SignedIn:
    """Sign ``user`` in: a new random session token and its CSRF token."""
    assert user.id is not None
    token = secrets.token_urlsafe(32)
    row = users.open_session(user.id, token_hash=token_hash(token), csrf_token=secrets.token_urlsafe(32), ttl=ttl)
    return SignedIn(token=token, session=row, user=user)
