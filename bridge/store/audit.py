"""``store.audit``: every external write and every refusal — who, what, on what, result."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from sqlmodel import Session, col, select

from bridge.store.tables import AuditEntry, utcnow
from bridge.store.transactions import Repository, insert_rows, short

__all__ = ["AUDIT_RESULTS", "AuditRepository", "AuditResult"]

AuditResult = Literal["ok", "failed", "denied", "skipped"]
AUDIT_RESULTS: frozenset[str] = frozenset({"ok", "failed", "denied", "skipped"})


class AuditRepository(Repository):
    """The audit trail: append-only."""

    def record(self, actor: str, action: str, target: str, result: AuditResult, detail: str = "") -> AuditEntry:
        """Record an external write or a refusal. ``detail`` is short and never a secret."""
        if result not in AUDIT_RESULTS:
            raise ValueError(f"audit result {result!r} is not one of {sorted(AUDIT_RESULTS)}")
        entry = AuditEntry(at=utcnow(), actor=actor, action=action, target=target, result=result, detail=short(detail))
        with self.session() as s:
            s.add(entry)
        return entry

    def record_many(self, entries: Iterable[tuple[str, str, str, AuditResult, str]], *,
                    s: Session | None = None) -> None:
        """:meth:`record` for many (actor, action, target, result, detail) in one insert
        (a sync round's writes, with the round's outbox results)."""
        now = utcnow()
        rows = []
        for actor, action, target, result, detail in entries:
            if result not in AUDIT_RESULTS:
                raise ValueError(f"audit result {result!r} is not one of {sorted(AUDIT_RESULTS)}")
            rows.append({"at": now, "actor": actor, "action": action, "target": target, "result": result,
                         "detail": short(detail)})
        if not rows:
            return
        with self.within(s) as session:
            insert_rows(session, AuditEntry.__table__, rows)  # type: ignore[attr-defined]

    def entries(self, *, target: str | None = None, limit: int | None = 100) -> list[AuditEntry]:
        """The newest audit entries first, optionally only those about ``target``."""
        query = select(AuditEntry).order_by(col(AuditEntry.id).desc()).limit(limit)
        if target is not None:
            query = query.where(AuditEntry.target == target)
        with self.session() as s:
            return list(s.exec(query).all())
