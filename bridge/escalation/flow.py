"""`bridge escalate`: fetch, plan (pure, :mod:`bridge.escalation.plan`), execute
(:mod:`bridge.executor`).

Fetching reads only: the ticket with its conversation, the store's row for it, the Bug of
``--into`` (or of a complete escalation that ``--emergency`` raises), the actor's groups
when the mappings name allowed groups, and error-tracker references in the conversation. A
person's re-run on a complete escalation with nothing to do reads only its Bug: one JIRA no
longer shows stops it (exit 2) with the way out, ``--refile``, rather than "nothing to do".

``--refile`` (and any escalate of a ticket whose refile is under way) reads the escalation's
origin ticket, its linked tickets and Tasks from the store, and asks JIRA whether the
recorded Bug is gone; the planner files the successor, the executor makes sure it is one.

A ticket joined with ``--into`` is linked to an escalation that is complete already, so a
failed remote link, internal note or acknowledgement of that ticket does not hold the
escalation back: its outbox entry, pending or failed, is what the next ``bridge escalate``
of the ticket finds and plans again (as it retries failed error-tracker links).

``--dry-run`` is structural: the plan is printed and no executor is ever built, so nothing
is written anywhere — not the store, not a service, not an audit row.

Safety after crashes and retries lives in the executor (one Bug per escalation, each
message once); the page and every error-tracker link are their own outbox items, so one
that fails leaves the escalation standing (exit 1) and the next escalate or sync retries it.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any, Callable

from bridge.actions import (Acknowledge, CreateBug, EscalatedNote, LinkErrorIssue, PageOnCall, RemoteLink,
                            SetBugFields)
from bridge.bug_phase import recorded_bug_exists, recorded_bug_missing
from bridge.connectors.base import Helpdesk, Tracker
from bridge.errors import (BridgeError, ConfigError, InvalidValue, ItemFailed, NotAllowed, ServiceError,
                           ServiceRejected, UsageError)
from bridge.escalation.inputs import LinkedTicketFacts, RefileFacts
from bridge.escalation.plan import (EscalationFacts, EscalationInputs, EscalationPlan, HelpdeskFacts, Policy,
                                    plan, ticket_side_key)
from bridge.escalation.refile import RECORD_PREFIX
from bridge.escalation.request import EscalationRequest, EscalationResult, check_refile_options
from bridge.executor import Executor, Item, Outcome
from bridge.paging import Page
from bridge.ticket_views import view_of


class Escalator:
    """Carries out escalations. Collaborators are passed in, so tests hand it real
    connectors pointed at loopback services and a real store."""

    def __init__(self, *, helpdesk: Helpdesk, tracker: Tracker, store, mappings, profile, redactor, messages,
                 clock: Callable[[], datetime] | None = None, sleep: Callable[[float], None] = time.sleep,
                 pager=None, gate=None, sentry_linker=None, lease=None, escalate_link=None) -> None:
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
        #: Cleans the page summary of error-tracker references (None: no ticket text in pages).
        self.gate = gate
        #: Files error-tracker issues as Tasks (None: no error tracker; --sentry is refused).
        self.sentry_linker = sentry_linker
        self.lease = lease
        #: The signed Escalate link for customer messages (``Services.escalate_link``).
        self.escalate_link = escalate_link

    # ---------------------------------------------------------------- entry point --
    def escalate(self, request: EscalationRequest) -> EscalationResult:
        """Fetch, plan, and (unless ``request.dry_run``) execute one escalation."""
        inputs, failures = self.fetch(request)
        the_plan = plan(inputs, Policy(self.profile, self.mappings, self.redactor.redact))
        if the_plan.refusal is not None:
            if not request.dry_run:
                self.store.audit.record(request.actor, "escalate", f"{self.helpdesk.kind}:{the_plan.ticket_id}",
                                        "denied", the_plan.refusal.audit)
            raise NotAllowed(the_plan.refusal.message, hint=the_plan.refusal.hint)
        if request.dry_run:
            result = self._result(the_plan, dry_run=True)
            result.outcomes = [Outcome(action, "planned") for action in the_plan.actions]
            return result
        if the_plan.nothing_to_do:
            result = self._result(the_plan)
            result.steps.append(the_plan.nothing_to_do)
            return result
        return self._execute(request, inputs, the_plan, failures)

    # ------------------------------------------------------------------- fetching --
    def fetch(self, request: EscalationRequest) -> tuple[EscalationInputs, list[str]]:
        """Read what the planner needs; writes nothing. Returns the inputs and the failures
        that do not stop the escalation (references that could not be looked for)."""
        kind = self.helpdesk.kind
        check_refile_options(request)
        ticket_id = self.helpdesk.validate_ticket_id(request.ticket)
        self._check_error_refs(request)
        existing = self.store.escalations.by_ticket(kind, ticket_id)
        refile = self._refile(request, existing, ticket_id)
        if refile is not None:
            return self._fetch_refile(request, existing, ticket_id, refile), []
        bug = bug_escalation = ticket = None
        retry: tuple[str, ...] = ()
        unfinished: tuple[str, ...] = ()
        scan = True
        if existing is not None and not request.into:
            unfinished = self._unfinished_ticket_keys(existing.id, kind, ticket_id)
        if request.into:
            bug = self.tracker.issue(request.into)
            if bug is None:
                raise InvalidValue(f"JIRA has no issue {request.into!r} (or the bridge's user cannot see it)",
                                   hint="check the key given to --into")
            if existing is not None and existing.jira_issue_id != bug.id:
                raise NotAllowed(f"ticket {ticket_id} is already escalated as {existing.jira_key}")
            bug_escalation = self.store.escalations.by_issue(bug.id)
            ticket = self.helpdesk.get_ticket_for_escalation(ticket_id)
        elif existing is not None and existing.state == "complete":
            scan = False  # a re-run links only what --sentry names, and retries what failed
            retry = self._failed_error_links(existing.id)
            highest = self.profile.highest
            page_owed = (self.pager is not None and existing.pages_sent == 0
                         and (existing.severity == highest or request.emergency))
            if request.emergency or page_owed:
                bug = self.tracker.issue(existing.jira_issue_id) if existing.jira_issue_id else None
                if bug is None:
                    raise ItemFailed(f"the Bug {existing.jira_key} of ticket {ticket_id} cannot be read in JIRA",
                                     hint="check that it still exists and the bridge's user can see it; if it was "
                                          f"deleted, `bridge escalate {ticket_id} --refile` files a new one")
            elif not request.finishing and existing.jira_issue_id \
                    and self.tracker.issue(existing.jira_issue_id) is None:
                # A person re-running escalate asks whether the escalation stands: one read
                # tells them when its Bug is gone, rather than "nothing to do" for a Bug
                # that sync can no longer follow (sync's own finishing asks nothing here).
                raise recorded_bug_missing(existing)
            if request.emergency or page_owed or unfinished:
                ticket = self.helpdesk.get_ticket_for_escalation(ticket_id)
        else:
            ticket = self.helpdesk.get_ticket_for_escalation(ticket_id)
        rules = self.mappings.escalation
        groups = (tuple(self.helpdesk.user_groups(request.actor))
                  if (ticket and rules.allowed_groups and not request.finishing) else ())
        refs, failures = list(request.sentry), []
        if scan and ticket is not None and self.sentry_linker is not None:
            found, failure = self._references_in(ticket)
            refs += [r for r in found if r not in refs]
            failures += failure
        inputs = EscalationInputs(
            request=request, now=self.clock(), ticket=ticket,
            helpdesk=HelpdeskFacts(kind=kind, service=self.helpdesk.service, base_url=self.helpdesk.base_url,
                                   ticket_url=self.helpdesk.ticket_url(ticket_id)),
            existing=EscalationFacts.of(existing), bug=bug, bug_escalation=EscalationFacts.of(bug_escalation),
            actor_groups=groups, error_refs=tuple(refs), retry_error_refs=retry, pager=self.pager is not None,
            already_linked=existing is not None, retry_ticket_keys=unfinished, ticket_id=ticket_id)
        return inputs, failures

    # ---------------------------------------------------------------------- refiles --
    def _refile(self, request: EscalationRequest, existing, ticket_id: str) -> RefileFacts | None:
        """The Bug this run's refile replaces: one asked for with ``--refile`` (JIRA must
        answer 404 for the recorded Bug), or one under way — begun, its new Bug or its
        ticket side unfinished — which any escalate of the ticket carries on. None: no
        refile. Refuses (exit 2, nothing written) ``--refile`` of a ticket never escalated,
        of an escalation without a Bug yet, and of one whose Bug JIRA shows."""
        under_way = self._refile_under_way(existing) if existing is not None and existing.state != "complete" \
            else None
        if not request.refile:
            if under_way is None or request.finishing or not (
                    request.into or request.emergency or request.severity or request.urgency):
                return under_way
            # The refile keeps the recorded severity and files its own Bug: what this asks
            # (the Escalate button's press, say) waits until the refile stands, rather than
            # being dropped into it. Exit 1: the press is tried again.
            raise ItemFailed(f"the escalation of ticket {ticket_id} is being refiled (its Bug "
                             f"{under_way.issue_key or under_way.issue_id} is gone from JIRA); nothing was written",
                             hint=f"`bridge escalate {ticket_id}` finishes the refile; then run this again")
        if existing is None:
            raise UsageError(f"ticket {ticket_id} was never escalated, so it has no Bug to refile",
                             hint=f"`bridge escalate {ticket_id}` files its first Bug")
        if existing.jira_issue_id is None:
            if under_way is not None:
                return under_way
            raise UsageError(f"the escalation of ticket {ticket_id} has no Bug recorded yet, so there is none to "
                             "refile; nothing was written",
                             hint=f"`bridge escalate {ticket_id}` finishes it: it looks for its Bug by its label "
                                  "before it creates one")
        if self.tracker.issue(existing.jira_issue_id) is not None:
            if under_way is not None:
                return under_way  # the refile's own new Bug: its ticket side is what is left
            raise recorded_bug_exists(existing)
        return RefileFacts(issue_id=existing.jira_issue_id, issue_key=existing.jira_key, issue_url=existing.jira_url,
                           by=request.actor)

    def _refile_under_way(self, existing) -> RefileFacts | None:
        """The latest refile the store recorded for an escalation that is not complete: the
        refile it is in the middle of (rows only leave ``complete`` by a refile)."""
        entries = self.store.outbox.list(states=None, escalation_id=existing.id,
                                         key_prefix=f"{RECORD_PREFIX}{existing.label}:")
        if not entries:
            return None
        record = self.store.outbox.payload(entries[-1])
        return RefileFacts(issue_id=record["replaced_issue_id"], issue_key=record.get("replaced_key"),
                           issue_url=record.get("replaced_url"), by=record.get("by") or "bridge")

    def _fetch_refile(self, request: EscalationRequest, existing, ticket_id: str,
                      refile: RefileFacts) -> EscalationInputs:
        """A refile's inputs: the escalation's origin ticket (its conversation describes the
        new Bug), every linked ticket of this helpdesk, the escalation's Tasks."""
        kind = self.helpdesk.kind
        origin = existing.origin_ticket_id if existing.origin_helpdesk == kind else ticket_id
        ticket = self.helpdesk.get_ticket_for_escalation(origin)
        rules = self.mappings.escalation
        groups = (tuple(self.helpdesk.user_groups(request.actor))
                  if rules.allowed_groups and not request.finishing else ())
        linked = tuple(LinkedTicketFacts(t.ticket_id, self.helpdesk.ticket_url(t.ticket_id), t.role)
                       for t in self.store.links.of(existing.id) if t.helpdesk == kind)
        tasks = tuple(t.jira_key for t in self.store.tasks.of(existing.id) if t.jira_key and t.state == "created")
        return EscalationInputs(
            request=request, now=self.clock(), ticket=ticket,
            helpdesk=HelpdeskFacts(kind=kind, service=self.helpdesk.service, base_url=self.helpdesk.base_url,
                                   ticket_url=self.helpdesk.ticket_url(origin)),
            existing=EscalationFacts.of(existing), actor_groups=groups, error_refs=tuple(request.sentry),
            pager=self.pager is not None, already_linked=True,
            retry_ticket_keys=self._unfinished_ticket_keys(existing.id, kind, origin), ticket_id=ticket_id,
            refile=refile, linked=linked, task_keys=tasks)

    def _check_error_refs(self, request: EscalationRequest) -> None:
        """Refuse a malformed ``--sentry`` (exit 2) before anything is read or written, and
        one the error tracker does not know (exit 2) before anything is written: recorded,
        it would be retried, and fail, on every later sync. A tracker that cannot answer
        now does not hold the escalation up: the link is tried, and retried, as before."""
        if not request.sentry:
            return
        if self.sentry_linker is None:
            raise ConfigError("--sentry needs an error tracker: set BRIDGE_ERRORS_KIND, BRIDGE_ERRORS_URL and "
                              "BRIDGE_ERRORS_TOKEN (or BRIDGE_SENTRY_TOKEN)")
        tracker = self.sentry_linker.sentry
        parsed = [tracker.parse(ref) for ref in request.sentry]
        for ref in parsed:
            try:
                tracker.resolve(ref)
            except (ServiceError, ServiceRejected):
                continue

    def _references_in(self, ticket) -> tuple[list[str], list[str]]:
        from bridge import monitoring

        texts = [ticket.subject, ticket.description, *(c.body for c in ticket.comments)]
        try:
            found, _skipped = self.sentry_linker.references_in(texts)
        except BridgeError as exc:
            monitoring.report_item_failure(exc, item=f"{self.helpdesk.kind}:{ticket.id} error-references")
            return [], [f"error-tracker references in the conversation were not looked for: {exc}"]
        return [r if isinstance(r, str) else r.value for r in found], []

    def _failed_error_links(self, escalation_id: int) -> tuple[str, ...]:
        entries = self.store.outbox.list(states=("pending", "failed"), escalation_id=escalation_id,
                                         key_prefix="error-link:")
        return tuple(self.store.outbox.payload(e).get("reference") for e in entries
                     if self.store.outbox.payload(e).get("reference"))

    def _unfinished_ticket_keys(self, escalation_id: int, kind: str, ticket_id: str) -> tuple[str, ...]:
        """The outbox keys of this ticket's remote link, note and acknowledgements that are
        pending or failed (a run failed, or died, writing them)."""
        entries = self.store.outbox.list(states=("pending", "failed"), escalation_id=escalation_id)
        return tuple(e.key for e in entries if ticket_side_key(e.key, kind, ticket_id))

    # ------------------------------------------------------------------- executing --
    def executor(self, actor: str) -> Executor:
        """The one executor, wired for escalations (the pager and the error-tracker linker)."""
        return Executor(store=self.store, tracker=self.tracker, helpdesk=self.helpdesk, messages=self.messages,
                        actor=actor, clock=self.clock, pager=self.pager, error_linker=self.sentry_linker,
                        page_for=self._page, lease=self.lease, sleep=self.sleep,
                        on_failure=_report_to_monitoring, escalate_link=self.escalate_link)

    def _execute(self, request: EscalationRequest, inputs: EscalationInputs, the_plan: EscalationPlan,
                 failures: list[str]) -> EscalationResult:
        existing = self.store.escalations.by_ticket(self.helpdesk.kind, the_plan.ticket_id) \
            if not any(isinstance(a, CreateBug) for a in the_plan.actions) else None
        item = Item(escalation=existing or (self.store.escalations.by_issue(inputs.bug.id) if inputs.bug else None),
                    actions=the_plan.actions, issue=inputs.bug)
        executor = self.executor(request.actor)
        executor.fresh = {inputs.ticket.id: inputs.ticket} if inputs.ticket is not None else {}
        self._read = inputs.ticket  # the page's subject comes from it (no second read)
        executor.apply([item])
        escalation = item.escalation
        if inputs.ticket is not None and escalation is not None and inputs.existing is None:
            # Sync mirrors to JIRA what the customer writes from now on, not the history.
            from bridge.sync.engine import remember_conversation

            remember_conversation(self.store, inputs.ticket)
            # The version the bridge's own last write left (from the helpdesk's answer), so
            # the next sync knows that change is its own and reads nothing of the ticket.
            after = executor.standing_ticket(inputs.ticket.id, inputs.ticket.version)
            if after is not None:
                self.store.links.record_seen(self.helpdesk.kind, inputs.ticket.id, version=after.version,
                                             view=view_of(after))
        helpdesk_failed = any(o.result == "failed" and not isinstance(o.action, (LinkErrorIssue, PageOnCall))
                              for o in item.outcomes)
        if escalation is not None and escalation.state != "complete" and not helpdesk_failed:
            escalation = self.store.escalations.mark_complete(escalation.id)
        raised = [o for o in item.outcomes if isinstance(o.action, SetBugFields) and o.action.record
                  and o.result == "done"]
        if raised and escalation is not None:
            self.store.audit.record(request.actor, "escalate-emergency",
                                    f"{self.helpdesk.kind}:{the_plan.ticket_id}", "ok",
                                    f"{escalation.jira_key} severity {inputs.existing.severity} → {escalation.severity}")
        if escalation is not None and (inputs.existing is None or request.into):
            self.store.audit.record(request.actor, "escalate-into" if request.into else "escalate",
                                    f"{self.helpdesk.kind}:{the_plan.ticket_id}", "ok",
                                    f"{escalation.jira_key} {item.bug_how or ''}".strip())
        return self._result(the_plan, item=item, failures=failures)

    # --------------------------------------------------------------------- results --
    def _result(self, the_plan: EscalationPlan, *, dry_run: bool = False, item: Item | None = None,
                failures: list[str] | None = None) -> EscalationResult:
        escalation = item.escalation if item else None
        result = EscalationResult(
            ticket=the_plan.ticket_id, helpdesk=self.helpdesk.kind,
            jira_key=escalation.jira_key if escalation else the_plan.bug_key,
            jira_url=escalation.jira_url if escalation else the_plan.bug_url,
            created=bool(item and item.bug_how == "created"),
            severity=escalation.severity if escalation else the_plan.severity,
            priority=escalation.priority if escalation else the_plan.priority,
            tier=the_plan.tier or (escalation.tier if escalation else "") or "",
            dry_run=dry_run, plan=the_plan.as_json() if dry_run else {},
            first_response_due=_iso(the_plan.first_response_due), next_update_due=_iso(the_plan.next_update_due),
            affected_count=escalation.affected_count if escalation else the_plan.affected_count,
            failures=list(failures or []))
        if the_plan.refile is not None:
            result.refile = {**the_plan.refile, "jira_key": escalation.jira_key if escalation else None}
        if item is None:
            return result
        result.outcomes = list(item.outcomes)
        for outcome in item.outcomes:
            action = outcome.action
            if isinstance(action, LinkErrorIssue):
                if outcome.result == "linked":
                    result.sentry_tasks.append(outcome.data.as_json())
                    result.steps.append(f"error-tracker issue {action.reference}: {outcome.detail} relates to "
                                        f"{result.jira_key}")
                elif outcome.result == "refused":
                    # The tracker has no such issue (one the conversation named): recorded
                    # once, not retried, and no failure of the escalation.
                    result.sentry_tasks.append(outcome.data.as_json())
                    result.steps.append(f"error-tracker issue {action.reference}: {outcome.detail}")
                elif outcome.result == "failed":
                    from bridge.sentry_tasks import LinkResult

                    result.sentry_tasks.append(LinkResult(reference=action.reference, bug_key=result.jira_key,
                                                          error=outcome.detail).as_json())
                    result.failures.append(
                        f"the escalation {result.jira_key} stands, but error-tracker issue {action.reference} was "
                        f"not linked: {outcome.detail} (the next escalate or sync retries it; or run "
                        f"`bridge link-sentry {action.reference} --issue {result.jira_key}`)")
                continue
            if isinstance(action, PageOnCall):
                result.paged = outcome.result in ("done", "skipped")
                if outcome.result == "failed":
                    result.failures.append(f"the escalation {result.jira_key} stands, but paging on-call failed: "
                                           f"{outcome.detail} (run the same command again to retry the page)")
                    result.steps.append(f"paging on-call failed: {outcome.detail}")
                else:
                    result.steps.append("on-call already paged" if outcome.result == "skipped"
                                        else f"paged on-call through {self.pager.describe()}")
                continue
            if outcome.result == "failed" and isinstance(action, (RemoteLink, EscalatedNote, Acknowledge)):
                result.failures.append(
                    f"the escalation {result.jira_key} stands, but {action.describe()} failed: {outcome.detail} "
                    f"(run `bridge escalate {the_plan.ticket_id}` again to finish it)")
            elif outcome.result == "failed":
                result.failures.append(f"{action.describe()}: {outcome.detail}")
            suffix = {"skipped": ": already done", "refused": f": {outcome.detail}"}.get(outcome.result, "")
            if outcome.result == "failed":
                suffix = f": failed ({outcome.detail})"
            if isinstance(action, CreateBug) and action.replaces is not None:
                result.steps.append(f"{outcome.detail}, replacing {action.replaces.issue_key}, which JIRA no longer has")
                continue
            result.steps.append(outcome.detail if isinstance(action, CreateBug) else f"{action.describe()}{suffix}")
        return result

    # ------------------------------------------------------------------------ pages --
    def _page(self, escalation) -> Page:
        """The page: the Bug, the ticket reference, severity and tier. Customer text is
        redacted and cleaned of error-tracker references; no customer name or address."""
        ticket_id = escalation.origin_ticket_id
        about = ""
        if self.gate is not None:
            read = getattr(self, "_read", None)
            try:
                subject = (read.subject if read is not None and read.id == ticket_id
                           else self.helpdesk.get_ticket(ticket_id).subject) or ""
            except BridgeError:
                subject = ""
            about = self.gate.clean(self.redactor.redact(subject)).strip()
        kind = self.helpdesk.kind
        summary = f"Emergency escalation {escalation.jira_key} ({self.helpdesk.service} #{ticket_id})"
        if about:
            summary = f"{summary}: {about}"
        links = ((escalation.jira_url, f"JIRA {escalation.jira_key}"),) if escalation.jira_url else ()
        return Page(
            dedup_key=escalation.label, summary=summary, source=f"bridge:{kind}",
            details={"jira_key": escalation.jira_key, "jira_url": escalation.jira_url, "helpdesk": kind,
                     "ticket": ticket_id, "ticket_url": self.helpdesk.ticket_url(ticket_id),
                     "severity": escalation.severity, "priority": escalation.priority, "tier": escalation.tier,
                     "policy": self.profile.name, "escalated_by": escalation.escalated_by},
            links=links)


def _report_to_monitoring(exc: BaseException, target: str) -> None:
    from bridge import monitoring

    monitoring.report_item_failure(exc, item=target)


def _iso(value: Any) -> str | None:
    return value.isoformat(timespec="minutes") if value else None
