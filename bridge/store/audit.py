"""``store.audit``: every external write and every refusal — who, what, on what, result."""

from __future__ import annotations

from typing import Literal

from sqlmodel import col, select

from bridge.store.tables import AuditEntry, utcnow
from bridge.store.transactions import Repository, short

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

    def entries(self, *, target: str | None = None, limit: int | None = 100) -> list[AuditEntry]:
        """The newest audit entries first, optionally only those about ``target``."""
        query = select(AuditEntry).order_by(col(AuditEntry.id).desc()).limit(limit)
        if target is not None:
            query = query.where(AuditEntry.target == target)
        with self.session() as s:
            return list(s.exec(query).all())
