"""`bridge sync`: fetch what changed, plan, apply, record — once per scheduled run.

Fetching costs a fixed number of requests, not one per escalation:

* **JIRA**: one search, paged by 100, for every escalated Bug (they all carry the bridge's
  label) that was updated since the last run's start minus a lookback, or whose fix
  version was released since the last run (releasing a version does not touch the
  issues' ``updated``), or whose sync failed last time. Dates go into JQL as epoch
  milliseconds, so no time zone — the bridge user's or the developer's — can shift them.
  The comments come in the same search. Bugs the bridge has never seen (just escalated)
  are passed to Cloud's ``reconcileIssues`` because its search lags behind writes. Plus
  one request for the project's versions.
* **Helpdesk**: the tickets changed since the last run (Zendesk's incremental export),
  and then only the linked ones among them are read, for new customer messages.

Then, per escalation, :func:`bridge.sync.plan.plan` decides and the actions are applied:

* every action has an outbox key unique per (ticket, JIRA change); an action already
  ``sent`` is skipped;
* before a customer message is sent, the ticket is read again and the helpdesk's own
  marker (a tag naming the last announced state, written in the same call as the message,
  conditional on the version just read) is checked, so a crash between sending and
  recording never sends twice;
* one failing item never stops the others: it is recorded with its reason (outbox,
  audit), its Bug is not marked seen, so the next run plans it again, and the run exits 1.

Two `bridge sync` processes on one store never work at once: a lease row in the store is
taken for the run (and renewed per escalation); the second process reports that it
skipped.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable

from bridge.actions import ReopenTask
from bridge.errors import BridgeError, ItemFailed
from bridge.executor import Outcome
from bridge.models import Issue, Ticket
from bridge.sync.plan import (BRIDGE_MARK, Action, Announce, CommentOnBug, CustomerMessage, JiraComment,
                              PublicReply, Rules, Seen, TicketView, plan)

LEASE = "sync"
CURSOR_SINCE = "sync:jira:since"
CURSOR_RELEASED = "sync:jira:released-versions"
CURSOR_RETRY = "sync:jira:retry"
CURSOR_HELPDESK = "sync:helpdesk:changes"
CONFLICT_RETRIES = 3


def _comment_cursor(issue_id: str) -> str:
    return f"sync:jira:comments:{issue_id}"


def _ticket_cursor(helpdesk: str, ticket_id: str) -> str:
    return f"sync:ticket:{helpdesk}:{ticket_id}"


#: For a ticket linked without a recorded baseline: how far before the link a customer
#: message may be stamped and still count as new (helpdesk clocks, whole-second stamps).
LINK_CLOCK_TOLERANCE = timedelta(minutes=2)


def remember_conversation(store, ticket: Ticket) -> None:
    """Record where ``ticket``'s conversation stood when it was linked to a Bug, so sync
    mirrors to JIRA exactly the customer messages written after that (the ones before are
    in the Bug's description already). Called by the escalate flow; idempotent."""
    name = _ticket_cursor(ticket.helpdesk, ticket.id)
    if store.cursors.get(name) is None and ticket.comments:
        store.cursors.set(name, json.dumps({"comment": ticket.comments[-1].id, "status": ticket.status}))


@dataclass
class SyncReport:
    """What one run did; ``exit_code`` is 1 when any item failed."""

    skipped: str | None = None
    examined: int = 0
    outcomes: list[Outcome] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (target, reason)
    dry_run: bool = False

    @property
    def exit_code(self) -> int:
        return 1 if self.failures else 0

    def as_json(self) -> dict:
        return {
            "skipped": self.skipped, "dry_run": self.dry_run, "examined": self.examined,
            "actions": [{"key": o.action.key, "target": o.action.target, "kind": type(o.action).__name__,
                         "result": o.result, "detail": o.detail, "what": o.action.describe()}
                        for o in self.outcomes],
            "failures": [{"target": t, "reason": r} for t, r in self.failures],
        }


class SyncEngine:
    """Runs one sync over the store's complete escalations."""

    def __init__(self, *, store, tracker, helpdesk, mappings, messages, redactor,
                 clock: Callable[[], datetime] | None = None, lookback: timedelta = timedelta(minutes=10),
                 lease_ttl: timedelta = timedelta(minutes=10), holder: str | None = None,
                 on_failure: Callable[[BaseException, str], None] | None = None,
                 profile_for: Callable[[str], object] | None = None, sentry=None) -> None:
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
        #: The run's lease while it holds one: checked before every write (fencing).
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
        report = SyncReport(dry_run=dry_run)
        self._only = None if only is None else {int(i) for i in only}
        self._fetch_failures: list[tuple[str, BaseException]] = []
        if not dry_run and not self.store.leases.acquire(LEASE, self.holder, self.lease_ttl, now=self.clock()):
            holder = self.store.leases.get(LEASE)
            report.skipped = f"another sync holds the lease ({holder.holder if holder else '?'}); nothing done"
            return report
        try:
            self._run(report, dry_run=dry_run, progress=progress)
        finally:
            if not dry_run:
                self.store.leases.release(LEASE, self.holder)
        return report

    def _run(self, report: SyncReport, *, dry_run: bool, progress) -> None:
        escalations = {e.jira_issue_id: e for e in self.store.escalations.list(states=["complete"]) if e.jira_issue_id}
        if self._only is not None:
            escalations = {i: e for i, e in escalations.items() if e.id in self._only}
        if not escalations:
            return
        started = self.clock()
        retry = json.loads(self.store.cursors.get(CURSOR_RETRY) or "[]")
        issues = self._changed_issues(escalations, retry)
        ticket_changes = self._ticket_changes(escalations, retry)

        if not dry_run:
            self._fence()
            self._note_waiting(ticket_changes)
        affected = set(issues) | set(ticket_changes)
        report.examined = len(affected)
        failed: set[str] = set()
        prepared: list[_Item] = []
        chosen = [escalations[i] for i in sorted(affected) if i in escalations]
        for escalation in (progress(chosen) if progress else chosen):
            try:
                prepared.append(self._prepare(escalation, issues.get(escalation.jira_issue_id),
                                              ticket_changes.get(escalation.jira_issue_id, {})))
            except BridgeError as exc:
                failed.add(escalation.jira_issue_id)
                self._item_failed(report, f"jira:{escalation.jira_key}", exc, dry_run=dry_run)
        busy = {item.escalation.id for item in prepared
                if any(isinstance(a, (Announce, PublicReply)) for a in item.actions)}
        periodic = self._cadence(escalations.values(), skip=busy, report=report)
        resolution_now = {issue_id: found[0].resolution for issue_id, found in issues.items()}
        periodic += self._regressions(escalations.values(), resolution_now, report=report)
        if dry_run:
            report.outcomes.extend(Outcome(a, "planned") for item in prepared + periodic for a in item.actions)
            return

        self._record_fetch_failures()
        self._execute(prepared + periodic, report)
        for item in prepared:
            if item.failures:
                failed.add(item.escalation.jira_issue_id)
                continue
            self._record(item)
        for item in periodic:
            for name, value in item.cursors.items():
                self.store.cursors.set(name, value)

        if self._only is not None:
            # A partial pass leaves the shared cursors alone; its failures join the retry list.
            if failed:
                before = set(json.loads(self.store.cursors.get(CURSOR_RETRY) or "[]"))
                self.store.cursors.set(CURSOR_RETRY, json.dumps(sorted(before | failed)))
            return
        since = started - self.lookback
        self.store.cursors.set(CURSOR_SINCE, str(int(since.timestamp() * 1000)))
        self.store.cursors.set(CURSOR_RETRY, json.dumps(sorted(failed)))
        if self._released is not None:
            self.store.cursors.set(CURSOR_RELEASED, json.dumps(self._released))
        if self._helpdesk_cursor is not None:
            self.store.cursors.set(CURSOR_HELPDESK, self._helpdesk_cursor)

    def _fence(self) -> None:
        if self.lease is not None:
            self.lease.check()

    def _note_waiting(self, ticket_changes: dict[str, dict[str, Ticket]]) -> None:
        """Record which linked tickets wait on the customer (helpdesk status ``pending``):
        the SLA clock pauses for them where the profile says so."""
        for tickets in ticket_changes.values():
            for ticket in tickets.values():
                link = self.store.links.get(ticket.helpdesk, ticket.id)
                if link is None:
                    continue
                waiting = ticket.status == "pending"
                if waiting and link.waiting_on_customer_since is None:
                    self.store.links.set_waiting_on_customer(ticket.helpdesk, ticket.id, ticket.updated or self.clock())
                elif not waiting and link.waiting_on_customer_since is not None:
                    self.store.links.set_waiting_on_customer(ticket.helpdesk, ticket.id, None)

    def _cadence(self, escalations, *, skip: set, report: SyncReport) -> list["_Item"]:
        """Periodic status updates and at-risk alerts the SLA clocks ask for now."""
        if self.profile_for is None:
            return []
        from bridge.policy import sla
        from bridge.sla_report import ack_key, clock_inputs_from
        from bridge.sync.plan import cadence

        now = self.clock()
        open_ones = [e for e in escalations if e.id not in skip and not e.last_resolution]
        if not open_ones:
            return []
        # Everything the clocks read, for every escalation, in two queries.
        links = self.store.links.by_escalation()
        acks = self.store.outbox.by_keys(ack_key(e) for e in open_ones)
        items: list[_Item] = []
        for escalation in open_ones:
            tickets = links.get(escalation.id, [])
            try:
                profile = self.profile_for(escalation.profile)
                ack = acks.get(ack_key(escalation))
                inputs = clock_inputs_from(tickets, ack, self.store.outbox.payload(ack) if ack else {})
                state = sla.clock(profile, escalation.severity, escalation.tier, escalation.opened_at,
                                  first_response_at=inputs.first_response_at, public_updates=inputs.public_updates,
                                  waiting_on_customer=inputs.waiting_on_customer, now=now)
                after = None
                if state.next_update_due is not None and state.next_update_due <= now:
                    # An update goes out now: when is the one after it due (told to the customer)?
                    after = sla.clock(profile, escalation.severity, escalation.tier, escalation.opened_at,
                                      first_response_at=inputs.first_response_at or now,
                                      public_updates=(*inputs.public_updates, now),
                                      waiting_on_customer=inputs.waiting_on_customer, now=now).next_update_due
            except BridgeError as exc:
                self._item_failed(report, f"sla:{escalation.jira_key}", exc)
                continue
            views = [TicketView(helpdesk=t.helpdesk, ticket_id=t.ticket_id, locale=t.locale,
                                last_announced=t.last_announced_state)
                     for t in tickets if t.waiting_on_customer_since is None]
            actions = cadence(issue_key=escalation.jira_key, escalation_id=escalation.id, tickets=views,
                              clock=state, now=now,
                              next_due_after_update=after,
                              post_updates=getattr(profile, "post_status_updates", True),
                              alert_at_risk=getattr(profile, "alert_at_risk", True),
                              at_risk_share=getattr(profile, "at_risk_share", 0.75),
                              base_state=lambda s: s.split(":", 1)[0] if s else None)
            if actions:
                items.append(_Item(escalation=escalation, issue=None, actions=actions, cursors={},
                                   comment_cursor=None))
        return items

    def _regressions(self, escalations, resolution_now: dict, *, report: SyncReport) -> list["_Item"]:
        """Related Sentry issues that are unresolved again while their Bug is resolved.

        Each is flagged for `bridge status` and, by ``sentry.regression_action``, told to
        engineering as an internal comment on the Bug (``comment``), with the Task reopened
        too (``reopen``), or only flagged (``alert``). Only the Tasks of resolved Bugs are
        read, one request each; a regression is a change from resolved or ignored, so
        each is reported once.
        """
        if self.sentry is None:
            return []
        action_kind = self.mappings.sentry.regression_action
        items: list[_Item] = []
        for escalation in escalations:
            # The Bug as this run fetched it, else as the last run recorded it.
            if not resolution_now.get(escalation.jira_issue_id, escalation.last_resolution):
                continue
            flagged_name = f"sync:sentry:regressed:{escalation.id}"
            flagged = set(json.loads(self.store.cursors.get(flagged_name) or "[]"))
            actions: list[Action] = []
            cursors: dict[str, str] = {}
            for task in self.store.tasks.of(escalation.id):
                if task.state != "created":
                    continue
                seen_name = f"sync:sentry:status:{task.sentry_issue_id}"
                before = self.store.cursors.get(seen_name)
                try:
                    issue = self.sentry.issue(task.sentry_issue_id)
                except BridgeError as exc:
                    self._item_failed(report, f"sentry:{task.sentry_short_id or task.sentry_issue_id}", exc)
                    continue
                if issue is None:
                    continue
                cursors[seen_name] = issue.status
                name = task.sentry_short_id or task.sentry_issue_id
                if issue.status != "unresolved":
                    flagged.discard(name)
                    continue
                if before not in ("resolved", "ignored", "resolvedInNextRelease"):
                    continue  # unresolved when first seen, or still: not a new regression
                flagged.add(name)
                if action_kind in ("comment", "reopen"):
                    last = issue.last_seen.isoformat(timespec="minutes") if issue.last_seen else "recently"
                    actions.append(CommentOnBug(
                        key=f"regression:{escalation.id}:{task.sentry_issue_id}:{last}", issue_key=escalation.jira_key,
                        body=(f"{getattr(self.sentry, 'service', 'Sentry')} issue {name} (related Task {task.jira_key}) is unresolved again "
                              f"(last seen {last}) while this Bug is resolved. "
                              f"{BRIDGE_MARK}sentry-regression:{task.sentry_issue_id}:{last}]")))
                if action_kind == "reopen" and task.jira_key:
                    actions.append(ReopenTask(key=f"reopen-task:{task.jira_key}:{last}", task_key=task.jira_key))
            cursors[flagged_name] = json.dumps(sorted(flagged))
            items.append(_Item(escalation=escalation, issue=None, actions=actions, cursors=cursors, comment_cursor=None))
        return items

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

    # -------------------------------------------------------------------- fetching --
    def _changed_issues(self, escalations: dict, retry: list[str]) -> dict[str, tuple[Issue, list[dict]]]:
        """Bugs to look at, by issue id, with their comments (see the module docstring)."""
        prefix = self.mappings.jira.label_prefix
        from bridge.connectors.jira import jql_string

        if self._only is not None:
            # Just these Bugs, whatever their "updated": a doorbell rang for them.
            ids = sorted(escalations, key=_id_order)
            jql = f"labels = {jql_string(prefix)} AND id in ({', '.join(str(int(i)) for i in ids)})"
            found = self.tracker.search_with_comments(jql, reconcile=ids)
            self._released = None
            return {issue.id: (issue, comments) for issue, comments in found if issue.id in escalations}
        since = self.store.cursors.get(CURSOR_SINCE)
        released_before = self.store.cursors.get(CURSOR_RELEASED)
        versions = self.tracker.project_versions(self.mappings.jira.project)
        released_now = sorted(v.id for v in versions if v.released)
        newly_released = [] if released_before is None else sorted(set(released_now) - set(json.loads(released_before)))

        clauses = []
        if since is not None:
            clauses.append(f"updated >= {int(since)}")
            if newly_released:
                clauses.append(f"fixVersion in ({', '.join(newly_released)})")
            if retry:
                clauses.append(f"id in ({', '.join(str(int(i)) for i in retry)})")
        jql = f"labels = {jql_string(prefix)}"
        if clauses:
            jql += " AND (" + " OR ".join(clauses) + ")"
        jql += " ORDER BY updated ASC"
        never_seen = [i for i, e in escalations.items() if e.last_jira_updated is None]
        found = self.tracker.search_with_comments(jql, reconcile=never_seen)
        self._released = released_now
        return {issue.id: (issue, comments) for issue, comments in found if issue.id in escalations}

    def _ticket_changes(self, escalations: dict, retry: list[str]) -> dict[str, dict[str, Ticket]]:
        """Linked tickets changed since the last run, read afresh, grouped by issue id.

        The tickets of escalations whose last sync failed are read again too: the helpdesk's
        change cursor has moved past them, but their news was not passed on yet."""
        if self._only is not None:
            changed_ids, self._helpdesk_cursor = None, None  # read every linked ticket of these
        else:
            cursor = self.store.cursors.get(CURSOR_HELPDESK)
            if cursor is None:
                cursor = str(int((self.clock() - timedelta(days=1)).timestamp()))
            changed_ids, self._helpdesk_cursor = self.helpdesk.changed_ticket_ids(cursor)
        issue_of = {e.id: issue_id for issue_id, e in escalations.items()}
        by_ticket = {}
        for escalation_id, links in self.store.links.by_escalation().items():
            for link in links:
                if link.helpdesk == self.helpdesk.kind and escalation_id in issue_of:
                    by_ticket[link.ticket_id] = issue_of[escalation_id]
        if changed_ids is None:
            # This helpdesk cannot list changes: every linked ticket is read.
            changed_ids = list(by_ticket)
        changed_ids = list(dict.fromkeys(
            [str(t) for t in changed_ids] + [t for t, issue_id in by_ticket.items() if issue_id in set(retry)]))
        linked = [t for t in changed_ids if t in by_ticket]
        # One bulk read tells which of them changed since the bridge's own last write.
        current = self.helpdesk.read_many(linked) if linked else {}
        self._fresh = dict(current)
        changes: dict[str, dict[str, Ticket]] = {}
        for ticket_id in linked:
            ticket = current.get(ticket_id)
            if ticket is None:
                continue
            raw = self.store.cursors.get(_ticket_cursor(ticket.helpdesk, ticket_id))
            known = json.loads(raw).get("version") if raw else None
            if known is not None and known == ticket.version and by_ticket[ticket_id] not in set(retry):
                continue  # the last change is the bridge's own write
            full = ticket if ticket.comments else self.helpdesk.get_ticket(ticket_id)
            self._fresh[ticket_id] = full
            changes.setdefault(by_ticket[ticket_id], {})[ticket_id] = full
        return changes

    # ----------------------------------------------------------------- one escalation --
    def _prepare(self, escalation, found, changed_tickets: dict[str, Ticket]) -> "_Item":
        """Read what is needed for one escalation and plan its actions (no writes)."""
        if found is None:
            issue = self.tracker.issue(escalation.jira_issue_id)
            if issue is None:
                raise ItemFailed(f"{escalation.jira_key} is gone from JIRA (or hidden from the bridge's user)")
            raw_comments = [{"id": c.id, "body": c.body, "author": c.author, "restricted": not c.public}
                            for c in self.tracker.comments(issue.key)]
        else:
            issue, raw_comments = found

        comment_cursor = self.store.cursors.get(_comment_cursor(issue.id))
        new_comments = [c for c in raw_comments if comment_cursor is None or _after(c["id"], comment_cursor)]
        comments = [JiraComment(id=c["id"], body=c["body"], author=c["author"],
                                public=not c["restricted"] and self._publishable(issue.key, c))
                    for c in new_comments]

        views = []
        cursors: dict[str, str] = {}
        for link in self.store.links.of(escalation.id):
            ticket = changed_tickets.get(link.ticket_id)
            messages: tuple[CustomerMessage, ...] = ()
            reopened = False
            if ticket is not None:
                messages, last_id, reopened = self._customer_news(link, ticket)
                if last_id:
                    cursors[_ticket_cursor(link.helpdesk, link.ticket_id)] = json.dumps(
                        {"comment": last_id, "status": ticket.status, "version": ticket.version})
            views.append(TicketView(helpdesk=link.helpdesk, ticket_id=link.ticket_id, locale=link.locale,
                                    last_announced=link.last_announced_state,
                                    last_announced_at=(link.last_public_update_at.isoformat()
                                                       if link.last_public_update_at else None),
                                    subject=ticket.subject if ticket else "",
                                    customer_messages=messages, reopened_by_customer=reopened))

        last_seen = None
        if escalation.last_jira_updated is not None or escalation.last_status is not None:
            last_seen = Seen(status=escalation.last_status, resolution=escalation.last_resolution,
                             fix_versions=tuple(json.loads(escalation.last_fix_versions or "[]")))
        rules = Rules(
            status_rule_for=self.mappings.status_rule_for,
            customer_marker=self.mappings.comments.customer_marker,
            jira_to_internal_notes=self.mappings.comments.jira_to_internal_notes,
            customer_to_jira=self.mappings.comments.customer_to_jira,
            redact=self.redactor.redact,
        )
        actions = plan(issue=issue, comments=comments, tickets=views, last_seen=last_seen, rules=rules)
        if any(isinstance(a, Announce) for a in actions):
            # Tell the customers when they will hear next (the status-update cadence).
            next_update = self._next_update_after_now(escalation, issue)
            if next_update is not None:
                rules = replace(rules, next_update=next_update)
                actions = plan(issue=issue, comments=comments, tickets=views, last_seen=last_seen, rules=rules)

        return _Item(escalation=escalation, issue=issue, actions=actions, cursors=cursors,
                     comment_cursor=max((c["id"] for c in new_comments), key=_id_order) if new_comments else None)

    def _next_update_after_now(self, escalation, issue: Issue) -> datetime | None:
        """When the next status update is due if the customers are told something now;
        None for a resolved Bug, a best-effort tier or a profile without a cadence."""
        if self.profile_for is None or issue.resolution:
            return None
        from bridge.policy import sla
        from bridge.sla_report import clock_inputs

        now = self.clock()
        try:
            profile = self.profile_for(escalation.profile)
            inputs = clock_inputs(self.store, escalation)
            return sla.clock(profile, escalation.severity, escalation.tier, escalation.opened_at,
                             first_response_at=inputs.first_response_at or now,
                             public_updates=(*inputs.public_updates, now),
                             waiting_on_customer=inputs.waiting_on_customer, now=now).next_update_due
        except BridgeError:
            return None  # the cadence pass reports a profile that cannot be read

    def _record(self, item: "_Item") -> None:
        """Everything for this escalation was applied: advance its cursors, mark it seen."""
        from bridge.sync.plan import signature

        if item.comment_cursor is not None:
            self.store.cursors.set(_comment_cursor(item.issue.id), item.comment_cursor)
        for name, value in item.cursors.items():
            self.store.cursors.set(name, value)
        seen = signature(item.issue)
        self.store.escalations.record_issue_seen(item.escalation.id, jira_key=item.issue.key, status=seen.status,
                                     resolution=seen.resolution, fix_versions=list(seen.fix_versions),
                                     jira_updated=item.issue.updated, jira_url=item.issue.url)

    def _publishable(self, key: str, comment: dict) -> bool:
        """Only a comment that would go to customers is worth a request to check it."""
        if not comment["body"].lstrip().startswith(self.mappings.comments.customer_marker):
            return not comment["restricted"]
        return self.tracker.comment_is_public(key, comment["id"])

    def _customer_news(self, link, ticket: Ticket) -> tuple[tuple[CustomerMessage, ...], str | None, bool]:
        """Customer messages on ``ticket`` new since the last run, the newest comment id,
        and whether the customer reopened a solved ticket."""
        raw = self.store.cursors.get(_ticket_cursor(link.helpdesk, link.ticket_id))
        state = json.loads(raw) if raw else None
        comments = list(ticket.comments)
        if not comments:
            return (), None, False
        if state is None or state.get("comment") is None:
            # First look at this ticket: what the customer wrote after it was linked to the
            # Bug is new (what came before is in the Bug's description already).
            # (Tickets linked by the escalate flow have a recorded baseline; this is for others.)
            since = link.linked_at - LINK_CLOCK_TOLERANCE if link.linked_at else None
            fresh = [c for c in comments if c.created is None or since is None or c.created >= since]
        else:
            fresh = [c for c in comments if _after(c.id, state["comment"])]
        messages = tuple(CustomerMessage(id=c.id, body=c.body) for c in fresh
                         if c.public and c.by_customer and BRIDGE_MARK not in c.body)
        was_closed = bool(state and state.get("status") in ("solved", "closed"))
        reopened = was_closed and ticket.status in ("new", "open", "pending", "hold") and bool(messages)
        return messages, comments[-1].id, reopened

    # -------------------------------------------------------------------- applying --
    def _execute(self, items: list["_Item"], report: SyncReport) -> None:
        """Apply every planned action through the one executor (:mod:`bridge.executor`)."""
        from bridge.executor import Executor, Item

        executor = Executor(store=self.store, tracker=self.tracker, helpdesk=self.helpdesk, messages=self.messages,
                            clock=self.clock, lease=self.lease, on_failure=self.on_failure)
        executor.fresh = getattr(self, "_fresh", {})
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
                    self._update_ticket_cursor(item, action.helpdesk, action.ticket_id, status=action.helpdesk_status)
        # Only a ticket nothing had touched between the bridge's last full read and its
        # write may be marked as "last changed by the bridge": otherwise a customer message
        # written just before (hidden by the helpdesk's export lag) would never be read.
        tickets = getattr(executor, "tickets", {})
        written = {t: owner[id(done)] for t, done in getattr(executor, "written", {}).items()}
        self._remember_versions({t: item for t, item in written.items()
                                 if t in tickets and self._known_version(item, tickets[t]) == tickets[t].version})

    def _remember_versions(self, written: dict[str, "_Item"]) -> None:
        """Note the version each ticket has after the bridge's own writes (one bulk read
        per hundred tickets), so the next run recognises that the change the helpdesk
        reports for it is the bridge's own and does not read its conversation again."""
        if not written:
            return
        try:
            after = self.helpdesk.read_many(sorted(written))
        except BridgeError:
            return  # the next run then reads these tickets in full: slower, not wrong
        for ticket_id, ticket in after.items():
            self._update_ticket_cursor(written[ticket_id], ticket.helpdesk, ticket_id, version=ticket.version)

    def _known_version(self, item: "_Item", ticket: Ticket) -> str | None:
        """The ticket version whose conversation the bridge has processed."""
        name = _ticket_cursor(ticket.helpdesk, ticket.id)
        raw = item.cursors.get(name) or self.store.cursors.get(name)
        return json.loads(raw).get("version") if raw else None

    def _update_ticket_cursor(self, item: "_Item", helpdesk: str, ticket_id: str, **values) -> None:
        name = _ticket_cursor(helpdesk, ticket_id)
        raw = item.cursors.get(name) or self.store.cursors.get(name)
        state = json.loads(raw) if raw else {"comment": None}
        state.update(values)
        if name in item.cursors or item.issue is None:
            item.cursors[name] = json.dumps(state)
        else:
            self.store.cursors.set(name, json.dumps(state))

@dataclass
class _Item:
    """One escalation's planned work and what to record once all of it is applied."""

    escalation: object
    issue: Issue | None  # None for the SLA cadence's items: nothing to record as seen
    actions: list[Action]
    cursors: dict[str, str]
    comment_cursor: str | None
    failures: list[str] = field(default_factory=list)


def _id_order(value: str):
    return (0, int(value)) if str(value).isdigit() else (1, str(value))


def _after(comment_id: str, cursor: str) -> bool:
    return _id_order(comment_id) > _id_order(cursor)


def watch(run_once: Callable[[], SyncReport], *, every: float, sleep: Callable[[float], None] = time.sleep,
          on_report: Callable[[SyncReport], None] = lambda r: None, max_backoff: float = 10.0,
          stop: Callable[[], bool] = lambda: False) -> None:
    """Run ``run_once`` every ``every`` seconds; after failing runs wait longer (doubling,
    up to ``max_backoff`` times the period), so a broken service is not hammered."""
    factor = 1.0
    while not stop():
        try:
            report = run_once()
            on_report(report)
            factor = 1.0 if report.exit_code == 0 else min(factor * 2, max_backoff)
        except BridgeError as exc:
            on_report(SyncReport(failures=[("run", str(exc))]))
            factor = min(factor * 2, max_backoff)
        if stop():
            break
        sleep(every * factor)
