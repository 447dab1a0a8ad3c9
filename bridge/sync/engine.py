"""`bridge sync`: fetch what changed, plan, apply, record — once per scheduled run.

Fetching costs a fixed number of requests, not one per escalation:

* **JIRA**: one search, paged by 100, for every escalated Bug (they all carry the bridge's
  label) that was updated since the last run's start minus a lookback, or whose fix
  version was released since the last run (releasing a version does not touch the
  issues' ``updated``), or whose sync failed last time. Dates go into JQL as epoch
  milliseconds, so no time zone — the bridge user's or the developer's — can shift them.
  The comments come in the same search. Bugs the bridge has never seen (just escalated)
  are passed to Cloud's ``reconcileIssues`` because its search lags behind writes. Plus
  one request for the project's versions (only once some Bug carries a fix version). The
  pass reads a round's worth of pages ahead of the batch it plans, so what it holds
  follows the batches, not how many Bugs changed. On Cloud, whose pages come one after
  another by token, what does not fit in the first page is read by id, ``[http]
  concurrency`` pages at a time (up to a round's worth), for two requests more at 10,000
  Bugs (:mod:`bridge.connectors.jira_search`).
* **Helpdesk**: the tickets changed since the last run (Zendesk's incremental export),
  and then only the linked ones among them are read, for new customer messages.

The lookback lists again what the last run went through. A Bug exactly as a pass last
went through it (same ``updated``, every linked ticket told a state, no ticket change, not
on the retry list, no version released since) is left there: not leased, planned or
recorded again (:meth:`SyncEngine._unchanged`).

Then, per escalation, :func:`bridge.sync.plan.plan` decides and the actions are applied:

* every action has an outbox key unique per (ticket, JIRA change); an action already
  ``sent`` is skipped;
* before a customer message is sent, the ticket is read again and the helpdesk's own
  marker (a tag naming the last announced state, written in the same call as the message,
  conditional on the version just read) is checked, so a crash between sending and
  recording never sends twice;
* one failing item never stops the others: it is recorded with its reason (outbox,
  audit), its Bug is not marked seen, so the next run plans it again, and the run exits 1.

Two full passes on one store never work at once: the first holds the ``sync`` lease, the
second reports that it skipped. And no escalation is worked by two passes at once: every
pass (full, or a webhook's over a few escalations) first takes the leases of the
escalations it works (:mod:`bridge.store.lease_group`) and leaves the others to later.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable, Iterator

from bridge.errors import BridgeError, LeaseLost
from bridge.executor import Outcome
from bridge.heap import fewer_collections
from bridge.in_flight import DEFAULT_CONCURRENCY
from bridge.models import Ticket
from bridge.store.lease_group import EscalationLeases
from bridge.sync.cadence import CadenceSteps
from bridge.sync.fetch import FetchSteps
from bridge.sync.items import (CURSOR_HELPDESK, CURSOR_RELEASED, CURSOR_RETRY, CURSOR_SINCE, SyncReport,  # noqa: F401
                               _Item, retry_list, retry_list_after)
from bridge.sync.pipeline import AppliedInTurn
from bridge.sync.record import RecordSteps
from bridge.sync.unfinished import finish_for_pass
from bridge.sync.plan import Announce, PublicReply
from bridge.ticket_views import ticket_from_view

LEASE = "sync"
#: Escalations planned, applied and recorded together: enough for full bulk requests (a
#: hundred tickets each, several in flight), few enough that a pass of 10,000 changes
#: holds one batch's rows, tickets and plans at a time.
PASS_BATCH = 500


def remember_conversation(store, ticket: Ticket) -> None:
    """Record where ``ticket``'s conversation stood when it was linked to a Bug, so sync
    mirrors to JIRA exactly the customer messages written after that (the ones before are
    in the Bug's description already). Called by the escalate flow once the ticket is
    linked; idempotent (never moves a recorded position back)."""
    if ticket.comments:
        store.links.record_baseline(ticket.helpdesk, ticket.id, comment_id=ticket.comments[-1].id,
                                    status=ticket.status)


class SyncEngine(FetchSteps, CadenceSteps, RecordSteps):
    """Runs one sync over the store's complete escalations (fetching: :mod:`bridge.sync.fetch`;
    the periodic work: :mod:`bridge.sync.cadence`; applying: :mod:`bridge.executor`, a batch
    at a time beside the planning of the next, :mod:`bridge.sync.pipeline`; recording:
    :mod:`bridge.sync.record`)."""

    def __init__(self, *, store, tracker, helpdesk, mappings, messages, redactor,
                 clock: Callable[[], datetime] | None = None, lookback: timedelta = timedelta(minutes=10),
                 lease_ttl: timedelta = timedelta(minutes=10), holder: str | None = None,
                 on_failure: Callable[[BaseException, str], None] | None = None,
                 profile_for: Callable[[str], object] | None = None, sentry=None, error_linker=None,
                 escalate_link: Callable[[object, str, str], str | None] | None = None,
                 concurrency: int = DEFAULT_CONCURRENCY, finisher: Callable[[object], object] | None = None,
                 actor: str = "bridge") -> None:
        self.store = store
        self.tracker = tracker
        self.helpdesk = helpdesk
        self.mappings = mappings
        self.messages = messages
        self.redactor = redactor
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.lookback = lookback
        self.lease_ttl = lease_ttl
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.on_failure = on_failure
        #: Files error-tracker issues as Tasks: retries links that did not hold (None: off).
        self.error_linker = error_linker
        #: Requests of one round in flight together, per service (``[http] concurrency``).
        self.concurrency = concurrency
        #: Builds an escalator fenced by a lease, to finish what escalations left unfinished
        #: (bridge/sync/unfinished.py); None = off. ``actor`` is whom it writes as.
        self.finisher, self.actor = finisher, actor
        #: Ticket positions of periodic items, recorded together after the round.
        self._loose: list = []
        self.pass_batch = PASS_BATCH  # escalations planned (and leased), applied and recorded together
        #: The signed Escalate link customer messages end with (None: no link).
        self.escalate_link = escalate_link
        #: The run's leases while it holds them (its escalations', and a full pass's ``sync``):
        #: checked before every write (fencing).
        self.lease = None
        #: Loads a policy profile by name, for the SLA cadence; None = no cadence pass.
        self.profile_for = profile_for
        #: The Sentry connector, to notice related Sentry issues that regress; None = off.
        self.sentry = sentry

    # ------------------------------------------------------------------------ run --
    def run(self, *, dry_run: bool = False, progress: Callable[[Iterable], Iterable] | None = None,
            only: Iterable[int] | None = None) -> SyncReport:
        """One pass over every escalation, or, with ``only``, over just those escalation ids
        (what a webhook or a board action touched): their Bugs and linked tickets are read
        afresh, and the pass's shared cursors (JIRA's "since", the helpdesk's change feed,
        released versions) stay where the last full pass left them."""
        with fewer_collections():  # the pass's garbage, not the whole heap (bridge/heap.py)
            return self._pass(dry_run=dry_run, progress=progress, only=only)

    def _pass(self, *, dry_run: bool, progress, only) -> SyncReport:
        report = SyncReport(dry_run=dry_run)
        self._only = None if only is None else {int(i) for i in only}
        self._fetch_failures: list[tuple[str, BaseException]] = []
        #: Versions released since the last full pass (set by fetching; none until then).
        self._newly_released: list[str] = []
        #: Tickets fetching read in full, with no write since (the executor reuses them).
        self._fresh: dict = {}
        self._unreadable: dict = {}  # see FetchSteps._ticket_changes
        if dry_run:
            self._run(report, dry_run=True, progress=progress)
            return report
        base = None
        if self._only is None:
            # A full pass holds the pass-wide lease (one reconciliation at a time) as well as
            # the leases of the escalations it works, taken once it knows which.
            base = self.store.leases.keeper(LEASE, self.lease_ttl, holder=self.holder, clock=self.clock)
            if not base.acquire():
                holder = base.current
                report.skipped = f"another sync holds the lease ({holder.holder if holder else '?'}); nothing done"
                return report
        # Renewed in the background while the pass goes on; every write checks them first.
        leases = EscalationLeases(self.store.leases, self.lease_ttl, holder=self.holder, clock=self.clock, base=base)
        self.lease = leases
        try:
            if self._only is not None:
                # A partial pass works what it can take now; the rest is someone else's at
                # this moment, and its caller rings again for it.
                wanted = set(self._only)
                self._only = leases.take(wanted)
                report.busy = sorted(wanted - self._only)
                if not self._only:
                    report.skipped = (f"another pass is working escalation(s) "
                                      f"{', '.join(map(str, report.busy))}; nothing done")
                    return report
            self._run(report, dry_run=False, progress=progress)
        except LeaseLost as exc:
            # Paused past the lease (or the store unreachable to renew it): another pass may
            # be working now, so this one stopped before its next write.
            report.failures.append(("lease", str(exc)))
        finally:
            self.lease = None
            leases.release()
        return report

    def _run(self, report: SyncReport, *, dry_run: bool, progress) -> None:
        # Never every escalation: the pass reads the rows of what changed (and, for the SLA
        # cadence, of what is due), so its work and memory follow the changes, not the store.
        scope = None
        if self._only is not None:
            scope = {e.jira_issue_id: e for e in self.store.escalations.by_ids(self._only, states=["complete"]).values()
                     if e.jira_issue_id}
            if not scope:
                return
        started = self.clock()
        read = retry_list(self.store.cursors.get(CURSOR_RETRY))  # a full pass takes these out at its end
        self._retry = set(read)
        retry = sorted(self._retry)
        found = self._changed_issues(scope, retry)  # read page by page as the batches need it
        ticket_changes = self._ticket_changes(scope, retry)
        if not dry_run:
            self._fence()
            self._note_waiting(ticket_changes)
        failed: set[str] = set()
        for issue_id, (ticket_id, exc) in self._unreadable.items():
            # Its Bug is not worked this pass (not even for a JIRA change): the next run reads
            # the ticket again from the retry list, and the run exits 1.
            failed.add(issue_id)
            self._item_failed(report, f"{self.helpdesk.kind}:{ticket_id}", exc, dry_run=dry_run)
        #: Escalations this pass told their customers something: no periodic update besides.
        told: set[int] = set()
        resolution_now: dict[str, str | None] = {}
        issues: dict = {}  # the Bugs of the batch being gathered, as the search found them
        affected = self._affected(found, ticket_changes, issues, resolution_now)
        # A batch of escalations at a time, planned, then applied and recorded while the next
        # is planned (bridge/sync/pipeline.py): the pass's memory follows two batches, not
        # the number of changes.
        parallel = not dry_run and self.store.parallel_sessions and self.concurrency > 1
        with AppliedInTurn(parallel=parallel) as applying:
            for batch in _batches(progress(affected) if progress else affected, self.pass_batch):
                if self._unreadable:
                    for issue_id in self._unreadable.keys() & set(batch):
                        issues.pop(issue_id, None)
                    batch = [issue_id for issue_id in batch if issue_id not in self._unreadable]
                    if not batch:
                        continue
                if applying.working(batch):
                    applying.wait()  # a Bug listed again: planned from its rows as recorded
                prepared, tickets = self._plan_batch(batch, issues, ticket_changes, scope, report, failed,
                                                     dry_run=dry_run)
                told.update(item.escalation.id for item in prepared
                            if any(isinstance(a, (Announce, PublicReply)) for a in item.actions))
                if dry_run:
                    report.outcomes.extend(Outcome(a, "planned") for item in prepared for a in item.actions)
                    self._forget(tickets)
                    continue
                self._record_fetch_failures()
                applying.submit(lambda prepared=prepared: self._apply(prepared, [], report, failed), batch,
                                then=lambda tickets=tickets, prepared=prepared: self._done_with(tickets, prepared))
        periodic = self._cadence(skip=told, report=report, dry_run=dry_run)
        periodic += self._regressions(resolution_now, report=report)
        periodic += self._error_link_retries()
        if not dry_run and self._only is None and periodic:
            # The periodic work of an escalation another pass is working waits for the next run.
            mine = self.lease.take({item.escalation.id for item in periodic})
            periodic = [item for item in periodic if item.escalation.id in mine]
        if dry_run:
            report.outcomes.extend(Outcome(a, "planned") for item in periodic for a in item.actions)
            finish_for_pass(self, report, dry_run=True, only=self._only)
            return
        self._record_fetch_failures()
        self._apply([], periodic, report, failed)
        finish_for_pass(self, report, dry_run=False, only=self._only)

        if self._only is not None:
            # A partial pass leaves the shared cursors alone; its failures join the retry list.
            if failed:
                self.store.cursors.change(CURSOR_RETRY, lambda value: retry_list_after(value, failed))
            return
        since = started - self.lookback
        self.store.cursors.set(CURSOR_SINCE, str(int(since.timestamp() * 1000)))
        # In place: what another pass added since this one read the list stays on it.
        self.store.cursors.change(CURSOR_RETRY, lambda value: retry_list_after(value, failed, read))
        if self._released is not None:
            self.store.cursors.set(CURSOR_RELEASED, json.dumps(self._released))
        if self._helpdesk_cursor is not None:
            self.store.cursors.set(CURSOR_HELPDESK, self._helpdesk_cursor)

    def _plan_batch(self, batch: list[str], issues: dict, ticket_changes: dict, scope: dict | None,
                    report: SyncReport, failed: set[str], *, dry_run: bool) -> tuple[list[_Item], list[str]]:
        """Lease (a full pass), read and plan one batch of Bugs' escalations; writes
        nothing but the leases. An escalation that cannot be read or planned is reported
        and left for the next run. Returns the plans and the ids of the tickets read for
        them (:meth:`_forget` them once the batch is applied)."""
        if self._only is None:
            seen = self.store.escalations.complete_seen_by_issue(batch)
            unchanged = self._unchanged(seen, issues, ticket_changes)
            report.unchanged += len(unchanged)
            wanted = [(i, seen[i].id) for i in batch if i in seen and i not in unchanged]
            report.examined += len(wanted)
            if not dry_run:
                # Leased first, then read: the rows are read once, as they stand now ours.
                chosen = self._lease_chosen(wanted, issues, report, failed)
            else:
                rows = self.store.escalations.by_ids((row_id for _, row_id in wanted), states=["complete"])
                chosen = [rows[row_id] for _, row_id in wanted if row_id in rows]
        else:
            escalations = self.store.escalations.complete_by_issue(batch)
            if scope is not None:
                escalations = {i: e for i, e in escalations.items() if i in scope}
            report.examined += len(escalations)
            chosen = [escalations[i] for i in batch if i in escalations]
        # The linked tickets of every escalation of the batch, in one query.
        links_of = self.store.links.of_many(e.id for e in chosen)
        # One instant for the batch's promises of the next update: its calendar walks are
        # then one per profile, severity and tier, not one per announcement.
        from bridge.policy.update_promises import UpdatePromises  # the SLA calendar: only once a pass plans

        promises = UpdatePromises(self.clock())
        prepared: list[_Item] = []
        for escalation in chosen:
            try:
                prepared.append(self._prepare(escalation, issues.get(escalation.jira_issue_id),
                                              ticket_changes.get(escalation.jira_issue_id, {}),
                                              links_of.get(escalation.id, []), promises))
            except BridgeError as exc:
                failed.add(escalation.jira_issue_id)
                self._item_failed(report, f"jira:{escalation.jira_key}", exc, dry_run=dry_run)
        # Planned: a Bug the search lists again from now on is worked again, in a later batch.
        tickets = []
        for issue_id in batch:
            issues.pop(issue_id, None)
            tickets.extend(ticket_changes.pop(issue_id, {}))
        return prepared, tickets

    def _unchanged(self, seen: dict, issues: dict, ticket_changes: dict) -> set[str]:
        """The Bugs of a full pass's batch that are exactly as a pass last went through them:
        the search lists them again only because its window looks back (``lookback``) over
        what the last run read. Working them again would plan nothing, so they are neither
        leased, read, planned nor recorded. A Bug is worked whatever its ``updated`` when a
        linked ticket changed, when it is on the retry list, when a version was released
        since the last run (a release does not touch its Bugs), or when one of its tickets
        was never told a state."""
        if self._newly_released:
            return set()
        alike = {}
        for issue_id, row in seen.items():
            found = issues.get(issue_id)
            if (found is not None and row.jira_updated is not None and found[0].updated == row.jira_updated
                    and issue_id not in ticket_changes and issue_id not in self._retry):
                alike[issue_id] = row.id
        if not alike:
            return set()  # the usual case but after a burst: no query for the links
        untold = self.store.links.untold(alike.values())
        return {issue_id for issue_id, row_id in alike.items() if row_id not in untold}

    def _done_with(self, tickets: list[str], prepared: list[_Item]) -> None:
        """A batch applied and recorded: forget its tickets and, in a full pass, give its
        escalations' leases back, so a worker's pass for a webhook need not wait for the
        end of this one (a partial pass keeps them: its periodic work counts on them)."""
        self._forget(tickets)
        if self._only is None:
            self.lease.give_back(item.escalation.id for item in prepared)

    def _forget(self, tickets: list[str]) -> None:
        """The tickets a batch read in full, no longer needed once it is applied."""
        for ticket_id in tickets:
            self._fresh.pop(ticket_id, None)

    @staticmethod
    def _affected(found: Iterable, ticket_changes: dict, issues: dict, resolution_now: dict) -> Iterator[str]:
        """The ids of the Bugs to work, as the search pages arrive (each found Bug is put in
        ``issues`` until its batch takes it), then those only a ticket change concerns."""
        listed: set[str] = set()
        for issue, comments in found:
            resolution_now[issue.id] = issue.resolution
            again = issue.id in listed and issue.id in issues
            issues[issue.id] = (issue, comments)  # listed twice (paging moved): the newer
            if not again:
                listed.add(issue.id)
                yield issue.id
        for issue_id in sorted(ticket_changes):
            if issue_id not in listed:
                yield issue_id

    def _apply(self, prepared: list["_Item"], periodic: list["_Item"], report: SyncReport, failed: set[str]) -> None:
        """Apply a batch's items and record what they leave: the seen positions of the
        items that fully went through, the periodic items' observations, and the SLA
        checks to compute again (whatever the batch told a customer moves its clock).
        Runs on the thread that applies batches: what planning found failed is recorded by
        the planning thread (:meth:`_record_fetch_failures`)."""
        self._adopt_landed(prepared)
        self._execute(prepared + periodic, report)
        failed.update(item.escalation.jira_issue_id for item in prepared if item.failures)
        self._fence()
        for item in periodic:
            for record in item.records:
                record()
        touched = {item.escalation.id for item in prepared + periodic if item.actions}
        self._record([item for item in prepared if not item.failures], touched)

    def _lease_chosen(self, chosen: list[tuple[str, int]], issues: dict, report: SyncReport,
                      deferred: set[str]) -> list:
        """Take the leases of the escalations (issue id, row id) a full pass is about to
        work; those another pass holds are left for the next run (on its retry list). The
        rows of the rest are read now that they are ours (another pass may have moved them
        since the search), and one whose Bug that pass saw in a newer state than this pass's
        search waits too."""
        mine = self.lease.take(escalation_id for _, escalation_id in chosen)
        fresh = self.store.escalations.by_ids(mine, states=["complete"])
        kept = []
        for issue_id, escalation_id in chosen:
            row = fresh.get(escalation_id)
            found = issues.get(issue_id)
            issue = found[0] if found else None
            stale = (row is not None and issue is not None and row.last_jira_updated is not None
                     and issue.updated is not None and row.last_jira_updated > issue.updated)
            if row is None or stale:
                report.busy.append(escalation_id)
                deferred.add(issue_id)
            else:
                kept.append(row)
        return kept

    def _fence(self) -> None:
        if self.lease is not None:
            self.lease.check()

    def _note_waiting(self, ticket_changes: dict[str, dict[str, Ticket]]) -> None:
        """Record which linked tickets wait on the customer (helpdesk status ``pending``):
        the SLA clock pauses for them where the profile says so (one transaction)."""
        changes = []
        for tickets in ticket_changes.values():
            for ticket in tickets.values():
                link = self._link_by_ticket.get(ticket.id)
                if link is None:
                    continue
                waiting = ticket.status == "pending"
                if waiting and link.waiting_on_customer_since is None:
                    changes.append((ticket.helpdesk, ticket.id,
                                    {"waiting_on_customer_since": ticket.updated or self.clock()}))
                elif not waiting and link.waiting_on_customer_since is not None:
                    changes.append((ticket.helpdesk, ticket.id, {"waiting_on_customer_since": None}))
        self.store.links.record_many(changes)

    def _item_failed(self, report: SyncReport, target: str, exc: BaseException, *, dry_run: bool = False) -> None:
        """An item that could not be read or planned. Fetching and planning write nothing
        (a dry run stops after them): the audit row and the report to self-monitoring wait
        for the execute step (:meth:`_record_fetch_failures`)."""
        report.failures.append((target, str(exc)))
        self._fetch_failures.append((target, exc))

    def _record_fetch_failures(self) -> None:
        for target, exc in self._fetch_failures:
            self.store.audit.record("bridge", "sync", target, "failed", str(exc))
            if self.on_failure:
                self.on_failure(exc, target)
        self._fetch_failures = []

    # -------------------------------------------------------------------- applying --
    def _execute(self, items: list["_Item"], report: SyncReport) -> None:
        """Apply every planned action through the one executor (:mod:`bridge.executor`)."""
        from bridge.executor import Executor, Item

        executor = Executor(store=self.store, tracker=self.tracker, helpdesk=self.helpdesk, messages=self.messages,
                            clock=self.clock, lease=self.lease, on_failure=self.on_failure,
                            error_linker=self.error_linker, escalate_link=self.escalate_link,
                            concurrency=self.concurrency)
        executor.fresh = self._fresh
        executor.known = self._known_tickets(items)
        executed = [Item(escalation=item.escalation, actions=item.actions, issue=item.issue) for item in items]
        outcomes = executor.apply(executed)
        report.outcomes.extend(outcomes)
        report.failures.extend((o.action.target, o.detail) for o in outcomes if o.result == "failed")
        owner = {id(done): item for done, item in zip(executed, items)}
        for done, item in zip(executed, items):
            item.failures.extend(done.failures)
            for outcome in done.outcomes:
                action = outcome.action
                if isinstance(action, Announce) and action.helpdesk_status and outcome.result == "done":
                    # The ticket's status is now the one this run wrote (say ``solved``), so a
                    # customer who reopens it before the next read is seen reopening it.
                    self._update_seen(item, action.helpdesk, action.ticket_id, status=action.helpdesk_status)
        # Only a ticket nothing had touched between the bridge's last full read and its
        # write may be marked as "last changed by the bridge": otherwise a customer message
        # written just before (hidden by the helpdesk's export lag) would never be read.
        tickets = executor.tickets
        written = {t: owner[id(done)] for t, done in executor.written.items()}
        self._remember_versions({t: item for t, item in written.items()
                                 if t in tickets and self._known_version(item, tickets[t]) == tickets[t].version},
                                executor.read_after)
        self._record_loose_versions()

    def _known_tickets(self, items: list["_Item"]) -> dict[str, Ticket]:
        """The items' linked tickets as the store last knew them, where it knows them at
        their version (:mod:`bridge.ticket_views`): the executor writes to those without a
        read first."""
        known = {}
        for item in items:
            for link in item.links or ():
                if link.helpdesk == self.helpdesk.kind and link.ticket_id not in self._fresh:
                    ticket = ticket_from_view(link)
                    if ticket is not None:
                        known[link.ticket_id] = ticket
        return known


def _batches(values: Iterable, size: int) -> Iterator[list]:
    """``values`` in lists of at most ``size``, consumed as they are needed."""
    batch: list = []
    for value in values:
        batch.append(value)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
