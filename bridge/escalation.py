"""`bridge escalate`: turn a helpdesk ticket into a JIRA Bug, or attach it to one.

The flow, and why each step is safe to repeat after a crash, a time-out or a retry:

1. **Read and decide** (no writes): the ticket and its conversation, who is escalating,
   the severity, priority, tier and SLA targets, the redacted summary and description.
   ``--dry-run`` stops here and returns the plan.
2. **Record the intent** in the store *before* JIRA is called: a row keyed by a
   deterministic label (``bridge-zendesk-123``) that also goes on the Bug.
3. **Find or create the Bug**: a known issue id is re-read; otherwise JIRA is searched by
   the label first; only then is the Bug created. If the create fails in a way that may
   have been applied (time-out, dropped connection, 5xx), the label is searched again, with
   pauses because JIRA's search lags, before anything else happens. So however the run
   dies, the next run finds the Bug instead of making a second one.
4. **Link both ways**: a remote link from the Bug to the ticket (JIRA upserts it by a
   deterministic ``globalId``), then an internal note with the key and a public
   acknowledgement on the ticket. Each ticket write carries a marker tag in the same call
   and is applied with the ticket version just read; a run that finds the marker already
   on the ticket skips the write. So the customer is acknowledged exactly once.
5. **Mark complete**. Re-running on a complete escalation reads nothing and writes nothing.

``--into KEY`` attaches a further ticket to an existing Bug: the same step 4, an internal
JIRA comment that another customer is affected (itself guarded by a marker in the comment
text) and the affected-customers count on the Bug set from the store.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from bridge.connectors.base import Conflict, Helpdesk, TicketWrite
from bridge.connectors.jira import JiraTracker
from bridge.errors import InvalidValue, ItemFailed, NotAllowed, ServiceUnreachable
from bridge.models import Issue, Ticket

#: Pauses between searches for a Bug whose create may have been applied (search lags).
RECONCILE_PAUSES_S = (0.5, 1.0, 2.0, 4.0)
#: How many times a ticket write is retried after an optimistic-concurrency conflict.
CONFLICT_RETRIES = 3
#: JIRA refuses descriptions over 32,767 characters; stay well below.
DESCRIPTION_LIMIT = 30_000
COMMENT_EXCERPT = 2_000

ACK_TAG = "bridge_acknowledged"
ESCALATED_TAG = "bridge_escalated"


@dataclass
class EscalationRequest:
    """What the escalation manager asked for."""

    ticket: str
    actor: str
    severity: str | None = None
    urgency: str | None = None
    impact: str | None = None
    emergency: bool = False
    into: str | None = None
    force: bool = False
    dry_run: bool = False


@dataclass
class EscalationResult:
    """What happened (or, with ``dry_run``, what would happen)."""

    ticket: str
    helpdesk: str
    jira_key: str | None
    jira_url: str | None
    created: bool
    severity: str
    priority: str
    tier: str
    dry_run: bool = False
    steps: list[str] = field(default_factory=list)
    plan: dict[str, Any] = field(default_factory=dict)
    first_response_due: str | None = None
    next_update_due: str | None = None
    affected_count: int | None = None

    def as_json(self) -> dict[str, Any]:
        data = {
            "ticket": self.ticket, "helpdesk": self.helpdesk, "jira_key": self.jira_key,
            "jira_url": self.jira_url, "created": self.created, "severity": self.severity,
            "priority": self.priority, "tier": self.tier, "dry_run": self.dry_run,
            "steps": self.steps, "first_response_due": self.first_response_due,
            "next_update_due": self.next_update_due, "affected_count": self.affected_count,
        }
        if self.dry_run:
            data["plan"] = self.plan
        return data


@dataclass
class Decision:
    """Everything decided in step 1, before any write."""

    ticket: Ticket
    label: str
    severity: str
    severity_reason: str
    priority: str
    tier: str
    fields: dict[str, Any]
    first_response_due: datetime | None
    next_update_due: datetime | None
    status_update_every: str | None


class Escalator:
    """Carries out escalations. Collaborators are passed in, so tests hand it real
    connectors pointed at loopback services and a real store."""

    def __init__(self, *, helpdesk: Helpdesk, tracker: JiraTracker, store, mappings, profile,
                 redactor, messages, clock: Callable[[], datetime] | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.helpdesk = helpdesk
        self.tracker = tracker
        self.store = store
        self.mappings = mappings
        self.profile = profile
        self.redactor = redactor
        self.messages = messages
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.sleep = sleep

    # ---------------------------------------------------------------- entry point --
    def escalate(self, request: EscalationRequest) -> EscalationResult:
        ticket_id = self.helpdesk.validate_ticket_id(request.ticket)
        kind = self.helpdesk.kind
        if request.into:
            return self._join(ticket_id, request)

        existing = self.store.escalation_by_ticket(kind, ticket_id)
        if existing is not None and existing.state == "complete":
            return self._result_from_row(existing, ticket_id, created=False, steps=["already escalated: nothing to do"])

        ticket = self.helpdesk.get_ticket(ticket_id)
        self._authorize(request, ticket)
        decision = self._decide(ticket, request)
        if request.dry_run:
            return self._plan_result(decision, request)

        escalation, inserted = self.store.record_intent(
            label=decision.label, origin_helpdesk=kind, origin_ticket_id=ticket_id,
            severity=decision.severity, priority=decision.priority, profile=self.profile.name,
            tier=decision.tier, organization=ticket.organization, escalated_by=request.actor,
            opened_at=ticket.created or self.clock(), locale=ticket.locale, requester_tier=decision.tier,
        )
        if not inserted and escalation.label != decision.label:
            # The ticket joined another Bug earlier (`--into`): that is its escalation.
            return self._result_from_row(escalation, ticket_id, created=False,
                                         steps=[f"already linked to {escalation.jira_key}: nothing to do"])
        steps: list[str] = []
        issue, created = self._ensure_issue(escalation, decision, steps)
        escalation = self.store.mark_created(escalation.id, jira_issue_id=issue.id, jira_key=issue.key,
                                             jira_url=issue.url)
        self._finish_ticket(escalation, issue, ticket, steps, decision=decision)
        self.store.mark_complete(escalation.id)
        self.store.audit(request.actor, "escalate", f"{kind}:{ticket_id}", "ok", f"{issue.key} created={created}")
        return EscalationResult(
            ticket=ticket_id, helpdesk=kind, jira_key=issue.key, jira_url=issue.url, created=created,
            severity=decision.severity, priority=decision.priority, tier=decision.tier, steps=steps,
            first_response_due=_iso(decision.first_response_due), next_update_due=_iso(decision.next_update_due),
            affected_count=1,
        )

    # ------------------------------------------------------------------ deciding --
    def _authorize(self, request: EscalationRequest, ticket: Ticket) -> None:
        rules = self.mappings.escalation
        target = f"{self.helpdesk.kind}:{ticket.id}"
        if rules.allowed_actors or rules.allowed_groups:
            groups = self.helpdesk.user_groups(request.actor) if rules.allowed_groups else []
            if not rules.actor_allowed(request.actor, groups):
                self.store.audit(request.actor, "escalate", target, "denied", "actor not allowed by the mappings")
                raise NotAllowed(
                    f"{request.actor} may not escalate tickets",
                    hint="escalation.allowed_actors / allowed_groups in the mappings name who may",
                )
        if ticket.is_closed and rules.refuse_closed and not request.force:
            self.store.audit(request.actor, "escalate", target, "denied", f"ticket is {ticket.status}")
            raise NotAllowed(f"ticket {ticket.id} is {ticket.status}", hint="use --force to escalate it anyway")

    def _decide(self, ticket: Ticket, request: EscalationRequest) -> Decision:
        from bridge.policy import severity as severity_policy
        from bridge.policy import sla

        if request.emergency:
            severity, reason = severity_policy.highest(self.profile), "--emergency"
        else:
            classification = severity_policy.classify(
                self.profile, explicit=request.severity, urgency=request.urgency, impact=request.impact,
                subject=ticket.subject, ticket_priority=ticket.priority,
                priority_map=dict(self.mappings.helpdesk_priority),
                subject_rules=self._subject_rules(),
            )
            severity, reason = classification.severity, classification.reason
        severity_map = self.mappings.severities.get(severity)
        if severity_map is None:
            raise InvalidValue(f"severity {severity!r} has no JIRA priority in the mappings",
                               hint=f"add severities.{severity}.jira_priority")
        tier = self._tier(ticket)
        due = sla.due(self.profile, severity, tier, ticket.created or self.clock())
        label = f"{self.mappings.jira.label_prefix}-{self.helpdesk.kind}-{ticket.id}"
        decision = Decision(
            ticket=ticket, label=label, severity=severity, severity_reason=reason,
            priority=severity_map.jira_priority, tier=tier, fields={},
            first_response_due=due.first_response_due,
            next_update_due=due.next_update_due,
            status_update_every=sla.format_duration(due.status_update_every),
        )
        decision.fields = self._bug_fields(decision)
        return decision

    def _bug_fields(self, d: Decision) -> dict[str, Any]:
        jira = self.mappings.jira
        fields: dict[str, Any] = {
            "project": {"key": jira.project},
            "issuetype": {"name": jira.bug_type},
            "summary": self.redactor.redact(d.ticket.subject)[:250] or f"Escalated ticket {d.ticket.id}",
            "description": self._description(d),
            "priority": {"name": d.priority},
            "labels": [d.label, jira.label_prefix],
        }
        computed = {"tier": d.tier, "affected_count": 1}
        for name, mapping in self.mappings.fields.items():
            value = computed[name] if name in computed else mapping.read(d.ticket)
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
                fields[mapping.to] = self.redactor.redact(value) if isinstance(value, str) else value
        return fields

    def _description(self, d: Decision) -> str:
        """A summary of the conversation for engineers; customer PII redacted."""
        t = d.ticket
        redact = self.redactor.redact
        lines = [
            f"Escalated from {self.helpdesk.service} ticket {t.id}: {t.url}",
            f"Organization: {t.organization or 'unknown'} · tier: {d.tier}",
            f"Severity: {d.severity} ({d.severity_reason}) · priority: {d.priority} · policy: {self.profile.name}",
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

    def _subject_rules(self) -> list:
        """The mappings' subject rules in the policy's form (team rules before the profile's)."""
        from bridge.policy.profiles import SubjectRule

        return [
            SubjectRule(severity=r.severity, contains=r.pattern) if r.match == "contains"
            else SubjectRule(severity=r.severity, pattern=r.pattern)
            for r in self.mappings.subject_rules
        ]

    def _tier(self, ticket: Ticket) -> str:
        return self.mappings.tiers.tier_for(ticket.organization, ())

    # ------------------------------------------------------------------ the Bug --
    def _ensure_issue(self, escalation, decision: Decision, steps: list[str]) -> tuple[Issue, bool]:
        if escalation.jira_issue_id:
            issue = self.tracker.issue(escalation.jira_issue_id)
            if issue is not None:
                steps.append(f"found {issue.key} recorded for this ticket")
                return issue, False
        found = self.tracker.find_by_label(decision.label)
        if found:
            steps.append(f"found {found[0].key} by its label {decision.label}")
            return found[0], False
        try:
            issue = self.tracker.create_issue(decision.fields)
        except ServiceUnreachable as exc:
            if not exc.maybe_applied:
                raise
            # The create may have happened: look for it before anything else is tried.
            for pause in RECONCILE_PAUSES_S:
                self.sleep(pause)
                found = self.tracker.find_by_label(decision.label)
                if found:
                    steps.append(f"create answered '{exc.message}', but JIRA had made {found[0].key}")
                    return found[0], False
            raise ItemFailed(
                f"JIRA may have created the Bug for {decision.label} but does not show it yet",
                hint="run the same `bridge escalate` again: it finds the Bug by its label before creating one",
            ) from None
        steps.append(f"created {issue.key}")
        return issue, True

    # ------------------------------------------------------------- ticket side --
    def _finish_ticket(self, escalation, issue: Issue, ticket: Ticket, steps: list[str], *,
                       decision: Decision | None = None) -> None:
        kind = self.helpdesk.kind
        self.tracker.add_remote_link(
            issue.key,
            global_id=f"bridge:{kind}:{self.helpdesk.base_url}:ticket:{ticket.id}",
            url=ticket.url or self.helpdesk.ticket_url(ticket.id),
            title=f"{self.helpdesk.service} ticket #{ticket.id}",
        )
        steps.append(f"remote link {issue.key} → {self.helpdesk.service} #{ticket.id}")

        note = (f"Escalated to JIRA as {issue.key}: {issue.url}\n"
                f"Severity {escalation.severity}, JIRA priority {escalation.priority}. "
                "Engineering's progress will be mirrored on this ticket.")
        key_field = self.mappings.ticket_key_field.field.get(kind)
        fields = {key_field: issue.key} if key_field else {}
        # The key tag (``jira_sup-12``) marks the note; without one configured, a generic tag does.
        marker = self.mappings.ticket_key_field.tag_for(issue.key) or ESCALATED_TAG
        self._write_once(ticket.id, marker=marker, outbox_key=f"note:{kind}:{ticket.id}",
                         escalation_id=escalation.id, change=TicketWrite(
                             comment=note, public=False, add_tags=tuple(dict.fromkeys((marker, ESCALATED_TAG))),
                             fields=fields),
                         steps=steps, done=f"internal note with {issue.key}")

        ack = self.messages.render(
            "acknowledgement", ticket.locale,
            ticket_id=ticket.id, subject=ticket.subject, severity=escalation.severity,
            next_update=_human(decision.next_update_due if decision else None),
            first_response_due=_human(decision.first_response_due if decision else None),
            jira_key=issue.key if self.mappings.messages.show_jira_key_to_customer else None,
        )
        self._write_once(ticket.id, marker=ACK_TAG, outbox_key=f"ack:{kind}:{ticket.id}",
                         escalation_id=escalation.id,
                         change=TicketWrite(comment=ack, public=True, add_tags=(ACK_TAG,)),
                         steps=steps, done="public acknowledgement")

    def _write_once(self, ticket_id: str, *, marker: str, outbox_key: str, escalation_id: int,
                    change: TicketWrite, steps: list[str], done: str) -> None:
        """Apply ``change`` unless the ticket already carries ``marker``.

        The marker is in ``change.add_tags`` so it lands in the same call as the message;
        the write is conditional on the version just read, so two runs cannot both send.
        """
        target = f"{self.helpdesk.kind}:{ticket_id}"
        # The outbox records the intent; the marker on the ticket decides, because a run
        # may have died after the helpdesk applied the write and before the outbox heard.
        self.store.outbox_claim(outbox_key, escalation_id=escalation_id, target=target,
                                kind="public_reply" if change.public else "internal_note")
        for _ in range(CONFLICT_RETRIES + 1):
            current = self.helpdesk.get_ticket(ticket_id)
            if marker in current.tags:
                self.store.outbox_done(outbox_key)
                steps.append(f"{done}: already on the ticket")
                return
            try:
                self.helpdesk.write(ticket_id, _with_version(change, current.version))
            except Conflict:
                continue
            except Exception as exc:
                self.store.outbox_failed(outbox_key, str(exc))
                raise
            self.store.outbox_done(outbox_key)
            self.store.audit("bridge", change.public and "public_reply" or "internal_note", target, "ok", done)
            steps.append(done)
            return
        raise ItemFailed(f"ticket {ticket_id} kept changing while the bridge wrote to it", hint="run again")

    # --------------------------------------------------------------- --into KEY --
    def _join(self, ticket_id: str, request: EscalationRequest) -> EscalationResult:
        kind = self.helpdesk.kind
        issue = self.tracker.issue(request.into)
        if issue is None:
            raise InvalidValue(f"JIRA has no issue {request.into!r} (or the bridge's user cannot see it)",
                               hint="check the key given to --into")
        existing = self.store.escalation_by_ticket(kind, ticket_id)
        if existing is not None and existing.jira_issue_id != issue.id:
            raise NotAllowed(f"ticket {ticket_id} is already escalated as {existing.jira_key}")
        ticket = self.helpdesk.get_ticket(ticket_id)
        self._authorize(request, ticket)
        escalation = self.store.escalation_by_issue(issue.id)
        if escalation is None:
            # A Bug the bridge did not create: adopt it, keyed by its id.
            escalation, _ = self.store.record_intent(
                label=f"{self.mappings.jira.label_prefix}-jira-{issue.id}", origin_helpdesk=kind,
                origin_ticket_id=ticket_id, severity=request.severity or "unknown",
                priority=issue.priority or "", profile=self.profile.name,
                tier=self._tier(ticket), organization=ticket.organization,
                escalated_by=request.actor, opened_at=ticket.created or self.clock(),
                locale=ticket.locale, requester_tier=self._tier(ticket),
            )
            escalation = self.store.mark_created(escalation.id, jira_issue_id=issue.id, jira_key=issue.key,
                                                 jira_url=issue.url)
            self.store.mark_complete(escalation.id)
        tier = self._tier(ticket)
        if request.dry_run:
            return EscalationResult(ticket=ticket_id, helpdesk=kind, jira_key=issue.key, jira_url=issue.url,
                                    created=False, severity=escalation.severity, priority=escalation.priority,
                                    tier=tier, dry_run=True,
                                    plan={"join": issue.key, "ticket": ticket_id})
        role = "origin" if escalation.origin_ticket_id == ticket_id and escalation.origin_helpdesk == kind else "joined"
        self.store.link_ticket(escalation.id, kind, ticket_id, role=role, locale=ticket.locale, requester_tier=tier)
        escalation = self.store.escalation(escalation.id)
        steps: list[str] = []
        self._finish_ticket(escalation, issue, ticket, steps)

        marker = f"[bridge:{kind}:{ticket_id}]"
        if not any(marker in c.body for c in self.tracker.comments(issue.key)):
            org = self.redactor.redact(ticket.organization or "an unnamed organization")
            self.tracker.add_comment(
                issue.key,
                f"Another customer is affected: {self.helpdesk.service} ticket #{ticket_id} ({org}, tier {tier}). "
                f"{ticket.url} {marker}",
                internal=True,
            )
            steps.append(f"internal JIRA comment: another customer affected")
        count = escalation.affected_count
        counter_field = self.mappings.jira.affected_customers_field
        if counter_field:
            self.tracker.update_fields(issue.key, {counter_field: count})
            steps.append(f"affected customers on {issue.key}: {count}")
        self.store.audit(request.actor, "escalate-into", f"{kind}:{ticket_id}", "ok", issue.key)
        return EscalationResult(ticket=ticket_id, helpdesk=kind, jira_key=issue.key, jira_url=issue.url,
                                created=False, severity=escalation.severity, priority=escalation.priority,
                                tier=tier, steps=steps, affected_count=count)

    # ------------------------------------------------------------------ results --
    def _result_from_row(self, row, ticket_id: str, *, created: bool, steps: list[str]) -> EscalationResult:
        return EscalationResult(ticket=ticket_id, helpdesk=self.helpdesk.kind, jira_key=row.jira_key,
                                jira_url=row.jira_url, created=created, severity=row.severity,
                                priority=row.priority, tier=row.tier, steps=steps,
                                affected_count=row.affected_count)

    def _plan_result(self, d: Decision, request: EscalationRequest) -> EscalationResult:
        plan = {
            "label": d.label,
            "jira_fields": d.fields,
            "severity_reason": d.severity_reason,
            "writes": [
                "record intent in the store",
                f"create a {self.mappings.jira.bug_type} in {self.mappings.jira.project} (unless one carries {d.label})",
                f"remote link from the Bug to {self.helpdesk.service} ticket {d.ticket.id}",
                "internal note with the JIRA key on the ticket",
                "public acknowledgement to the customer",
            ],
        }
        return EscalationResult(ticket=d.ticket.id, helpdesk=self.helpdesk.kind, jira_key=None, jira_url=None,
                                created=False, severity=d.severity, priority=d.priority, tier=d.tier,
                                dry_run=True, plan=plan, first_response_due=_iso(d.first_response_due),
                                next_update_due=_iso(d.next_update_due))


def _as_label(text: str) -> str:
    """A JIRA label from free text: lower case, no spaces (JIRA splits labels on them)."""
    return re.sub(r"[^a-z0-9_.-]+", "-", text.strip().lower()).strip("-")[:255]


def _with_version(change: TicketWrite, version: str | None) -> TicketWrite:
    from dataclasses import replace

    return replace(change, if_version=version)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="minutes") if value else None


def _human(value: datetime | None) -> str | None:
    """A customer-readable time; the zone is spelled out so nobody has to guess."""
    return value.strftime("%A %d %B %Y, %H:%M %Z").replace(" 0", " ") if value else None
