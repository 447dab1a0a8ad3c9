"""What a sync pass carries between fetching, executing and recording: the pass-wide cursor
names, the report, and one escalation's planned work."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from bridge.actions import Action, ActionSummary
from bridge.executor import Outcome
from bridge.models import Issue

#: The pass-wide positions (per-ticket and per-Bug positions are typed store columns).
CURSOR_SINCE = "sync:jira:since"
CURSOR_RELEASED = "sync:jira:released-versions"
CURSOR_RETRY = "sync:jira:retry"
CURSOR_HELPDESK = "sync:helpdesk:changes"


@dataclass
class SyncReport:
    """What one run did; ``exit_code`` is 1 when any item failed."""

    skipped: str | None = None
    #: Escalations left alone because another pass was working them (leases): the next
    #: run, or the caller ringing again, brings them up to date.
    busy: list[int] = field(default_factory=list)
    examined: int = 0
    #: What became of each action, the action summarised (:func:`reported`).
    outcomes: list[Outcome] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (target, reason)
    dry_run: bool = False

    @property
    def exit_code(self) -> int:
        return 1 if self.failures else 0

    def as_json(self) -> dict:
        return {
            "skipped": self.skipped, "busy": self.busy, "dry_run": self.dry_run, "examined": self.examined,
            "actions": [{"key": o.action.key, "target": o.action.target, "kind": o.action.kind,
                         "result": o.result, "detail": o.detail, "what": o.action.describe()}
                        for o in self.outcomes],
            "failures": [{"target": t, "reason": r} for t, r in self.failures],
        }


@dataclass
class _Item:
    """One escalation's planned work and what to record once all of it is applied."""

    escalation: Any
    issue: Issue | None  # None for the periodic items: nothing to record as seen
    actions: list[Action]
    #: Where sync stands in each linked ticket's conversation after this item:
    #: (helpdesk, ticket id) -> {"comment_id", "status", "version"} (links.record_seen).
    seen: dict[tuple[str, str], dict] = field(default_factory=dict)
    #: The newest comment on the Bug this item processed.
    comment_cursor: str | None = None
    #: Announcements a dead run wrote and never recorded, found on the tickets by fetch:
    #: (outbox key, helpdesk, ticket id, link columns), recorded before the item's writes.
    landed: list[tuple[str, str, str, dict]] = field(default_factory=list)
    #: Store writes that record what a periodic item observed, applied after its actions.
    records: list[Callable[[], None]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def reported(outcome: Outcome) -> Outcome:
    """``outcome`` as a report keeps it: the action summarised (:class:`ActionSummary`), so
    a pass's report grows by a line's worth per action, not by the action's context."""
    return Outcome(ActionSummary.of(outcome.action), outcome.result, outcome.detail)


def _id_order(value: str):
    return (0, int(value)) if str(value).isdigit() else (1, str(value))


def _after(comment_id: str, cursor: str) -> bool:
    return _id_order(comment_id) > _id_order(cursor)
