"""The sync pass's periodic work: what the SLA clocks ask for (status updates, at-risk
alerts) and error-tracker issues that regressed after their Bug was resolved.

A mixin of :class:`bridge.sync.engine.SyncEngine`: it reads the store and the error
tracker and returns planned items; it writes nothing (records wait in ``item.records``
until the engine has applied the item's actions).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import partial
from typing import TYPE_CHECKING, Callable

from bridge.actions import BRIDGE_MARK, CommentOnBug, LinkErrorIssue, ReopenTask
from bridge.errors import BridgeError
from bridge.models import Issue
from bridge.sync.items import SyncReport, _Item
from bridge.sync.plan import TicketView

if TYPE_CHECKING:
    from bridge.policy.update_promises import UpdatePromises


#: How far ahead a pass looks for SLA clocks falling due: one pass's worth of slack, so
#: an instant between two passes is not met late by a whole period.
HORIZON = timedelta(minutes=1)
#: Never (no target left to run until an input changes, which clears the check).
NEVER = datetime(9999, 1, 1, tzinfo=timezone.utc)
#: A paused or overdue clock with nothing to send is looked at again after this.
RECHECK = timedelta(hours=1)


def next_check(state_at: Callable[[datetime], object], now: datetime, *, post_updates: bool, alert_at_risk: bool,
               at_risk_share: float, resolution: timedelta = timedelta(minutes=1), state: object | None = None) -> datetime:
    """The earliest instant after ``now`` at which :func:`bridge.sync.plan.cadence` could ask
    for something, given the clock's inputs as they are (``state_at(t)``: the clock at t;
    ``state``: the clock at ``now`` when the caller has it already).

    A status update is due at ``next_update_due``; an at-risk alert once the running target's
    elapsed share reaches ``at_risk_share``. The clock says when that is
    (:meth:`bridge.policy.sla.ClockState.share_reached_at`); a clock that cannot tell is
    bisected (the share only grows until the target is due) to ``resolution``, rounded down
    so the alert is never late. An input given for after ``now`` (``inputs_change_at``)
    changes the clock then, so the check is no later."""
    state = state_at(now) if state is None else state
    found = _next_check(state_at, state, now, post_updates=post_updates, alert_at_risk=alert_at_risk,
                        at_risk_share=at_risk_share, resolution=resolution)
    change = getattr(state, "inputs_change_at", None)
    return found if change is None else min(found, change)


def _next_check(state_at: Callable[[datetime], object], state, now: datetime, *, post_updates: bool,
                alert_at_risk: bool, at_risk_share: float, resolution: timedelta) -> datetime:
    if state.best_effort:
        return NEVER
    if state.paused:
        return now + RECHECK  # waiting on the customer: the pause ends with an input change, or later
    running = state.next_update_due or (state.first_response_due if state.first_response_at is None else None)
    if running is None or running <= now:
        # Nothing running, or overdue with nothing to send (no ticket, updates off).
        return NEVER if running is None else now + RECHECK
    due = running if (post_updates and state.next_update_due is not None) else NEVER
    if not alert_at_risk:
        return min(due, running + resolution) if due is NEVER else due

    def at_risk(at: datetime) -> bool:
        later = state_at(at)
        target = later.next_update_due or (later.first_response_due if later.first_response_at is None else None)
        return (target is not None and target > at and later.elapsed_share is not None
                and later.elapsed_share >= at_risk_share)

    share_reached_at = getattr(state, "share_reached_at", None)
    reached = share_reached_at(at_risk_share) if share_reached_at is not None else None
    if reached is not None:
        # The first instant at risk, not merely one: the clock's own arithmetic solved for
        # it (tests/unit/test_sla_share_reached.py holds it to the clock, a microsecond
        # either side), so no clock is evaluated again to confirm it.
        if reached >= running:
            return min(due, running + resolution)  # at risk only once due: the update decides
        return min(due, reached)

    low, high = now, running  # at_risk(low) is False (else cadence had acted); find the first True
    if not at_risk(high - resolution):
        return min(due, running + resolution)
    while high - low > resolution:
        middle = low + (high - low) / 2
        if at_risk(middle):
            high = middle
        else:
            low = middle
    return min(due, low)


class CadenceSteps:
    """The SLA cadence and the error-tracker regression check (see the module docstring)."""

    def _cadence(self, *, skip: set, report: SyncReport, dry_run: bool = False) -> list["_Item"]:
        """Periodic status updates and at-risk alerts the SLA clocks ask for now.

        Only the escalations whose clock needs a look (``sla_next_check_at`` before now
        plus :data:`HORIZON`, or never computed) are read, a page at a time; for each the
        instant of its next look is stored again (not on a dry run), so a quiet pass
        computes no clock at all."""
        if self.profile_for is None:
            return []
        from bridge.sla_report import ack_key

        now = self.clock()
        items: list[_Item] = []
        # A page is a pass's batch: the pass after 10,000 announcements (their checks all
        # cleared) then peaks about as high as the pass that made them (pages of 1,000
        # escalations with their links and acknowledgements peaked 8 MB above it).
        for page in self.store.escalations.sla_due(now + HORIZON, page=self.pass_batch, only=self._only, skip=skip):
            # Everything the clocks read, for a page of escalations, in two queries.
            links = self.store.links.of_many(e.id for e in page)
            acks = self.store.outbox.by_keys(ack_key(e) for e in page)
            checks: dict[int, datetime | None] = {}
            for escalation in page:
                item, checks[escalation.id] = self._clock_of(escalation, links.get(escalation.id, []),
                                                             acks.get(ack_key(escalation)), now, report)
                if item is not None:
                    items.append(item)
            if not dry_run:
                self._fence()
                self.store.escalations.set_sla_next_checks(checks)
        return items

    def _clock_of(self, escalation, tickets, ack, now: datetime,
                  report: SyncReport) -> tuple["_Item | None", datetime | None]:
        """One escalation's cadence item (None: nothing due) and when to look again."""
        from bridge.policy import sla
        from bridge.sla_report import clock_inputs_from
        from bridge.sync.plan import cadence

        try:
            profile = self.profile_for(escalation.profile)
            inputs = clock_inputs_from(tickets, ack, self.store.outbox.payload(ack) if ack else {})

            def state_at(at: datetime):
                return sla.clock(profile, escalation.severity, escalation.tier, escalation.opened_at,
                                 first_response_at=inputs.first_response_at, public_updates=inputs.public_updates,
                                 waiting_on_customer=inputs.waiting_on_customer, now=at,
                                 customer_zone=escalation.customer_zone)

            state = state_at(now)
            after = None
            if state.next_update_due is not None and state.next_update_due <= now:
                # An update goes out now: when is the one after it due (told to the customer)?
                after = sla.clock(profile, escalation.severity, escalation.tier, escalation.opened_at,
                                  first_response_at=inputs.first_response_at or now,
                                  public_updates=(*inputs.public_updates, now),
                                  waiting_on_customer=inputs.waiting_on_customer, now=now,
                                  customer_zone=escalation.customer_zone).next_update_due
        except BridgeError as exc:
            self._item_failed(report, f"sla:{escalation.jira_key}", exc)
            return None, None
        views = [TicketView(helpdesk=t.helpdesk, ticket_id=t.ticket_id, locale=t.locale,
                            last_announced=t.last_announced_state)
                 for t in tickets if t.waiting_on_customer_since is None]
        options = dict(post_updates=getattr(profile, "post_status_updates", True),
                       alert_at_risk=getattr(profile, "alert_at_risk", True),
                       at_risk_share=getattr(profile, "at_risk_share", 0.75))
        actions = cadence(issue_key=escalation.jira_key, escalation_id=escalation.id, tickets=views,
                          clock=state, now=now, next_due_after_update=after,
                          base_state=lambda s: s.split(":", 1)[0] if s else None, **options)
        if actions:
            # Something is due now: look again at the next pass (the writes that follow
            # clear the check anyway, and a failed one must be tried again).
            return _Item(escalation=escalation, issue=None, actions=actions), None
        return None, next_check(state_at, now, state=state, **options)

    def _regressions(self, resolution_now: dict, *, report: SyncReport) -> list["_Item"]:
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
        service = getattr(self.sentry, "service", "Sentry")
        items: list[_Item] = []
        # Only escalations with a created Task can regress (one query, not one per row).
        for escalation in self.store.escalations.with_created_tasks():
            if self._only is not None and escalation.id not in self._only:
                continue
            # The Bug as this run fetched it, else as the last run recorded it.
            if not resolution_now.get(escalation.jira_issue_id, escalation.last_resolution):
                continue
            flagged = set(self.store.tasks.regressions_of(escalation.id))
            item = _Item(escalation=escalation, issue=None, actions=[])
            for task in self.store.tasks.of(escalation.id):
                if task.state != "created":
                    continue
                before = task.last_error_status
                try:
                    issue = self.sentry.issue(task.sentry_issue_id)
                except BridgeError as exc:
                    self._item_failed(report, f"error-tracker:{task.sentry_short_id or task.sentry_issue_id}", exc)
                    continue
                if issue is None:
                    continue
                item.records.append(partial(self.store.tasks.record_error_status, task.id, issue.status))
                name = task.sentry_short_id or task.sentry_issue_id
                if issue.status != "unresolved":
                    if name in flagged:
                        item.records.append(partial(self.store.tasks.flag_regression, task.id, escalation.id, False))
                    continue
                if before not in ("resolved", "ignored", "resolvedInNextRelease"):
                    continue  # unresolved when first seen, or still: not a new regression
                item.records.append(partial(self.store.tasks.flag_regression, task.id, escalation.id, True))
                last = issue.last_seen.isoformat(timespec="minutes") if issue.last_seen else "recently"
                if action_kind in ("comment", "reopen"):
                    item.actions.append(CommentOnBug(
                        key=f"regression:{escalation.id}:{task.sentry_issue_id}:{last}", issue_key=escalation.jira_key,
                        body=(f"{service} issue {name} (related Task {task.jira_key}) is unresolved again "
                              f"(last seen {last}) while this Bug is resolved. "
                              f"{BRIDGE_MARK}sentry-regression:{task.sentry_issue_id}:{last}]")))
                if action_kind == "reopen" and task.jira_key:
                    item.actions.append(ReopenTask(key=f"reopen-task:{task.jira_key}:{last}", task_key=task.jira_key))
            items.append(item)
        return items

    def _next_update_after_now(self, escalation, issue: Issue, promises: UpdatePromises) -> datetime | None:
        """When the next status update is due if the customers are told something now
        (``promises``: the batch's, at the instant it is planned); None for a resolved Bug,
        a best-effort tier or a profile without a cadence."""
        if self.profile_for is None or issue.resolution:
            return None
        try:
            return promises.after(self.profile_for(escalation.profile), escalation.severity,
                                  escalation.tier, escalation.opened_at, escalation.customer_zone)
        except BridgeError:
            return None  # the cadence pass reports a profile that cannot be read

    def _error_link_retries(self) -> list[_Item]:
        """Error-tracker links that did not hold (during an escalate or an earlier pass):
        retried every pass until they do, and listed by `bridge status` meanwhile."""
        if self.error_linker is None:
            return []
        entries = self.store.outbox.list(states=("pending", "failed"), key_prefix="error-link:")
        by_id = self.store.escalations.by_ids((e.escalation_id for e in entries if e.escalation_id is not None),
                                              states=["complete"])
        if self._only is not None:
            by_id = {i: e for i, e in by_id.items() if i in self._only}
        items: dict[int, _Item] = {}
        for entry in entries:
            escalation = by_id.get(entry.escalation_id)
            payload = self.store.outbox.payload(entry)
            if escalation is None or not payload.get("reference"):
                continue
            item = items.setdefault(escalation.id, _Item(escalation=escalation, issue=None, actions=[]))
            item.actions.append(LinkErrorIssue(key=entry.key, issue_key=payload.get("issue_key") or escalation.jira_key,
                                               reference=payload["reference"]))
        return list(items.values())
