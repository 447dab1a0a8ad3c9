"""`bridge link-sentry REF (--issue KEY | --ticket TICKET)`: fetch, plan, execute.

One action, :class:`~bridge.actions.LinkErrorIssue`, applied by the one executor, so a link
that fails is recorded in the outbox and retried by the next escalate or sync like any
other. ``--dry-run`` prints it and builds no executor.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.actions import LinkErrorIssue
from bridge.errors import UsageError
from bridge.executor import Executor, Item


@dataclass
class LinkPlan:
    """The Bug to relate the error-tracker issue to, and the action that does it."""

    bug: object
    escalation_id: int | None
    action: LinkErrorIssue

    def as_json(self) -> dict:
        return {"dry_run": True, "bug_key": self.bug.key, "reference": self.action.reference,
                "writes": [self.action.describe()]}


def plan_link(linker, ref: str, *, issue_key: str | None, ticket: str | None, actor: str, store) -> LinkPlan:
    """Check everything that can be refused and plan; reads only. The reference's shape,
    the Bug, then the error-tracker issue itself: one the tracker does not know is refused
    here (:class:`~bridge.errors.InvalidValue`, exit 2), before anything is recorded — an
    outbox entry for it would be retried, and fail, on every later sync."""
    if (issue_key is None) == (ticket is None):
        raise UsageError("give exactly one of --issue KEY or --ticket TICKET")
    linker.sentry.parse(ref)
    bug, escalation_id = linker.find_bug(issue_key=issue_key, ticket=ticket)
    linker.sentry.resolve(ref)
    escalation = store.escalations.get(escalation_id) if escalation_id is not None else None
    owner = escalation.label if escalation is not None else f"jira-{bug.id}"
    action = LinkErrorIssue(key=f"error-link:{owner}:{ref}", issue_key=bug.key, reference=ref, actor=actor)
    return LinkPlan(bug=bug, escalation_id=escalation_id, action=action)


def link(executor: Executor, plan: LinkPlan, store, linker):
    """Apply the plan; returns the linker's result. A failure is recorded (outbox, audit)
    and raised, so the command exits with the error's code; so is a refusal (the issue gone
    from the tracker since the plan read it), recorded as such, not to be retried."""
    escalation = store.escalations.get(plan.escalation_id) if plan.escalation_id is not None else None
    item = Item(escalation=escalation, actions=[plan.action], issue=plan.bug)
    (outcome,) = [o for o in executor.apply([item]) if o.action.key == plan.action.key]
    if outcome.result in ("failed", "refused"):
        raise outcome.error
    if outcome.data is None:
        # Linked by an earlier run: say what stands (finding it again writes nothing new).
        return linker.link_to_bug(plan.action.reference, plan.bug, escalation_id=plan.escalation_id,
                                  actor=plan.action.actor)
    return outcome.data
