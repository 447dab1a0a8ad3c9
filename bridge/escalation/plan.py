"""What `bridge escalate` should do: a pure function over typed inputs.

:func:`plan` reads what the fetch step gathered — the ticket with its conversation, the
store's row for it (if any), the Bug named by ``--into``, who is escalating and their
groups, error-tracker references, the clock — plus the policy profile and the mappings,
and returns an :class:`EscalationPlan`: the decisions (severity, priority, tier, SLA due
times, the label) and the actions that carry them out. It makes no I/O call; the executor
(:mod:`bridge.executor`) applies the actions, and ``--dry-run`` prints them.

Why each branch fires:

* **A refusal** (actor not allowed, requester not an active admin, a closed ticket without
  ``--force``) is part of the plan, so the caller records it (except in a dry run) and
  exits 2 before anything is written.
* **A new escalation** creates the Bug (or finds it by its label), links it to the ticket,
  files error-tracker issues as related Tasks (never on the ticket, policy 001), writes the
  internal note and the acknowledgement, and pages on-call when the severity is the
  profile's highest.
* **A refile** (``--refile``, or one under way) files a new Bug for an escalation whose
  recorded Bug JIRA no longer has, under a label of its own, and moves every linked ticket
  onto it; the customers are told nothing (:func:`_plan_refile`).
* **An escalation already complete** does nothing and reads nothing more — unless
  ``--emergency`` raises it (the Bug to the highest priority, a comment on the Bug, a
  new acknowledgement with the new targets), a page is still owed, ``--sentry`` names
  new references, earlier error-tracker links failed (they are retried), or this ticket's
  own side (remote link, internal note, acknowledgement) is unfinished — a ticket joined
  with ``--into`` links to an escalation complete already, so its failed note or
  acknowledgement is planned again here, under its recorded outbox key (sent once).
* **``--into KEY``** attaches the ticket to an existing Bug; a Bug the bridge did not create
  is adopted with a real severity (the request's, else the one whose JIRA priority the Bug
  has, else the ticket's own classification) so later syncs can compute its clocks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from bridge.actions import (Acknowledge, Action, AdoptBug, CommentOnBug, CreateBug, EscalatedNote, LinkErrorIssue,
                            LinkTicket, PageOnCall, RelateTask, RemoteLink, Replacing, SetBugFields)
from bridge.escalation.inputs import (EscalationFacts, EscalationInputs, HelpdeskFacts,  # noqa: F401 - re-exported
                                      LinkedTicketFacts, Policy, RefileFacts)
from bridge.escalation.refile import refile_label, refile_record_key

#: JIRA refuses descriptions over 32,767 characters; stay well below.
DESCRIPTION_LIMIT = 30_000
COMMENT_EXCERPT = 2_000
EMERGENCY_ACK_TAG = "bridge_acknowledged_emergency"


@dataclass(frozen=True)
class Refusal:
    """Why this escalation may not go ahead (exit 2, audited as ``denied``)."""

    message: str
    audit: str
    hint: str | None = None


@dataclass
class EscalationPlan:
    """The decisions and the actions that carry them out."""

    ticket_id: str
    label: str | None
    severity: str
    priority: str
    tier: str
    severity_reason: str = ""
    first_response_due: datetime | None = None
    next_update_due: datetime | None = None
    status_update_every: str | None = None
    actions: list[Action] = field(default_factory=list)
    refusal: Refusal | None = None
    #: Said instead of acting ("already escalated: nothing to do").
    nothing_to_do: str | None = None
    bug_key: str | None = None
    bug_url: str | None = None
    affected_count: int | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    #: A refile: the gone Bug it replaces (``replaced_key``, ``replaced_issue_id``).
    refile: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        """The plan as ``--dry-run --json`` prints it."""
        return {"label": self.label, "jira_fields": self.fields, "severity_reason": self.severity_reason,
                "writes": [a.describe() for a in self.actions],
                "actions": [{"kind": type(a).__name__, "key": a.key, "target": a.target, "what": a.describe()}
                            for a in self.actions],
                "nothing_to_do": self.nothing_to_do, "refile": self.refile}


def plan(inputs: EscalationInputs, policy: Policy) -> EscalationPlan:
    """The plan for one escalate request (see the module docstring)."""
    request = inputs.request
    if inputs.refile is not None:
        return _plan_refile(inputs, policy)
    if request.into:
        return _plan_join(inputs, policy)
    existing = inputs.existing
    if existing is not None and existing.state == "complete":
        return _plan_revisit(inputs, policy)
    ticket = inputs.ticket
    decision = _decide(inputs, policy)
    label = f"{policy.mappings.jira.label_prefix}-{inputs.helpdesk.kind}-{ticket.id}"
    if existing is not None and existing.label != label:
        # The ticket joined another Bug earlier (`--into`): that is its escalation, not
        # complete yet. Only this ticket's own unfinished side is planned again.
        decision.bug_key, decision.bug_url = existing.jira_key, existing.jira_url
        decision.severity, decision.priority = existing.severity, existing.priority
        decision.actions = _unfinished_ticket_side(inputs, policy)
        if decision.actions:
            decision.refusal = _refusal(inputs, policy)
        else:
            decision.nothing_to_do = f"already linked to {existing.jira_key}: nothing to do"
        return decision
    decision.label = label
    decision.refusal = _refusal(inputs, policy)
    if decision.refusal:
        return decision
    decision.fields = _bug_fields(inputs, policy, decision)
    decision.actions.append(CreateBug(key=f"bug:{label}", label=label, fields=decision.fields,
                                      intent=_intent(inputs, policy, decision, label)))
    decision.actions += _error_links(inputs, label, None)
    decision.actions += _ticket_side(inputs, policy, decision, bug_key=None)
    if inputs.pager and decision.severity == policy.profile.highest:
        decision.actions.append(PageOnCall(key=f"page:{label}", issue_key=None))
    decision.affected_count = 1
    return decision


# ------------------------------------------------------------------------ deciding --
def _decide(inputs: EscalationInputs, policy: Policy, *, bug_priority: str | None = None) -> EscalationPlan:
    from bridge.policy import severity as severity_policy

    request, ticket, mappings, profile = inputs.request, inputs.ticket, policy.mappings, policy.profile
    if request.emergency:
        severity, reason = severity_policy.highest(profile), "--emergency"
    elif bug_priority and not (request.severity or request.urgency) and _severity_of_priority(mappings, bug_priority):
        severity, reason = _severity_of_priority(mappings, bug_priority), f"the Bug's JIRA priority {bug_priority}"
    else:
        classification = severity_policy.classify(
            profile, explicit=request.severity, urgency=request.urgency, impact=request.impact,
            subject=ticket.subject, ticket_priority=ticket.priority,
            priority_map=dict(mappings.helpdesk_priority), subject_rules=mappings.subject_rules,
        )
        severity, reason = classification.severity, classification.reason
    return _decided(inputs, policy, severity, mappings.jira_priority(severity), reason)


def _decided(inputs: EscalationInputs, policy: Policy, severity: str, priority: str,
             reason: str = "") -> EscalationPlan:
    """The plan's decisions for ``severity``: the ticket's tier and its SLA due times."""
    from bridge.policy import sla

    ticket, profile = inputs.ticket, policy.profile
    tier = policy.mappings.tiers.tier_for(ticket.organization, ticket.organization_tags)
    opened, zone = ticket.created or inputs.now, ticket.requester_time_zone
    due = sla.due(profile, severity, tier, opened, customer_zone=zone)
    # The acknowledgement is itself a public update, told now: the next one is due a cadence
    # after it, not a cadence after the ticket was opened (hours ago, for a ticket escalated
    # late, which would promise the customer a time already past).
    return EscalationPlan(ticket_id=ticket.id, label=None, severity=severity, priority=priority, tier=tier,
                          severity_reason=reason, first_response_due=due.first_response_due,
                          next_update_due=sla.next_update_after(profile, severity, tier, opened, inputs.now,
                                                                customer_zone=zone),
                          status_update_every=sla.format_duration(due.status_update_every))


def _intent(inputs: EscalationInputs, policy: Policy, decision: EscalationPlan, label: str) -> dict:
    """The escalation row an escalation's first run records before JIRA is called (a new
    Bug's, or one adopted with ``--into``)."""
    ticket = inputs.ticket
    return dict(label=label, origin_helpdesk=inputs.helpdesk.kind, origin_ticket_id=ticket.id,
                severity=decision.severity, priority=decision.priority, profile=policy.profile.name,
                tier=decision.tier, organization=ticket.organization, escalated_by=inputs.request.actor,
                opened_at=ticket.created or inputs.now, locale=ticket.locale, requester_tier=decision.tier,
                customer_zone=ticket.requester_time_zone)


def _severity_of_priority(mappings, jira_priority: str) -> str | None:
    """The severity whose JIRA priority is ``jira_priority`` (the most severe if several)."""
    for name, row in mappings.severities.items():
        if row.jira_priority.casefold() == jira_priority.casefold():
            return name
    return None


def _refusal(inputs: EscalationInputs, policy: Policy) -> Refusal | None:
    rules, request, ticket = policy.mappings.escalation, inputs.request, inputs.ticket
    if (rules.allowed_actors or rules.allowed_groups) and not request.finishing \
            and not rules.actor_allowed(request.actor, list(inputs.actor_groups)):
        return Refusal(f"{request.actor} may not escalate tickets", "actor not allowed by the mappings",
                       hint="escalation.allowed_actors / allowed_groups in the mappings name who may")
    refusal = rules.requester_refusal(ticket)
    if refusal is not None:
        # The audit detail names no customer: the requester's name stays on the helpdesk.
        return Refusal(f"ticket {ticket.id} may not be escalated: {refusal}",
                       "requester is not an active admin of the account (policy 003)",
                       hint="the support policy accepts requests only from active admins of the customer's "
                            f"account (a true user field or a user tag {rules.account_admin_marker!r}); "
                            "escalation.require_active_admin_requester in the mappings turns this off")
    if ticket.is_closed and rules.refuse_closed and not request.force:
        return Refusal(f"ticket {ticket.id} is {ticket.status}", f"ticket is {ticket.status}",
                       hint="use --force to escalate it anyway")
    return None


def _bug_fields(inputs: EscalationInputs, policy: Policy, d: EscalationPlan, *, affected_count: int = 1,
                preface: tuple[str, ...] = ()) -> dict[str, Any]:
    jira, ticket, redact = policy.mappings.jira, inputs.ticket, policy.redact
    fields: dict[str, Any] = {
        "project": {"key": jira.project},
        "issuetype": {"name": jira.bug_type},
        # One line: JIRA refuses a summary with line breaks (helpdesks allow them). Made one
        # line before redaction, which then sees a number split over two lines as one.
        "summary": redact(" ".join(ticket.subject.split()))[:250] or f"Escalated ticket {ticket.id}",
        "description": _description(inputs, policy, d, preface),
        "priority": {"name": d.priority},
        "labels": [d.label, jira.label_prefix],
    }
    computed = {"tier": d.tier, "affected_count": affected_count}
    for name, mapping in policy.mappings.fields.items():
        value = computed[name] if name in computed else mapping.read(ticket)
        if value is None or value == "":
            continue
        if mapping.to == "label":
            label = _as_label(f"{mapping.label_prefix}{value}")
            if label and label not in fields["labels"]:
                fields["labels"].append(label)
        elif mapping.to == "component":
            fields.setdefault("components", []).append({"name": str(value)})
        else:
            # Free-text fields come from the customer's side: redact them too.
            fields[mapping.to] = redact(value) if isinstance(value, str) else value
    return fields


def _description(inputs: EscalationInputs, policy: Policy, d: EscalationPlan, preface: tuple[str, ...] = ()) -> str:
    """A summary of the conversation for engineers; customer PII redacted."""
    t, redact = inputs.ticket, policy.redact
    lines = [
        *preface,
        f"Escalated from {inputs.helpdesk.service} ticket {t.id}: {t.url or inputs.helpdesk.ticket_url}",
        f"Organization: {t.organization or 'unknown'} · tier: {d.tier}",
        f"Severity: {d.severity} ({d.severity_reason}) · priority: {d.priority} · policy: {policy.profile.name}",
    ]
    if d.first_response_due:
        lines.append(f"First response due: {_iso(d.first_response_due)}")
    if d.status_update_every:
        lines.append(f"Customer status updates every: {d.status_update_every}")
    lines += ["", "h3. Conversation (customer data redacted)", ""]
    body: list[str] = []
    for comment in t.comments:
        who = "Customer" if comment.by_customer else f"Agent {comment.author}"
        visibility = "" if comment.public else " (internal note)"
        text = redact(comment.body.strip())
        if len(text) > COMMENT_EXCERPT:
            text = text[:COMMENT_EXCERPT] + " […]"
        body.append(f"*{who}{visibility}*, {_iso(comment.created) or ''}:\n{text}\n")
    text = "\n".join(lines + body)
    if len(text) > DESCRIPTION_LIMIT:
        text = text[:DESCRIPTION_LIMIT] + "\n[…] conversation cut; read the ticket for the rest."
    return text


# -------------------------------------------------------------- the ticket's side --
def _ticket_side(inputs: EscalationInputs, policy: Policy, d: EscalationPlan, *, bug_key: str | None,
                 emergency: bool = False) -> list[Action]:
    """The remote link from the Bug, the internal note naming it, the acknowledgement."""
    ticket, helpdesk, mappings = inputs.ticket, inputs.helpdesk, policy.mappings
    origin = f"{helpdesk.kind}:{ticket.id}"
    key_field = mappings.ticket_key_field.field.get(helpdesk.kind)
    first_reply = min((c.created for c in ticket.comments if c.public and not c.by_customer and c.created),
                      default=None)
    context = dict(ticket_id=ticket.id, subject=ticket.subject, severity=d.severity,
                   next_update=d.next_update_due, first_response_due=d.first_response_due)
    actions: list[Action] = []
    if not emergency:
        actions += [
            RemoteLink(key=f"remote-link:{origin}:{bug_key or d.label}", issue_key=bug_key,
                       global_id=f"bridge:{helpdesk.kind}:{helpdesk.base_url}:ticket:{ticket.id}",
                       url=ticket.url or helpdesk.ticket_url, title=f"{helpdesk.service} ticket #{ticket.id}"),
            EscalatedNote(key=f"note:{origin}", helpdesk=helpdesk.kind, ticket_id=ticket.id, severity=d.severity,
                          priority=d.priority, issue_key=bug_key, key_field=key_field,
                          tag_prefix=mappings.ticket_key_field.tag_prefix),
        ]
    actions.append(Acknowledge(
        key=f"ack-emergency:{origin}" if emergency else f"ack:{origin}", helpdesk=helpdesk.kind, ticket_id=ticket.id,
        locale=ticket.locale, context=context,
        first_response_at=first_reply.isoformat() if first_reply and not emergency else None,
        show_key=mappings.messages.show_jira_key_to_customer, issue_key=bug_key,
        marker=EMERGENCY_ACK_TAG if emergency else Acknowledge.marker))
    return actions


def _error_links(inputs: EscalationInputs, owner: str, bug_key: str | None) -> list[Action]:
    refs = list(dict.fromkeys((*inputs.error_refs, *inputs.retry_error_refs)))
    return [LinkErrorIssue(key=f"error-link:{owner}:{ref}", issue_key=bug_key, reference=ref,
                           actor=inputs.request.actor) for ref in refs]


# ------------------------------------------------------- complete: revisit, raise --
def _plan_revisit(inputs: EscalationInputs, policy: Policy) -> EscalationPlan:
    existing, request, profile = inputs.existing, inputs.request, policy.profile
    result = EscalationPlan(ticket_id=inputs.ticket_id or existing.origin_ticket_id, label=existing.label,
                            severity=existing.severity, priority=existing.priority, tier=existing.tier or "",
                            bug_key=existing.jira_key, bug_url=existing.jira_url,
                            affected_count=existing.affected_count)
    highest = profile.highest
    page_owed = inputs.pager and existing.pages_sent == 0 and (existing.severity == highest or request.emergency)
    highest_priority = policy.mappings.jira_priority(highest)
    raise_bug = request.emergency and (existing.severity != highest
                                       or (inputs.bug is not None and inputs.bug.priority != highest_priority))
    result.actions += _error_links(inputs, existing.label, existing.jira_key)
    unfinished = _unfinished_ticket_side(inputs, policy) if inputs.ticket is not None else []
    if raise_bug or page_owed or unfinished:
        if inputs.ticket is not None:
            result.refusal = _refusal(inputs, policy)
            if result.refusal:
                return result
    result.actions += unfinished
    if raise_bug:
        before = existing.severity
        result.severity, result.priority = highest, highest_priority
        result.actions.append(SetBugFields(key=f"raise:{existing.label}:{highest}", issue_key=existing.jira_key,
                                           fields={"priority": {"name": highest_priority}},
                                           record={"severity": highest, "priority": highest_priority}))
        result.actions.append(CommentOnBug(
            key=f"raise-note:{existing.label}:{highest}", issue_key=existing.jira_key,
            body=(f"Raised from {before} to {highest} ({request.actor}): the customer asked for the highest "
                  f"severity. [bridge:raise:{existing.label}:{highest}]")))
        if inputs.ticket is not None:
            decision = _decide(inputs, policy)
            result.first_response_due, result.next_update_due = decision.first_response_due, decision.next_update_due
            result.actions += [a for a in _ticket_side(inputs, policy, decision, bug_key=existing.jira_key,
                                                        emergency=True)
                               if a.key not in {u.key for u in unfinished}]
    if page_owed:
        result.actions.append(PageOnCall(key=f"page:{existing.label}", issue_key=existing.jira_key))
    if not result.actions:
        result.nothing_to_do = ("already escalated at the highest severity: nothing to do" if request.emergency
                                else "already escalated: nothing to do")
    return result


def _unfinished_ticket_side(inputs: EscalationInputs, policy: Policy) -> list[Action]:
    """This ticket's side of a complete escalation that a run left pending or failed, planned
    again under the keys the outbox holds (so what did go through is not sent twice): the
    remote link, the internal note, the acknowledgement (and the one after ``--emergency``).
    The customer is told the targets of the escalation's recorded severity."""
    wanted, existing = inputs.retry_ticket_keys, inputs.existing
    if not wanted:
        return []
    highest = policy.profile.highest
    plain = _decided(inputs, policy, existing.severity, existing.priority)
    raised = _decided(inputs, policy, highest, policy.mappings.jira_priority(highest))
    candidates = [*_ticket_side(inputs, policy, plain, bug_key=existing.jira_key),
                  *_ticket_side(inputs, policy, raised, bug_key=existing.jira_key, emergency=True)]
    link_stem = f"remote-link:{inputs.helpdesk.kind}:{inputs.ticket.id}:"
    actions: list[Action] = []
    for action in candidates:
        if isinstance(action, RemoteLink):
            # Keyed by the label when the Bug was created in the same run, else by its key.
            keys = [k for k in wanted if k.startswith(link_stem)]
        else:
            keys = [k for k in wanted if k == action.key]
        if isinstance(action, EscalatedNote):
            action = replace(action, issue_url=existing.jira_url)
        actions += [replace(action, key=k) for k in keys]
    return actions


def ticket_side_key(key: str, helpdesk: str, ticket_id: str) -> bool:
    """Whether outbox ``key`` is one of this ticket's side of its escalation (the keys
    :func:`_ticket_side` gives)."""
    origin = f"{helpdesk}:{ticket_id}"
    return key in (f"note:{origin}", f"ack:{origin}", f"ack-emergency:{origin}") \
        or key.startswith(f"remote-link:{origin}:")


# ------------------------------------------------------------------------- --refile --
def _plan_refile(inputs: EscalationInputs, policy: Policy) -> EscalationPlan:
    """A new Bug for an escalation whose recorded one JIRA no longer has (``--refile``, or a
    refile under way): the first escalation's CreateBug under a label of its own (see
    :mod:`bridge.escalation.refile`), every linked ticket moved onto it (remote link, an
    internal note naming it and the Bug it replaces), the escalation's Tasks related to it.

    The escalation keeps its severity, SLA clock and what each customer was told: nothing
    changed for the customers, so they are not acknowledged again (an acknowledgement that
    never went out is retried under its own key), and sync tells them only what the new Bug
    does next. Every key is new to the refile, so nothing sent for the gone Bug counts as
    done for this one; a page already sent is not sent again (its key is the escalation's)."""
    existing, gone, helpdesk, mappings = inputs.existing, inputs.refile, inputs.helpdesk, policy.mappings
    decision = _decided(inputs, policy, existing.severity, existing.priority, "the escalation's recorded severity")
    decision.ticket_id = inputs.ticket_id or inputs.ticket.id
    decision.label, decision.affected_count = existing.label, existing.affected_count
    label = refile_label(existing.label, gone.issue_id)
    decision.refile = {"replaced_key": gone.issue_key, "replaced_issue_id": gone.issue_id, "label": label}
    decision.refusal = _refusal(inputs, policy)
    if decision.refusal:
        return decision
    joined = tuple(f"Also affected: {helpdesk.service} ticket #{t.ticket_id} {t.url}" for t in inputs.linked
                   if t.role != "origin")
    preface = (f"Refiled by {gone.by}: replaces {gone.issue_key or gone.issue_id}, which JIRA no longer has.",
               *joined, "")
    decision.fields = _bug_fields(inputs, policy, decision, affected_count=existing.affected_count, preface=preface)
    decision.fields["labels"].insert(1, label)
    intent = dict(label=existing.label, origin_helpdesk=existing.origin_helpdesk,
                  origin_ticket_id=existing.origin_ticket_id, severity=existing.severity, priority=existing.priority,
                  profile=existing.profile, tier=existing.tier, organization=existing.organization,
                  escalated_by=existing.escalated_by, opened_at=existing.opened_at)
    replacing = Replacing(escalation_id=existing.id, issue_id=gone.issue_id, issue_key=gone.issue_key,
                          issue_url=gone.issue_url, record_key=refile_record_key(existing.label, gone.issue_id),
                          by=gone.by)
    actions: list[Action] = [CreateBug(key=f"bug:{label}", label=label, fields=decision.fields, intent=intent,
                                       replaces=replacing)]
    key_field = mappings.ticket_key_field.field.get(helpdesk.kind)
    for ticket in inputs.linked:
        origin = f"{helpdesk.kind}:{ticket.ticket_id}"
        actions += [
            RemoteLink(key=f"remote-link:{origin}:{label}", issue_key=None,
                       global_id=f"bridge:{helpdesk.kind}:{helpdesk.base_url}:ticket:{ticket.ticket_id}",
                       url=ticket.url, title=f"{helpdesk.service} ticket #{ticket.ticket_id}"),
            EscalatedNote(key=f"note:{origin}:{label}", helpdesk=helpdesk.kind, ticket_id=ticket.ticket_id,
                          severity=existing.severity, priority=existing.priority, issue_key=None,
                          key_field=key_field, tag_prefix=mappings.ticket_key_field.tag_prefix,
                          replaced_key=gone.issue_key or gone.issue_id),
        ]
    actions += [RelateTask(key=f"relate-task:{label}:{task}", issue_key=None, task_key=task,
                           link_type=mappings.jira.relates_link) for task in inputs.task_keys]
    actions += _error_links(inputs, label, None)
    # An acknowledgement that never went out (its run failed): under its own key, once.
    actions += [replace(a, issue_key=None) for a in _unfinished_ticket_side(inputs, policy)
                if isinstance(a, Acknowledge)]
    if inputs.pager and existing.pages_sent == 0 and existing.severity == policy.profile.highest:
        actions.append(PageOnCall(key=f"page:{existing.label}", issue_key=None))
    decision.actions, decision.label = actions, label
    return decision


# ------------------------------------------------------------------- --into KEY --
def _plan_join(inputs: EscalationInputs, policy: Policy) -> EscalationPlan:
    bug, ticket, helpdesk = inputs.bug, inputs.ticket, inputs.helpdesk
    owner = inputs.bug_escalation
    decision = _decide(inputs, policy, bug_priority=bug.priority if owner is None else None)
    if owner is not None:
        decision.severity, decision.priority = owner.severity, owner.priority
    decision.label = owner.label if owner else f"{policy.mappings.jira.label_prefix}-jira-{bug.id}"
    decision.bug_key, decision.bug_url = bug.key, bug.url
    decision.refusal = _refusal(inputs, policy)
    if decision.refusal:
        return decision
    actions: list[Action] = []
    if owner is None:
        actions.append(AdoptBug(key=f"adopt:{bug.id}", issue_id=bug.id, issue_key=bug.key, issue_url=bug.url,
                                label=decision.label, intent=_intent(inputs, policy, decision, decision.label)))
    is_origin = owner is None or (owner.origin_ticket_id == ticket.id and owner.origin_helpdesk == helpdesk.kind)
    actions.append(LinkTicket(key=f"link:{helpdesk.kind}:{ticket.id}", helpdesk=helpdesk.kind, ticket_id=ticket.id,
                              role="origin" if is_origin else "joined", locale=ticket.locale, tier=decision.tier))
    actions += _ticket_side(inputs, policy, decision, bug_key=bug.key)
    if owner is not None and not is_origin:
        org = policy.redact(ticket.organization or "an unnamed organization")
        mark = f"[bridge:{helpdesk.kind}:{ticket.id}]"
        actions.append(CommentOnBug(
            key=f"join-note:{helpdesk.kind}:{ticket.id}:{bug.id}", issue_key=bug.key,
            body=(f"Another customer is affected: {helpdesk.service} ticket #{ticket.id} ({org}, tier "
                  f"{decision.tier}). {ticket.url or helpdesk.ticket_url} {mark}"), look_first=True))
    count = (owner.affected_count if owner else 0) + (0 if inputs.already_linked else 1)
    decision.affected_count = max(count, 1)
    counter_field = policy.mappings.jira.affected_customers_field
    if counter_field:
        actions.append(SetBugFields(key=f"affected:{bug.id}:{decision.affected_count}", issue_key=bug.key,
                                    fields={counter_field: decision.affected_count}))
    actions += _error_links(inputs, decision.label, bug.key)
    decision.actions = actions
    return decision


# ------------------------------------------------------------------------- small --
def _as_label(text: str) -> str:
    """A JIRA label from free text: lower case, no spaces (JIRA splits labels on them)."""
    return re.sub(r"[^a-z0-9_.-]+", "-", text.strip().lower()).strip("-")[:255]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="minutes") if value else None

