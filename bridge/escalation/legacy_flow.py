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

**Sentry issues** named with ``--sentry REF`` or found in the conversation (agents paste
them into internal notes) are filed as JIRA Tasks related to the Bug by
:class:`bridge.sentry_tasks.SentryLinker`, once the Bug exists and before the ticket is
written to — never as anything on the ticket (policy 001). A malformed ``--sentry`` exits
2 before anything is written; a Sentry issue that cannot be linked undoes nothing: it is
audited, reported to self-monitoring, listed in ``sentry_tasks`` and ``failures`` (exit 1).

**Paging on-call** (policy 000: "Using the Escalate button will move your ticket to the
highest Severity Level and an engineer will be paged"). An escalation at the profile's
highest severity pages on-call once, whatever made it the highest: ``--emergency`` (the
Escalate button), an explicit ``--severity``, or a subject rule such as ``[Emergency]``;
the document promises the highest severity a 1-hour response around the clock, which only
a page can keep outside support hours. Once: the escalation's ``pages_sent`` counter and an
outbox entry ``page:<label>`` are written before (claim) and after (done) the send; a run
that finds the counter set sends nothing. The page's ``dedup_key`` is the label, so a page
re-sent after a crash between send and record folds into the same PagerDuty alert. A
failed page does not undo the escalation: it is recorded (outbox, audit), reported in
``failures`` (the CLI exits 1) and the next run of the same command sends it.
``--emergency`` on a ticket already escalated at a lower severity raises the Bug to the
highest mapped JIRA priority, records the new severity, then pages once.

**Who may escalate** (``escalation`` in the mappings): the actor must be in
``allowed_actors`` or an agent of one of ``allowed_groups`` (both empty: anyone), and with
``require_active_admin_requester`` (policy 003: "support requests can only be submitted by
active Admins associated with your account") the ticket's requester must be an active
admin of their account (:meth:`bridge.mapping.EscalationRules.requester_refusal`). A
refusal exits 2 and is recorded in the audit trail as ``denied``.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from bridge.connectors.base import Conflict, Helpdesk, TicketWrite
from bridge.connectors.jira import JiraTracker
from bridge.errors import ConfigError, InvalidValue, ItemFailed, NotAllowed
from bridge.models import Issue, Ticket
from bridge.errors import BridgeError
from bridge.paging import Page, Pager

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
    #: Sentry references (URL, short id, numeric id) to file as Tasks related to the Bug.
    sentry: tuple[str, ...] = ()


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
    #: Whether on-call was paged by this run (None: no page was due).
    paged: bool | None = None
    #: Steps that failed without undoing the escalation (e.g. the page); the CLI exits 1.
    failures: list[str] = field(default_factory=list)
    #: One entry per Sentry issue linked (or not: ``error``) by this run.
    sentry_tasks: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        data = {
            "ticket": self.ticket, "helpdesk": self.helpdesk, "jira_key": self.jira_key,
            "jira_url": self.jira_url, "created": self.created, "severity": self.severity,
            "priority": self.priority, "tier": self.tier, "dry_run": self.dry_run,
            "steps": self.steps, "first_response_due": self.first_response_due,
            "next_update_due": self.next_update_due, "affected_count": self.affected_count,
            "paged": self.paged, "failures": self.failures, "sentry_tasks": self.sentry_tasks,
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
                 sleep: Callable[[float], None] = time.sleep, pager: Pager | None = None,
                 gate=None, sentry_linker=None) -> None:
        self.helpdesk = helpdesk
        self.tracker = tracker
        self.store = store
        self.mappings = mappings
        self.profile = profile
        self.redactor = redactor
        self.messages = messages
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.sleep = sleep
        #: None: paging is off (``[pager] kind = "none"``).
        self.pager = pager
        #: The outbound gate cleans the page summary of Sentry references (None: the page
        #: carries no ticket text at all).
        self.gate = gate
        #: Files Sentry issues as Tasks (None: Sentry is not configured; --sentry is refused).
        self.sentry_linker = sentry_linker

    # ---------------------------------------------------------------- entry point --
    def escalate(self, request: EscalationRequest) -> EscalationResult:
        ticket_id = self.helpdesk.validate_ticket_id(request.ticket)
        kind = self.helpdesk.kind
        self._check_sentry_refs(request)
        if request.into:
            return self._sentry_afterwards(self._join(ticket_id, request), request, ticket_id, scan=True)

        existing = self.store.escalations.by_ticket(kind, ticket_id)
        if existing is not None and existing.state == "complete":
            return self._sentry_afterwards(self._revisit(existing, ticket_id, request), request, ticket_id,
                                           scan=False)

        ticket = self.helpdesk.get_ticket(ticket_id)
        self._authorize(request, ticket)
        decision = self._decide(ticket, request)
        if request.dry_run:
            return self._plan_result(decision, request)

        escalation, inserted = self.store.escalations.record_intent(
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
        escalation = self.store.escalations.mark_created(escalation.id, jira_issue_id=issue.id, jira_key=issue.key,
                                             jira_url=issue.url)
        sentry_tasks, sentry_failures = self._link_sentry(escalation, issue, request, ticket=ticket, steps=steps)
        self._finish_ticket(escalation, issue, ticket, steps, decision=decision)
        escalation = self.store.escalations.mark_complete(escalation.id)
        self.store.audit.record(request.actor, "escalate", f"{kind}:{ticket_id}", "ok", f"{issue.key} created={created}")
        paged, failures = self._page_once(escalation, ticket, request.actor, steps)
        return EscalationResult(
            ticket=ticket_id, helpdesk=kind, jira_key=issue.key, jira_url=issue.url, created=created,
            severity=decision.severity, priority=decision.priority, tier=decision.tier, steps=steps,
            first_response_due=_iso(decision.first_response_due), next_update_due=_iso(decision.next_update_due),
            affected_count=1, paged=paged, failures=sentry_failures + failures, sentry_tasks=sentry_tasks,
        )

    # ------------------------------------------------------------------ deciding --
    def _authorize(self, request: EscalationRequest, ticket: Ticket) -> None:
        rules = self.mappings.escalation
        target = f"{self.helpdesk.kind}:{ticket.id}"
        if rules.allowed_actors or rules.allowed_groups:
            groups = self.helpdesk.user_groups(request.actor) if rules.allowed_groups else []
            if not rules.actor_allowed(request.actor, groups):
                self.store.audit.record(request.actor, "escalate", target, "denied", "actor not allowed by the mappings")
                raise NotAllowed(
                    f"{request.actor} may not escalate tickets",
                    hint="escalation.allowed_actors / allowed_groups in the mappings name who may",
                )
        refusal = rules.requester_refusal(ticket)
        if refusal is not None:
            # The audit detail names no customer: the requester's name stays on the helpdesk.
            self.store.audit.record(request.actor, "escalate", target, "denied",
                             "requester is not an active admin of the account (policy 003)")
            raise NotAllowed(
                f"ticket {ticket.id} may not be escalated: {refusal}",
                hint="the support policy accepts requests only from active admins of the customer's "
                     f"account (a true user field or a user tag {rules.account_admin_marker!r}); "
                     "escalation.require_active_admin_requester in the mappings turns this off",
            )
        if ticket.is_closed and rules.refuse_closed and not request.force:
            self.store.audit.record(request.actor, "escalate", target, "denied", f"ticket is {ticket.status}")
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
                subject_rules=self.mappings.subject_rules,
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
            # One line: JIRA refuses a summary with line breaks (helpdesks allow them).
            "summary": " ".join(self.redactor.redact(d.ticket.subject).split())[:250] or f"Escalated ticket {d.ticket.id}",
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

    def _tier(self, ticket: Ticket) -> str:
        # By organization name, else by the organization's tags (Zendesk org tag `premium`).
        return self.mappings.tiers.tier_for(ticket.organization, ticket.organization_tags)

    # ------------------------------------------------------------------ the Bug --
    def _ensure_issue(self, escalation, decision: Decision, steps: list[str]) -> tuple[Issue, bool]:
        if escalation.jira_issue_id:
            issue = self.tracker.issue(escalation.jira_issue_id)
            if issue is not None:
                steps.append(f"found {issue.key} recorded for this ticket")
                return issue, False
        issue, how = self.tracker.create_once(decision.label, decision.fields, what="Bug", sleep=self.sleep)
        steps.append(self.tracker.describe_create(how, issue, decision.label))
        return issue, how == "created"

    # ------------------------------------------------------------- ticket side --
    def _finish_ticket(self, escalation, issue: Issue, ticket: Ticket, steps: list[str], *,
                       decision: Decision | None = None) -> None:
        kind = self.helpdesk.kind
        # Sync mirrors to JIRA what the customer writes from now on, not the history.
        from bridge.sync.engine import remember_conversation

        remember_conversation(self.store, ticket)
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
        # The SLA clock (`bridge sla`) reads the first response from this entry: the first
        # public agent reply already on the ticket, else the acknowledgement's own send time.
        first_reply = min((c.created for c in ticket.comments if c.public and not c.by_customer and c.created),
                          default=None)
        self._write_once(ticket.id, marker=ACK_TAG, outbox_key=f"ack:{kind}:{ticket.id}",
                         escalation_id=escalation.id,
                         payload={"first_response_at": first_reply.isoformat()} if first_reply else None,
                         change=TicketWrite(comment=ack, public=True, add_tags=(ACK_TAG,)),
                         steps=steps, done="public acknowledgement")

    def _write_once(self, ticket_id: str, *, marker: str, outbox_key: str, escalation_id: int,
                    change: TicketWrite, steps: list[str], done: str, payload: dict | None = None) -> None:
        """Apply ``change`` unless the ticket already carries ``marker``.

        The marker is in ``change.add_tags`` so it lands in the same call as the message;
        the write is conditional on the version just read, so two runs cannot both send.
        """
        target = f"{self.helpdesk.kind}:{ticket_id}"
        # The outbox records the intent; the marker on the ticket decides, because a run
        # may have died after the helpdesk applied the write and before the outbox heard.
        self.store.outbox.claim(outbox_key, escalation_id=escalation_id, target=target,
                                kind="public_reply" if change.public else "internal_note", payload=payload)
        for _ in range(CONFLICT_RETRIES + 1):
            current = self.helpdesk.get_ticket(ticket_id)
            if marker in current.tags:
                self.store.outbox.done(outbox_key)
                steps.append(f"{done}: already on the ticket")
                return
            try:
                self.helpdesk.write(ticket_id, _with_version(change, current.version))
            except Conflict:
                continue
            except Exception as exc:
                self.store.outbox.failed(outbox_key, str(exc))
                raise
            self.store.outbox.done(outbox_key)
            self.store.audit.record("bridge", change.public and "public_reply" or "internal_note", target, "ok", done)
            if change.public:
                # The acknowledgement is the customer's first update: SLA clocks and
                # `bridge status` count from it.
                self.store.links.record_public_update(self.helpdesk.kind, ticket_id, at=self.clock())
            steps.append(done)
            return
        raise ItemFailed(f"ticket {ticket_id} kept changing while the bridge wrote to it", hint="run again")

    # ----------------------------------------------------- emergency and paging --
    def _revisit(self, existing, ticket_id: str, request: EscalationRequest) -> EscalationResult:
        """A complete escalation: nothing to do, unless ``--emergency`` raises it or a page
        is still owed (an earlier page failed). Reads nothing when there is nothing to do."""
        highest = self.profile.highest
        page_owed = (self.pager is not None and existing.pages_sent == 0
                     and (existing.severity == highest or request.emergency))
        if not request.emergency and not page_owed:
            return self._result_from_row(existing, ticket_id, created=False,
                                         steps=["already escalated: nothing to do"])
        issue = self.tracker.issue(existing.jira_issue_id) if existing.jira_issue_id else None
        if issue is None:
            raise ItemFailed(f"the Bug {existing.jira_key} of ticket {ticket_id} cannot be read in JIRA",
                             hint="check that it still exists and the bridge's user can see it")
        priority = self.mappings.jira_priority(highest)
        raise_bug = request.emergency and (issue.priority != priority or existing.severity != highest)
        if not raise_bug and not page_owed:
            return self._result_from_row(existing, ticket_id, created=False,
                                         steps=["already escalated at the highest severity: nothing to do"])
        ticket = self.helpdesk.get_ticket(ticket_id)
        self._authorize(request, ticket)
        steps: list[str] = []
        if request.dry_run:
            plan = {"writes": ([f"set {issue.key} priority to {priority} and the severity to {highest}"]
                               if raise_bug else []) + (["page on-call once"] if self.pager else [])}
            return EscalationResult(ticket=ticket_id, helpdesk=self.helpdesk.kind, jira_key=issue.key,
                                    jira_url=issue.url, created=False, severity=highest if raise_bug else existing.severity,
                                    priority=priority if raise_bug else existing.priority, tier=existing.tier or "",
                                    dry_run=True, plan=plan)
        if raise_bug:
            existing = self._raise_to_highest(existing, issue, priority, request.actor, steps)
        paged, failures = self._page_once(existing, ticket, request.actor, steps)
        result = self._result_from_row(existing, ticket_id, created=False, steps=steps)
        result.paged, result.failures = paged, failures
        return result

    def _raise_to_highest(self, escalation, issue: Issue, priority: str, actor: str, steps: list[str]):
        """``--emergency`` after the fact: the Bug to the highest priority, then the store.

        JIRA first: setting a priority is idempotent, so a run that dies between the two
        writes sets it again next time and then records the severity.
        """
        highest = self.profile.highest
        if issue.priority != priority:
            self.tracker.update_fields(issue.key, {"priority": {"name": priority}})
            steps.append(f"{issue.key} priority {issue.priority or 'none'} → {priority}")
        before = escalation.severity
        escalation = self.store.escalations.set_severity(escalation.id, severity=highest, priority=priority)
        self.store.audit.record(actor, "escalate-emergency", f"{self.helpdesk.kind}:{escalation.origin_ticket_id}",
                         "ok", f"{issue.key} severity {before} → {highest}")
        steps.append(f"severity {before} → {highest}")
        return escalation

    def _page_once(self, escalation, ticket: Ticket, actor: str, steps: list[str]) -> tuple[bool | None, list[str]]:
        """Page on-call for an escalation at the highest severity, once (module docstring).

        Returns ``(paged, failures)``: ``paged`` is None when no page was due, True when this
        run paged (or found the page already sent), False when the page failed.
        """
        if self.pager is None or escalation.severity != self.profile.highest:
            return None, []
        if escalation.pages_sent > 0:
            steps.append("on-call already paged")
            return True, []
        key = f"page:{escalation.label}"
        target = f"pager:{self.pager.kind}"
        if not self.store.outbox.claim(key, escalation_id=escalation.id, target=target, kind="page"):
            entry = self.store.outbox.get(key)
            if entry is not None and entry.state == "sent":
                # Sent, but the run died before counting it.
                self.store.escalations.add_pages_sent(escalation.id)
                steps.append("on-call already paged")
                return True, []
            # Pending: another run is paging right now, or one died mid-send. Sending again
            # is harmless: the same dedup_key folds into the same alert.
        try:
            receipt = self.pager.send(self._page(escalation, ticket))
        except BridgeError as exc:
            self.store.outbox.failed(key, str(exc))
            self.store.audit.record(actor, "page", target, "failed", f"{escalation.jira_key}: {exc}")
            steps.append(f"paging on-call failed: {exc}")
            return False, [f"the escalation {escalation.jira_key} stands, but paging on-call failed: {exc} "
                           "(run the same command again to retry the page)"]
        self.store.outbox.done(key)
        self.store.escalations.add_pages_sent(escalation.id)
        self.store.audit.record(actor, "page", target, "ok", f"{escalation.jira_key} dedup_key={receipt.dedup_key}")
        steps.append(f"paged on-call through {self.pager.describe()}")
        return True, []

    def _page(self, escalation, ticket: Ticket) -> Page:
        """The page: the Bug, the ticket reference, severity and tier. Customer text is
        redacted and cleaned of Sentry references; no customer name or address is added."""
        about = ""
        if self.gate is not None:
            about = self.gate.clean(self.redactor.redact(ticket.subject or "")).strip()
        kind = self.helpdesk.kind
        summary = f"Emergency escalation {escalation.jira_key} ({self.helpdesk.service} #{ticket.id})"
        if about:
            summary = f"{summary}: {about}"
        links = ((escalation.jira_url, f"JIRA {escalation.jira_key}"),) if escalation.jira_url else ()
        return Page(
            dedup_key=escalation.label,
            summary=summary,
            source=f"bridge:{kind}",
            details={
                "jira_key": escalation.jira_key, "jira_url": escalation.jira_url,
                "helpdesk": kind, "ticket": ticket.id, "ticket_url": self.helpdesk.ticket_url(ticket.id),
                "severity": escalation.severity, "priority": escalation.priority,
                "tier": escalation.tier, "policy": self.profile.name,
                "escalated_by": escalation.escalated_by,
            },
            links=links,
        )

    # ------------------------------------------------------------ Sentry issues --
    def _check_sentry_refs(self, request: EscalationRequest) -> None:
        """Refuse a malformed ``--sentry`` (exit 2) before anything is read or written."""
        if not request.sentry:
            return
        if self.sentry_linker is None:
            raise ConfigError("--sentry needs Sentry: set BRIDGE_SENTRY_TOKEN (and BRIDGE_SENTRY_URL, BRIDGE_SENTRY_ORG)")
        for ref in request.sentry:
            self.sentry_linker.sentry.parse(ref)

    def _sentry_afterwards(self, result: EscalationResult, request: EscalationRequest, ticket_id: str, *,
                           scan: bool) -> EscalationResult:
        """Link Sentry issues to the Bug of an escalation that was joined or revisited.

        A revisited (complete) escalation links only ``--sentry`` references: a re-run
        with nothing new to do reads nothing. A joined ticket's conversation is scanned.
        """
        if (result.dry_run or not result.jira_key or self.sentry_linker is None
                or not (request.sentry or scan)):
            return result
        escalation = self.store.escalations.by_key(result.jira_key)
        issue = self.tracker.issue(escalation.jira_issue_id) if escalation and escalation.jira_issue_id else None
        if escalation is None or issue is None:
            return result
        ticket = self.helpdesk.get_ticket(ticket_id) if scan else None
        tasks, failures = self._link_sentry(escalation, issue, request, ticket=ticket, steps=result.steps)
        result.sentry_tasks += tasks
        result.failures = failures + result.failures
        return result

    def _link_sentry(self, escalation, issue: Issue, request: EscalationRequest, *, ticket: Ticket | None,
                     steps: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
        """File the Sentry issues of ``--sentry`` and of the conversation as Tasks related to
        the Bug; returns ``(sentry_tasks, failures)``. Nothing is written to the ticket.

        Each Sentry issue is its own item: one that cannot be resolved or linked is audited,
        reported to self-monitoring and returned as a failure, and the others go on.
        """
        linker = self.sentry_linker
        if linker is None:
            return [], []
        from bridge import monitoring
        from bridge.sentry_tasks import LinkResult

        target = f"{self.helpdesk.kind}:{ticket.id if ticket is not None else escalation.origin_ticket_id}"
        refs: list = list(request.sentry)
        tasks: list[dict[str, Any]] = []
        failures: list[str] = []
        if ticket is not None:
            texts = [ticket.subject, ticket.description, *(c.body for c in ticket.comments)]
            try:
                found, skipped = linker.references_in(texts)
            except BridgeError as exc:
                monitoring.report_item_failure(exc, item=f"{target} sentry-references")
                self.store.audit.record(request.actor, "link-sentry", target, "failed", f"looking for references: {exc}")
                failures.append(f"the escalation {issue.key} stands, but Sentry references in the conversation "
                                f"were not looked for: {exc}")
            else:
                refs += [r for r in found if r not in refs]
                steps += skipped
        linked: set[str] = set()
        for ref in refs:
            shown = ref if isinstance(ref, str) else ref.value
            try:
                sentry_issue = linker.sentry.resolve(ref)
                if sentry_issue.id in linked:
                    continue  # the same issue by URL and by short id
                linked.add(sentry_issue.id)
                outcome = linker.link_issue(sentry_issue, issue, escalation_id=escalation.id,
                                            actor=request.actor, reference=shown)
            except Exception as exc:  # noqa: BLE001 - one Sentry issue must not undo the escalation
                monitoring.report_item_failure(exc, item=f"{target} sentry:{shown}")
                self.store.audit.record(request.actor, "link-sentry", f"sentry:{shown}", "failed", f"{issue.key}: {exc}")
                outcome = LinkResult(reference=shown, bug_key=issue.key, error=str(exc))
                failures.append(f"the escalation {issue.key} stands, but Sentry issue {shown} was not linked: "
                                f"{exc} (run `bridge link-sentry {shown} --issue {issue.key}`)")
            else:
                steps.append(f"Sentry {outcome.sentry_short_id or outcome.sentry_issue_id}: "
                             f"Task {outcome.task_key} relates to {issue.key}")
            tasks.append(outcome.as_json())
        return tasks, failures

    # --------------------------------------------------------------- --into KEY --
    def _join(self, ticket_id: str, request: EscalationRequest) -> EscalationResult:
        kind = self.helpdesk.kind
        issue = self.tracker.issue(request.into)
        if issue is None:
            raise InvalidValue(f"JIRA has no issue {request.into!r} (or the bridge's user cannot see it)",
                               hint="check the key given to --into")
        existing = self.store.escalations.by_ticket(kind, ticket_id)
        if existing is not None and existing.jira_issue_id != issue.id:
            raise NotAllowed(f"ticket {ticket_id} is already escalated as {existing.jira_key}")
        ticket = self.helpdesk.get_ticket(ticket_id)
        self._authorize(request, ticket)
        escalation = self.store.escalations.by_issue(issue.id)
        if escalation is None:
            # A Bug the bridge did not create: adopt it, keyed by its id.
            escalation, _ = self.store.escalations.record_intent(
                label=f"{self.mappings.jira.label_prefix}-jira-{issue.id}", origin_helpdesk=kind,
                origin_ticket_id=ticket_id, severity=request.severity or "unknown",
                priority=issue.priority or "", profile=self.profile.name,
                tier=self._tier(ticket), organization=ticket.organization,
                escalated_by=request.actor, opened_at=ticket.created or self.clock(),
                locale=ticket.locale, requester_tier=self._tier(ticket),
            )
            escalation = self.store.escalations.mark_created(escalation.id, jira_issue_id=issue.id, jira_key=issue.key,
                                                 jira_url=issue.url)
            self.store.escalations.mark_complete(escalation.id)
        tier = self._tier(ticket)
        if request.dry_run:
            return EscalationResult(ticket=ticket_id, helpdesk=kind, jira_key=issue.key, jira_url=issue.url,
                                    created=False, severity=escalation.severity, priority=escalation.priority,
                                    tier=tier, dry_run=True,
                                    plan={"join": issue.key, "ticket": ticket_id})
        role = "origin" if escalation.origin_ticket_id == ticket_id and escalation.origin_helpdesk == kind else "joined"
        self.store.links.add(escalation.id, kind, ticket_id, role=role, locale=ticket.locale, requester_tier=tier)
        escalation = self.store.escalations.get(escalation.id)
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
            steps.append("internal JIRA comment: another customer affected")
        count = escalation.affected_count
        counter_field = self.mappings.jira.affected_customers_field
        if counter_field:
            self.tracker.update_fields(issue.key, {counter_field: count})
            steps.append(f"affected customers on {issue.key}: {count}")
        self.store.audit.record(request.actor, "escalate-into", f"{kind}:{ticket_id}", "ok", issue.key)
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
            ] + (["page on-call once"] if self.pager is not None and d.severity == self.profile.highest else []),
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
