"""Thread CPU by function for a `bridge sync` run: ``bench/sync_requests.py --profile-threads``.

A pass plans on the calling thread, writes each batch on another and sends bulk requests
from a pool, all under one interpreter lock. ``--profile`` (cProfile) sees the calling
thread only, and its per-call cost inflates small pure-Python functions (the SLA calendar)
several times over. This wraps a fixed list of the pass's functions and adds up, per
function, ``time.thread_time()`` across each call: the CPU of the thread that made the call
(waits, and other threads' work meanwhile, are not counted), inclusive of what it calls. A
function re-entered on one thread is counted once, at the outermost call.

The wrappers only measure; they are installed in the run's own process just before the
run and removed after it.
"""

from __future__ import annotations

import functools
import importlib
import threading
import time
from collections import Counter
from typing import Any

#: (module, class or None for the module itself, functions): the pass's stages, its store
#: calls, and the per-message work of the writing thread.
TARGETS: tuple[tuple[str, str | None, tuple[str, ...]], ...] = (
    ("bridge.sync.engine", "SyncEngine", ("run", "_plan_batch", "_lease_chosen", "_apply", "_execute",
                                          "_known_tickets")),
    ("bridge.sync.fetch", "FetchSteps", ("_prepare", "_ticket_changes", "_changed_issues")),
    ("bridge.sync.cadence", "CadenceSteps", ("_cadence", "_clock_of", "_next_update_after_now")),
    ("bridge.sync.record", "RecordSteps", ("_record",)),
    ("bridge.executor", "Executor", ("_claim_all", "_flush")),
    ("bridge.ticket_writes", "TicketWrites", ("_helpdesk_rounds", "change_for", "_sent", "_write_round")),
    ("bridge.policy.visibility", "OutboundGate", ("check", "clean")),
    ("bridge.messages", "Messages", ("render",)),
    ("bridge.policy.sla", None, ("clock",)),
    ("bridge.policy.update_promises", "UpdatePromises", ("after",)),
    ("bridge.store.escalations", "EscalationRepository", ("by_ids", "complete_seen_by_issue", "record_seen_many",
                                                          "sla_due", "set_sla_next_checks", "never_seen_issue_ids",
                                                          "any_fix_versions")),
    ("bridge.store.links", "LinkRepository", ("of_many", "record_many", "of_complete")),
    ("bridge.store.outbox", "OutboxRepository", ("claim_many", "finish_many", "by_keys")),
    ("bridge.store.audit", "AuditRepository", ("record_many",)),
    ("bridge.store.leases", "LeaseRepository", ("acquire_many", "release_many", "get")),
    ("bridge.connectors.zendesk", "ZendeskHelpdesk", ("read_many", "_submit_job", "_to_ticket")),
    ("bridge.connectors.jira", "JiraTracker", ("_call", "_with_comments")),
)


class ThreadCpu:
    """The wrappers of one run: :meth:`install`, run, :meth:`uninstall`, then :meth:`table`."""

    def __init__(self) -> None:
        self.seconds: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._depth = threading.local()
        self._originals: list[tuple[Any, str, Any]] = []

    def install(self) -> ThreadCpu:
        for module_name, class_name, names in TARGETS:
            module = importlib.import_module(module_name)
            owner = getattr(module, class_name) if class_name else module
            for name in names:
                original = owner.__dict__[name] if class_name else getattr(owner, name)
                self._originals.append((owner, name, original))
                setattr(owner, name, self._wrapped(original, f"{class_name or module_name.rsplit('.', 1)[1]}.{name}"))
        return self

    def uninstall(self) -> None:
        for owner, name, original in reversed(self._originals):
            setattr(owner, name, original)
        self._originals.clear()

    def _wrapped(self, function: Any, label: str) -> Any:
        @functools.wraps(function)
        def measured(*args: Any, **kwargs: Any) -> Any:
            depth = self._depth.__dict__.setdefault("open", Counter())
            if depth[label]:
                return function(*args, **kwargs)  # re-entered: the outer call counts it
            depth[label] += 1
            started = time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                spent = time.thread_time() - started
                depth[label] -= 1
                with self._lock:
                    self.seconds[label] += spent
                    self.calls[label] += 1
        return measured

    def table(self, limit: int = 30) -> str:
        """The functions by thread CPU, most first: seconds, calls, name."""
        lines = ["  CPU s    calls  function (inclusive; the CPU of the thread that called it)"]
        for label, seconds in self.seconds.most_common(limit):
            lines.append(f"{seconds:7.3f} {self.calls[label]:8d}  {label}")
        return "\n".join(lines)
