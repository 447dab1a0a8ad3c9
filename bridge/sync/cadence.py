"""The sync pass's periodic work: what the SLA clocks ask for (status updates, at-risk
alerts) and error-tracker issues that regressed after their Bug was resolved.

A mixin of :class:`bridge.sync.engine.SyncEngine`: it reads the store and the error
tracker and returns planned items; it writes nothing (records wait in ``item.records``
until the engine has applied the item's actions).
"""

from __future__ import annotations

from datetime import datetime
from functools import partial

from bridge.actions import BRIDGE_MARK, CommentOnBug, LinkErrorIssue, ReopenTask
from bridge.errors import BridgeError
from bridge.models import Issue
from bridge.sync.items import SyncReport, _Item
from bridge.sync.plan import TicketView


class CadenceSteps:
    """The SLA cadence and the error-tracker regression check (see the module docstring)."""

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
                items.append(_Item(escalation=escalation, issue=None, actions=actions))
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
        service = getattr(self.sentry, "service", "Sentry")
        items: list[_Item] = []
        for escalation in escalations:
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

    def _error_link_retries(self, escalations) -> list[_Item]:
        """Error-tracker links that did not hold (during an escalate or an earlier pass):
        retried every pass until they do, and listed by `bridge status` meanwhile."""
        if self.error_linker is None:
            return []
        by_id = {e.id: e for e in escalations}
        items: dict[int, _Item] = {}
        for entry in self.store.outbox.list(states=("pending", "failed"), key_prefix="error-link:"):
            escalation = by_id.get(entry.escalation_id)
            payload = self.store.outbox.payload(entry)
            if escalation is None or not payload.get("reference"):
                continue
            item = items.setdefault(escalation.id, _Item(escalation=escalation, issue=None, actions=[]))
            item.actions.append(LinkErrorIssue(key=entry.key, issue_key=payload.get("issue_key") or escalation.jira_key,
                                               reference=payload["reference"]))
        return list(items.values())
