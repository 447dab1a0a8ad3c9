"""``store.users``: the board's accounts, signed-in sessions and sign-in throttling.

Passwords arrive here already hashed (argon2, by :mod:`bridge.board.accounts`); session
tokens arrive as their SHA-256, so nothing in these tables lets a reader sign in.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy.exc
from sqlalchemy import delete, update
from sqlmodel import col, select

from bridge.store.tables import BoardSession, BoardUser, SignInFailure, utcnow
from bridge.store.transactions import NO_SYNC as _NO_SYNC, Repository

__all__ = ["ROLES", "UserExists", "UserRepository"]

#: Roles in increasing power: viewers read; managers escalate and retry; admins manage users.
ROLES: tuple[str, ...] = ("viewer", "manager", "admin")


class UserExists(ValueError):
    """An account with this name (or identity-provider subject) already exists."""


class UserRepository(Repository):
    """Board accounts, sessions and sign-in failures; each method is one short transaction."""

    # -- accounts -------------------------------------------------------------------------

    def add(self, name: str, role: str, *, password_hash: str | None = None,
            oidc_subject: str | None = None) -> BoardUser:
        """Create an account; :class:`UserExists` if the name or subject is taken."""
        if role not in ROLES:
            raise ValueError(f"role {role!r} is not one of {', '.join(ROLES)}")
        user = BoardUser(name=name, role=role, password_hash=password_hash, oidc_subject=oidc_subject,
                         created_at=utcnow())
        try:
            with self.session() as s:
                s.add(user)
        except sqlalchemy.exc.IntegrityError:
            raise UserExists(f"a board account named {name!r} already exists") from None
        return user

    def remove(self, name: str) -> bool:
        """Delete an account and, with it, every session it has; False if there was none."""
        with self.session() as s:
            user = s.exec(select(BoardUser).where(BoardUser.name == name)).first()
            if user is None:
                return False
            s.exec(delete(BoardSession).where(col(BoardSession.user_id) == user.id).execution_options(**_NO_SYNC))
            s.delete(user)
        return True

    def by_name(self, name: str) -> BoardUser | None:
        """The account with this name."""
        with self.session() as s:
            return s.exec(select(BoardUser).where(BoardUser.name == name)).first()

    def by_oidc_subject(self, subject: str) -> BoardUser | None:
        """The account linked to this identity-provider subject (``<issuer> <sub>``)."""
        with self.session() as s:
            return s.exec(select(BoardUser).where(BoardUser.oidc_subject == subject)).first()

    def link_oidc_subject(self, name: str, subject: str) -> None:
        """Remember which identity-provider account signs in as ``name``."""
        with self.session() as s:
            s.exec(update(BoardUser).where(col(BoardUser.name) == name)
                   .values(oidc_subject=subject).execution_options(**_NO_SYNC))

    def all(self) -> list[BoardUser]:
        """Every account, by name."""
        with self.session() as s:
            return list(s.exec(select(BoardUser).order_by(col(BoardUser.name))).all())

    # -- sessions -------------------------------------------------------------------------

    def open_session(self, user_id: int, *, token_hash: str, csrf_token: str, ttl: timedelta) -> BoardSession:
        """Record a signed-in browser (the cookie's token is known only by its hash)."""
        now = utcnow()
        row = BoardSession(token_hash=token_hash, user_id=user_id, csrf_token=csrf_token,
                           created_at=now, expires_at=now + ttl)
        with self.session() as s:
            s.add(row)
        return row

    def session_user(self, token_hash: str, *, now: datetime | None = None) -> tuple[BoardSession, BoardUser] | None:
        """The live session with this token hash and its account; None when unknown or expired."""
        now = now or utcnow()
        with self.session() as s:
            found = s.exec(
                select(BoardSession, BoardUser)
                .join(BoardUser, col(BoardUser.id) == col(BoardSession.user_id))
                .where(BoardSession.token_hash == token_hash, col(BoardSession.expires_at) > now)
            ).first()
            return (found[0], found[1]) if found else None

    def close_session(self, token_hash: str) -> bool:
        """Sign a browser out: the cookie stops working wherever it was copied to."""
        with self.session() as s:
            result = s.exec(delete(BoardSession).where(col(BoardSession.token_hash) == token_hash)
                            .execution_options(**_NO_SYNC))
            return result.rowcount == 1

    def purge_expired(self, *, now: datetime | None = None) -> int:
        """Delete expired sessions; how many went."""
        with self.session() as s:
            result = s.exec(delete(BoardSession).where(col(BoardSession.expires_at) <= (now or utcnow()))
                            .execution_options(**_NO_SYNC))
            return result.rowcount

    # -- sign-in throttling ----------------------------------------------------------------

    def failures(self, name: str) -> SignInFailure | None:
        """Wrong passwords in a row for this account name, and when the last one was."""
        with self.session() as s:
            return s.get(SignInFailure, name)

    def record_failure(self, name: str, *, now: datetime | None = None) -> int:
        """Count one more wrong password in a row; the new count."""
        now = now or utcnow()
        for _ in range(2):  # a concurrent first failure may insert the row before us: count again
            try:
                with self.session() as s:
                    row = s.get(SignInFailure, name, with_for_update=True)
                    if row is None:
                        row = SignInFailure(name=name, failures=0, last_failure_at=now)
                    row.failures += 1
                    row.last_failure_at = now
                    s.add(row)
                    return row.failures
            except sqlalchemy.exc.IntegrityError:
                continue
        raise RuntimeError(f"could not count a sign-in failure for {name!r}")

    def clear_failures(self, name: str) -> None:
        """A successful sign-in ends the run of wrong passwords."""
        with self.session() as s:
            s.exec(delete(SignInFailure).where(col(SignInFailure.name) == name).execution_options(**_NO_SYNC))
