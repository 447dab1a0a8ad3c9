"""The one executor: applies the plans of every use case (escalate, sync, the Escalate
button, the board's actions) through the outbox.

Why each step is safe to repeat after a crash, a time-out or a retry:

1. **The Bug first** (:class:`~bridge.actions.CreateBug`, :class:`~bridge.actions.AdoptBug`;
   :mod:`bridge.bug_phase`): the intent is recorded in the store before JIRA is called, the
   Bug carries a deterministic label and JIRA is searched for it before anything is created
   (:meth:`bridge.connectors.jira.JiraTracker.create_once`). The item's other actions are
   then bound to the Bug's key. A Bug already recorded is never replaced behind anyone's
   back: one JIRA no longer shows (deleted, or hidden from the bridge's user) stops the run,
   exit 2, claim given back — unless a person asked for a refile, which files its successor
   through the same path.
2. **Claim** every other action's outbox key; an action already ``sent`` is skipped. One
   claimed before (a run that died, an answer that was lost) is an *orphan*: the executor
   looks whether it landed before writing again.
3. **JIRA actions** one by one (remote links are upserts, fields are idempotent, comments
   carry a bridge mark the orphan check looks for, error-tracker links find-or-create their
   Task by label).
4. **Helpdesk actions** in rounds of one change per ticket, each round in bulk where the
   helpdesk has a bulk endpoint. Marked actions (customer messages, the escalation note)
   carry a marker tag written in the same call, conditional on the ticket version just read;
   a ticket that already carries the marker is not written again. A message the outbound
   gate refuses becomes an internal note saying why, so nothing is dropped without a trace.
5. **The page**, once (a counter on the escalation and an outbox entry; the pager's dedup
   key is the Bug's label, so a page re-sent after a crash joins the same alert).

One failing action never stops the others: it is recorded (outbox, audit) with its reason
and reported; the next run retries it. One no retry can help is *refused* instead — a
message the outbound gate holds back, an error-tracker issue the tracker does not know —
recorded once with its reason and never retried. With a lease (``lease.check()``), a process that lost
its lease stops before its next write (fencing).

``--dry-run`` never builds an executor: it prints the plan.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from bridge.actions import (Acknowledge, Action, AdoptBug, Announce, BugAction,
                            CommentOnBug, CreateBug, LinkErrorIssue, LinkTicket,
                            PageOnCall, PublicReply, RelateTask, ReopenTask, RemoteLink, SetBugFields, StateNote,
                            StatusUpdate)
from bridge.bug_phase import BugPhase
from bridge.connectors.base import Helpdesk, Tracker
from bridge.errors import BridgeError, InvalidValue, ItemFailed, LeaseLost, ServiceRejected
from bridge.in_flight import DEFAULT_CONCURRENCY, in_flight
from bridge.models import Issue, Ticket
from bridge.ticket_writes import TicketWrites



@dataclass
class Outcome:
    """What became of one action: done, skipped (already done), failed, refused (handled,
    never retried), planned (dry run)."""

    action: Action
    result: str
    detail: str = ""
    #: What the action produced, where a caller reports it (an error-tracker link's result).
    data: Any = None
    #: Why it failed or was refused, for callers that turn it into an exit code.
    error: BaseException | None = None


@dataclass
class Item:
    """One escalation's planned work. ``escalation`` is the store row (None until the
    executor has found or created the Bug of a new escalation)."""

    escalation: Any
    actions: list[Action]
    #: The Bug, when the caller has it (sync's search) or once the executor found it.
    issue: Issue | None = None
    failures: list[str] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    #: How the Bug was found: "created", "found", "recorded", "adopted" (escalate only).
    bug_how: str | None = None
    #: Error-tracker issues linked by this run (one issue may be named twice: URL, short id).
    linked_error_issues: set[str] = field(default_factory=set)


@dataclass
class _Pending:
    item: Item
    action: Action
    #: The outbox entry was claimed before: check whether it landed before writing.
    orphan: bool = False
    data: Any = None
    #: What was written to the ticket, exactly (``{"body", "public", "locale"}``), recorded
    #: with the outbox entry so the board shows each customer what they were told.
    sent: dict | None = None
    #: Why the action was refused (``refused``: handled, never retried), for callers that
    #: turn it into an exit code.
    refusal: BaseException | None = None


class Executor(BugPhase, TicketWrites):
    """Applies items through the outbox. Collaborators are passed in, so tests hand it real
    connectors pointed at loopback services and a real store."""

    def __init__(self, *, store, tracker: Tracker, helpdesk: Helpdesk, messages, actor: str = "bridge",
                 clock: Callable[[], datetime] | None = None, pager=None, error_linker=None,
                 page_for: Callable[[Any], Any] | None = None, lease=None,
                 on_failure: Callable[[BaseException, str], None] | None = None,
                 sleep: Callable[[float], None] | None = None,
                 escalate_link: Callable[[Any, str, str], str | None] | None = None,
                 concurrency: int = DEFAULT_CONCURRENCY) -> None:
        self.store = store
        self.tracker = tracker
        self.helpdesk = helpdesk
        self.messages = messages
        self.actor = actor
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.pager = pager
        self.error_linker = error_linker
        #: Builds the pager's Page for an escalation row (the escalation flow knows how).
        self.page_for = page_for
        self.lease = lease
        self.on_failure = on_failure
        self.sleep = sleep
        #: The signed Escalate link for (escalation, helpdesk, ticket), None at the highest
        #: severity or without `bridge serve` configured (messages then carry no link).
        self.escalate_link = escalate_link
        #: Tickets read moments ago by the caller, with no write since (saves a read).
        self.fresh: dict[str, Ticket] = {}
        #: Tickets as the store last knew them (:mod:`bridge.ticket_views`): a marked write
        #: is made on that version without a read, and a conflict reads it afresh.
        self.known: dict[str, Ticket] = {}
        #: After :meth:`apply`: the tickets the helpdesk rounds read (or were handed), and
        #: which item last wrote to each ticket — the caller records versions from them.
        self.tickets: dict[str, Ticket] = {}
        self.written: dict[str, Item] = {}
        #: After :meth:`apply`: tickets read back right after their (last) write.
        self.read_after: dict[str, Ticket] = {}
        #: Requests of one round in flight together, per service (``[http] concurrency``).
        self.concurrency = concurrency
        self._ledger = _Ledger()

    # ------------------------------------------------------------------------ apply --
    def apply(self, items: list[Item]) -> list[Outcome]:
        """Apply every item's actions; returns the outcomes in the order they happened.

        The store work goes by round, not by action: every claim of the items in one
        transaction, committed before the first external write; the results of each round
        of writes (outbox, links, audit) in one transaction after it (:meth:`_flush`). A
        crash in between leaves those entries claimed, and the next run's orphan check
        (the helpdesk marker, the comment's mark) finds what landed."""
        self._fence()
        outcomes: list[Outcome] = []
        claims: list[tuple[Item, Action]] = []
        for item in items:
            if not self._bug_phase(item, outcomes):
                continue
            for action in item.actions:
                if isinstance(action, (CreateBug, AdoptBug)):
                    continue
                if item.issue is not None:
                    action = action.bound(item.issue.key, item.issue.url)
                if isinstance(action, LinkTicket):
                    self._link_ticket(item, action, outcomes)
                    continue
                claims.append((item, action))
        jira_work: list[_Pending] = []
        helpdesk_work: list[_Pending] = []
        pager_work: list[_Pending] = []
        for pending in self._claim_all(claims, outcomes):
            if isinstance(pending.action, PageOnCall):
                pager_work.append(pending)
            elif isinstance(pending.action, (BugAction, ReopenTask)):
                jira_work.append(pending)
            else:
                helpdesk_work.append(pending)
        try:
            self._jira_round(jira_work, outcomes)
            self._flush()
            self._helpdesk(helpdesk_work, outcomes)
            for pending in pager_work:
                self._guarded(pending, outcomes, self._page)
        except BaseException:
            # The writes made are facts: record them if the store lets us, then go on failing.
            with contextlib.suppress(Exception):
                self._flush()
            raise
        self._flush()
        return outcomes

    def _jira_round(self, work: list[_Pending], outcomes: list[Outcome]) -> None:
        """JIRA writes: those to different Bugs in flight together (each Bug's in order);
        the ones that touch the store on the way (error-tracker links, a severity to record)
        one by one on this thread."""
        together = [p for p in work if not isinstance(p.action, LinkErrorIssue)
                    and not (isinstance(p.action, SetBugFields) and p.action.record)]
        by_bug: dict[str, list[_Pending]] = {}
        for pending in together:
            by_bug.setdefault(getattr(pending.action, "issue_key", None) or pending.action.target, []).append(pending)
        if by_bug:
            self._fence()

        def send(queue: list[_Pending]) -> list[str | BaseException]:
            answers: list[str | BaseException] = []
            for pending in queue:
                try:
                    answers.append(self._jira(pending))
                except BridgeError as exc:
                    answers.append(exc)
            return answers

        queues = list(by_bug.values())
        for queue, answers in zip(queues, in_flight(send, queues, self.concurrency)):
            if isinstance(answers, BaseException):
                raise answers  # not a service's answer: a defect
            for pending, answer in zip(queue, answers):
                if isinstance(answer, BaseException):
                    self._failed(pending, outcomes, answer)
                else:
                    self._succeeded(pending, outcomes, answer)
        sent_together = {id(p) for p in together}
        for pending in work:
            if id(pending) not in sent_together:
                self._guarded(pending, outcomes, self._jira)

    def _guarded(self, pending: _Pending, outcomes: list[Outcome], run: Callable[[_Pending], str]) -> None:
        try:
            self._fence()
            self._succeeded(pending, outcomes, run(pending))
        except BridgeError as exc:
            self._failed(pending, outcomes, exc)

    def _fence(self) -> None:
        """A process that lost its lease must not write (another may be working now)."""
        if self.lease is not None:
            self.lease.check()

    # ---------------------------------------------------------------------- tickets --
    def _link_ticket(self, item: Item, action: LinkTicket, outcomes: list[Outcome]) -> None:
        self._fence()
        self.store.links.add(item.escalation.id, action.helpdesk, action.ticket_id, role=action.role,
                             locale=action.locale, requester_tier=action.tier)
        item.escalation = self.store.escalations.get(item.escalation.id)
        outcomes.append(Outcome(action, "done"))
        item.outcomes.append(outcomes[-1])

    # ------------------------------------------------------------------------ claims --
    def _claim_all(self, claims: list[tuple[Item, Action]], outcomes: list[Outcome]) -> list[_Pending]:
        """Claim every action's outbox key in one transaction; an action already ``sent``
        is skipped, one claimed before (or retried after failing) is an orphan to check."""
        answers = self.store.outbox.claim_many([
            {"key": action.key, "target": action.target, "kind": type(action).__name__,
             "escalation_id": item.escalation.id if item.escalation else None, "payload": self._payload(action)}
            for item, action in claims]) if claims else []
        work: list[_Pending] = []
        for (item, action), (claimed, entry) in zip(claims, answers):
            if not claimed and entry is not None and entry.state == "sent":
                outcomes.append(Outcome(action, "skipped", "already sent"))
                item.outcomes.append(outcomes[-1])
                continue
            retried = not claimed or (entry is not None and entry.attempts > 1)
            work.append(_Pending(item, action, orphan=retried))
        return work

    @staticmethod
    def _payload(action: Action) -> dict | None:
        """What a later run needs to retry the action without its plan."""
        if isinstance(action, Acknowledge) and action.first_response_at:
            return {"first_response_at": action.first_response_at}
        if isinstance(action, LinkErrorIssue):
            return {"reference": action.reference, "issue_key": action.issue_key}
        if isinstance(action, Announce):
            # A write that lands after its run dies is recognised by its marker on the
            # ticket; with these the next pass knows what it told and set (sync's fetch).
            return {"state": action.state, "marker": action.marker, "helpdesk_status": action.helpdesk_status}
        return None

    # ------------------------------------------------------------------ JIRA actions --
    def _jira(self, pending: _Pending) -> str:
        action = pending.action
        if isinstance(action, RemoteLink):
            self.tracker.add_remote_link(action.issue_key, global_id=action.global_id, url=action.url,
                                         title=action.title)
            return "done"
        if isinstance(action, CommentOnBug):
            if pending.orphan or action.look_first:
                mark = action.body.rsplit("[bridge:", 1)[-1]
                if any(mark in c.body for c in self.tracker.comments(action.issue_key)):
                    return "skipped"
            self.tracker.add_comment(action.issue_key, action.body, internal=True)
            return "done"
        if isinstance(action, SetBugFields):
            self.tracker.update_fields(action.issue_key, action.fields)
            if action.record and pending.item.escalation is not None:
                pending.item.escalation = self.store.escalations.set_severity(
                    pending.item.escalation.id, **action.record)
            return "done"
        if isinstance(action, ReopenTask):
            self.tracker.reopen(action.task_key)
            return "done"
        if isinstance(action, RelateTask):
            try:
                self.tracker.link_issues(action.link_type, action.task_key, action.issue_key)
            except ServiceRejected as exc:
                if exc.status != 404:
                    raise
                return "skipped"  # the Task itself is gone from JIRA: nothing is left to relate
            return "done"
        if isinstance(action, LinkErrorIssue):
            return self._link_error_issue(pending)
        raise TypeError(f"not a JIRA action: {action!r}")  # pragma: no cover - a planner bug

    def _link_error_issue(self, pending: _Pending) -> str:
        action = pending.action
        if self.error_linker is None:
            raise ItemFailed(f"error-tracker issue {action.reference} cannot be linked: no error tracker is "
                             "configured", hint="set BRIDGE_ERRORS_KIND, BRIDGE_ERRORS_URL and BRIDGE_ERRORS_TOKEN")
        bug = pending.item.issue or self.tracker.issue(action.issue_key)
        if bug is None:
            raise ItemFailed(f"the Bug {action.issue_key} cannot be read in JIRA")
        ref = action.reference
        try:
            error_issue = self.error_linker.sentry.resolve(ref)
        except InvalidValue as exc:
            # The tracker has no such issue (or the reference can never name one): no retry
            # can change that, so the entry is finished as refused — recorded once, with
            # the reason — rather than failed for every later escalate and sync to retry.
            from bridge.sentry_tasks import LinkResult

            pending.data = LinkResult(reference=ref, bug_key=bug.key, error=str(exc))
            pending.sent = {"refused": str(exc)}
            pending.refusal = exc
            return "refused"
        if error_issue.id in pending.item.linked_error_issues:
            return "skipped"  # the same issue by URL and by short id
        pending.item.linked_error_issues.add(error_issue.id)
        linked = self.error_linker.link_issue(error_issue, bug, escalation_id=getattr(pending.item.escalation, "id", None),
                                              actor=action.actor, reference=ref)
        if linked.error:
            raise ItemFailed(linked.error)
        pending.data = linked
        return "linked"

    # ------------------------------------------------------------------- the pager --
    def _page(self, pending: _Pending) -> str:
        escalation = pending.item.escalation
        if self.pager is None or self.page_for is None:
            raise ItemFailed("paging on-call is not configured")
        if escalation.pages_sent > 0:
            return "skipped"
        receipt = self.pager.send(self.page_for(escalation))
        self.store.escalations.add_pages_sent(escalation.id)
        pending.item.escalation = self.store.escalations.get(escalation.id)
        self.store.audit.record(self.actor, "page", f"pager:{self.pager.kind}", "ok",
                                f"{escalation.jira_key} dedup_key={receipt.dedup_key}")
        return "done"

    # ------------------------------------------------------------------- recording --
    def _succeeded(self, pending: _Pending, outcomes: list[Outcome], result: str, detail: str = "") -> None:
        action = pending.action
        now = self.clock()
        ledger = self._ledger
        refused_link = result == "refused" and isinstance(action, LinkErrorIssue)
        ledger.done.append((action.key, pending.sent if result == "done" or refused_link else None))
        if isinstance(action, Announce):
            told = {"last_announced_state": action.state, "last_public_update_at": now}
            if result in ("done", "skipped") and action.helpdesk_status:
                # The status this write set lands with the announcement: a run that dies before
                # its seen positions are recorded still knows it solved the ticket, so the
                # customer who reopens it is seen reopening it. Skipped: the ticket carries the
                # marker, so a run that died before recording it made this write.
                told["last_status"] = action.helpdesk_status
            ledger.links.append((action.helpdesk, action.ticket_id, told))
        elif isinstance(action, StateNote):
            ledger.links.append((action.helpdesk, action.ticket_id, {"last_announced_state": action.state}))
        elif isinstance(action, (PublicReply, StatusUpdate, Acknowledge)) and result == "done":
            ledger.links.append((action.helpdesk, action.ticket_id, {"last_public_update_at": now}))
        if result in ("done", "linked"):
            ledger.audit.append(("bridge", type(action).__name__, action.target, "ok", action.describe()[:200]))
        if refused_link:
            detail = detail or f"not linked: {pending.refusal}"
            ledger.audit.append(("bridge", type(action).__name__, action.target, "denied", detail[:200]))
        outcome = Outcome(action, result, detail or (f"Task {pending.data.task_key}" if result == "linked" else ""),
                          data=pending.data, error=pending.refusal)
        outcomes.append(outcome)
        pending.item.outcomes.append(outcome)

    def _failed(self, pending: _Pending, outcomes: list[Outcome], exc: BaseException) -> None:
        if isinstance(exc, LeaseLost):
            raise exc  # fenced out: record nothing, another process holds the work now
        action = pending.action
        self._ledger.failed.append((action.key, str(exc)))
        self._ledger.audit.append(("bridge", type(action).__name__, action.target, "failed", str(exc)))
        outcome = Outcome(action, "failed", str(exc), error=exc)
        outcomes.append(outcome)
        pending.item.outcomes.append(outcome)
        pending.item.failures.append(str(exc))
        if self.on_failure:
            self.on_failure(exc, action.target)

    def _flush(self) -> None:
        """The results recorded since the last flush, in one transaction (outbox entries
        ``sent`` or ``failed``, what each ticket was told, the audit trail)."""
        ledger, self._ledger = self._ledger, _Ledger()
        if ledger.empty:
            return
        store = self.store
        with store.session() as s:
            store.outbox.finish_many(done=ledger.done, failed=ledger.failed, s=s)
            store.links.record_many(ledger.links, s=s)
            store.audit.record_many(ledger.audit, s=s)


@dataclass
class _Ledger:
    """A round's results, waiting for :meth:`Executor._flush`."""

    done: list[tuple[str, dict | None]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    links: list[tuple[str, str, dict]] = field(default_factory=list)
    audit: list[tuple[str, str, str, str, str]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.done or self.failed or self.links or self.audit)
