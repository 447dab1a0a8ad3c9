"""What a sync pass carries between fetching, executing and recording: the pass-wide cursor
names, the report, and one escalation's planned work."""

from __future__ import annotations

import json
import tempfile
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any, Callable

from bridge.actions import Action, ActionSummary
from bridge.executor import Outcome
from bridge.models import Issue

#: The pass-wide positions (per-ticket and per-Bug positions are typed store columns).
CURSOR_SINCE = "sync:jira:since"
CURSOR_RELEASED = "sync:jira:released-versions"
#: The Bugs (issue ids) some pass failed on, for the next full pass (:func:`retry_list_after`).
CURSOR_RETRY = "sync:jira:retry"
CURSOR_HELPDESK = "sync:helpdesk:changes"


class OutcomeLog:
    """A report's outcomes in the order they happened, held in memory up to ``keep`` and
    spilled beyond it, as JSON lines, to an anonymous temporary file (private to the
    process, gone when it closes): a pass over 10,000 changes reports 10,000 lines, and
    its memory must not grow with them. Iterating reads them back as outcomes of
    :class:`ActionSummary` (what a report keeps of an action anyway). Batches applied on
    threads of their own append to one log: a lock keeps the spilled lines whole."""

    def __init__(self, outcomes: Iterable[Outcome] = (), *, keep: int = 500) -> None:
        self._lock = threading.RLock()
        self._kept: list[Outcome] = []
        self._spilled: IO[str] | None = None
        self._count = 0
        self._limit = keep
        self.extend(outcomes)

    def append(self, outcome: Outcome) -> None:
        """Add one outcome (its action summarised)."""
        outcome = reported(outcome)
        with self._lock:
            self._count += 1
            if len(self._kept) < self._limit:
                self._kept.append(outcome)
                return
            if self._spilled is None:
                self._spilled = tempfile.TemporaryFile("w+", encoding="utf-8")
            a = outcome.action
            self._spilled.write(json.dumps([a.key, a.target, a.kind, a.text, a.customer_facing,
                                            outcome.result, outcome.detail]) + "\n")

    def extend(self, outcomes: Iterable[Outcome]) -> None:
        outcomes = list(outcomes)
        with self._lock:  # one batch's outcomes together
            for outcome in outcomes:
                self.append(outcome)

    def __iter__(self) -> Iterator[Outcome]:
        with self._lock:
            kept, spilled = list(self._kept), self._spilled
            if spilled is None:
                yield from kept
                return
            yield from kept
            end = spilled.tell()
            spilled.seek(0)
            try:
                while spilled.tell() < end:
                    key, target, kind, text, facing, result, detail = json.loads(spilled.readline())
                    yield Outcome(ActionSummary(key=key, target=target, kind=kind, text=text,
                                                customer_facing=facing), result, detail)
            finally:
                spilled.seek(0, 2)  # appends go on at the end

    def __len__(self) -> int:
        return self._count

    def __eq__(self, other: object) -> bool:
        return list(self) == list(other) if isinstance(other, (list, OutcomeLog)) else NotImplemented


@dataclass
class SyncReport:
    """What one run did; ``exit_code`` is 1 when any item failed."""

    skipped: str | None = None
    #: Escalations left alone because another pass was working them (leases): the next
    #: run, or the caller ringing again, brings them up to date.
    busy: list[int] = field(default_factory=list)
    examined: int = 0
    #: Bugs a full pass's search listed again, exactly as a pass last went through them
    #: (its window looks back over the last run's): not worked again.
    unchanged: int = 0
    #: What became of each action, the action summarised (:func:`reported`), in order.
    outcomes: OutcomeLog = field(default_factory=OutcomeLog)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (target, reason)
    dry_run: bool = False

    @property
    def exit_code(self) -> int:
        return 1 if self.failures else 0

    def as_json(self) -> dict:
        return {
            "skipped": self.skipped, "busy": self.busy, "dry_run": self.dry_run, "examined": self.examined,
            "unchanged": self.unchanged,
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
    #: The escalation's linked tickets as the pass read them before planning (None: the
    #: periodic items, whose links are read from the store when needed).
    links: list | None = None


def reported(outcome: Outcome) -> Outcome:
    """``outcome`` as a report keeps it: the action summarised (:class:`ActionSummary`), so
    a pass's report grows by a line's worth per action, not by the action's context."""
    if isinstance(outcome.action, ActionSummary):
        return outcome
    return Outcome(ActionSummary.of(outcome.action), outcome.result, outcome.detail)


def retry_list(value: str | None) -> list[str]:
    """The retry list as stored: an issue id per failure recorded since a full pass read it
    (a Bug failed on again is listed again)."""
    return json.loads(value or "[]")


def retry_list_after(value: str | None, failed: Iterable[str], read: Iterable[str] = ()) -> str:
    """The stored retry list ``value`` once a pass adds the Bugs it ``failed`` on and, a full
    pass, takes out the entries it ``read`` when it started (it worked them since).

    A full pass takes out only what it read: a failure another pass recorded meanwhile
    (perhaps on a Bug the full pass had worked already) is one more entry, which stays for
    the next full pass. Apply it in the transaction that holds the cursor
    (:meth:`bridge.store.cursors.CursorRepository.change`): passes record at once."""
    left = Counter(retry_list(value))
    left.subtract(read)
    return json.dumps(sorted([*left.elements(), *set(failed)], key=_id_order))


def _id_order(value: str):
    # Numeric ids in number order; any other id (Freshdesk's "<ticket>-description", the
    # first entry of its conversation) before them.
    return (1, int(value)) if str(value).isdigit() else (0, str(value))


def _after(comment_id: str, cursor: str) -> bool:
    return _id_order(comment_id) > _id_order(cursor)
