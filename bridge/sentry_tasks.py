"""Error-tracker issues (Sentry, Bugsink) filed as JIRA Tasks "related to" the Bug — never
anything on a ticket.

The tracker is any :class:`~bridge.connectors.base.ErrorTracker`; what follows says
"Sentry" for both (a Bugsink Task is ``[Bugsink] <title>`` labelled ``bridge-bugsink-<uuid>``).

Support policy 001: a client who can follow a Sentry issue from their ticket sees every
comment engineers make in Sentry. So a Sentry issue that belongs to a Bug becomes **one**
JIRA Task (``[Sentry] <title>``, a description with culprit, level, first and last seen,
event count, users affected and the permalink; a remote link whose ``globalId`` is the
Sentry permalink; the deterministic label ``bridge-sentry-<numeric id>``), and a
``Relates`` link joins the Task to each Bug the issue belongs to. This module talks to
Sentry and JIRA only: it has no helpdesk connector to write with.

Crash safety follows the Bug's pattern (see :mod:`bridge.escalation`):

1. **Read and decide** (no writes): the Bug (``--issue KEY`` or the escalation of
   ``--ticket``), the Sentry issue. A ticket that is not escalated is refused here, so
   nothing is written anywhere.
2. **Record the intent** in the store, keyed by the Sentry issue id, *before* JIRA is called.
3. **Find or create the Task**: a recorded issue id is re-read; otherwise JIRA is searched by
   the label; only then is the Task created, and a create that may have been applied is
   followed by searches (with pauses, search lags) before anything else happens.
4. **Remote link** (JIRA upserts by ``globalId``; written only when missing) and **Relates
   link** (JIRA keeps one link per type and pair; the store remembers which Bugs a Task is
   related to, so a repeat writes nothing).

Linking the same Sentry issue again, or to a second Bug, reuses its Task.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable

from bridge.connectors.base import ErrorTracker
from bridge.connectors.jira import JiraTracker
from bridge.errors import InvalidValue, ItemFailed, UsageError
from bridge.models import Issue, SentryIssue
from bridge.policy.visibility import OutboundGate, SentryRef

#: JIRA's summary limit.
SUMMARY_LIMIT = 255


@dataclass
class LinkResult:
    """What linking one Sentry issue to one Bug did (``error`` set when it failed)."""

    reference: str
    bug_key: str | None
    sentry_issue_id: str | None = None
    sentry_short_id: str | None = None
    sentry_permalink: str | None = None
    title: str | None = None
    task_key: str | None = None
    task_url: str | None = None
    task_created: bool = False
    #: True when this call related the Task to the Bug (False: it already was).
    related: bool = False
    steps: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None

    def as_json(self) -> dict[str, Any]:
        return {
            "reference": self.reference, "bug_key": self.bug_key,
            "sentry_issue_id": self.sentry_issue_id, "sentry_short_id": self.sentry_short_id,
            "sentry_permalink": self.sentry_permalink, "title": self.title,
            "task_key": self.task_key, "task_url": self.task_url, "task_created": self.task_created,
            "related": self.related, "steps": self.steps, "error": self.error,
        }


class SentryLinker:
    """Files Sentry issues as JIRA Tasks related to Bugs.

    Collaborators are passed in, so tests hand it real connectors pointed at loopback
    services and a real store. ``helpdesk`` is used for nothing but canonical ticket ids
    and its kind (``--ticket``); no write method of it is ever called from here.
    """

    def __init__(self, *, sentry: ErrorTracker, tracker: JiraTracker, store, mappings,
                 helpdesk=None, redactor=None, gate: KnownSentryGate | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.sentry = sentry
        #: Told the organization's project slugs when they are read, so that the outbound
        #: gate removes short ids of every project, not only of projects with a Task.
        self.gate = gate
        self.tracker = tracker
        self.store = store
        self.mappings = mappings
        self.helpdesk = helpdesk
        self.redactor = redactor
        self.sleep = sleep

    # ---------------------------------------------------------------- entry point --
    def link(self, ref: str, *, issue_key: str | None = None, ticket: str | None = None,
             actor: str) -> LinkResult:
        """``bridge link-sentry REF (--issue KEY | --ticket TICKET)``.

        Everything that can be refused is checked before the first write: the reference's
        shape, the Bug (a ticket without an escalation: ``UsageError``, exit 2), the Sentry
        issue (unknown: ``InvalidValue``, exit 2).
        """
        if (issue_key is None) == (ticket is None):
            raise UsageError("give exactly one of --issue KEY or --ticket TICKET")
        parsed = self.sentry.parse(ref)
        bug, escalation_id = self._bug(issue_key=issue_key, ticket=ticket)
        return self.link_to_bug(parsed, bug, escalation_id=escalation_id, actor=actor, reference=ref)

    def link_to_bug(self, ref: str | SentryRef, bug: Issue, *, escalation_id: int | None,
                    actor: str, reference: str | None = None) -> LinkResult:
        """File the Sentry issue ``ref`` names as a Task (once) and relate it to ``bug``.

        ``escalation_id`` is the store's escalation of the Bug (None for a Bug the bridge
        did not escalate: the JIRA link is still made, the store cannot record it).
        """
        shown = reference or (ref if isinstance(ref, str) else ref.value)
        sentry_issue = self.sentry.resolve(ref)
        return self.link_issue(sentry_issue, bug, escalation_id=escalation_id, actor=actor, reference=shown)

    def references_in(self, texts: Iterable[str]) -> tuple[list[SentryRef], list[str]]:
        """Sentry issues referred to in ``texts`` (a conversation), and notes on what was skipped.

        Short ids are recognised for the organization's projects (asked of Sentry), the
        mappings' ``sentry.known_projects`` and the prefixes of Tasks already filed; numeric
        ids for the Sentry issues the store knows. URLs of another organization are
        skipped (a customer's own Sentry is none of ours). Raises when Sentry cannot list
        its projects: short ids might be missed.
        """
        prefixes = set(self.mappings.sentry.known_projects)
        known_ids: set[str] = set()
        for task in self.store.tasks.all():
            known_ids.add(task.sentry_issue_id)
            if task.sentry_short_id:
                prefixes.add(task.sentry_short_id.rsplit("-", 1)[0])
        slugs = [slug.upper() for slug in self.sentry.project_slugs()]
        prefixes.update(slugs)
        if self.gate is not None:
            self.gate.learn_short_id_prefixes(slugs)
        # Which references are the tracker's own (organization, host) is the tracker's call.
        return self.sentry.references(texts, short_id_prefixes=sorted(prefixes), known_ids=sorted(known_ids))

    # ------------------------------------------------------------------ deciding --
    def find_bug(self, *, issue_key: str | None, ticket: str | None) -> tuple[Issue, int | None]:
        """The Bug named by ``--issue KEY`` or by an escalated ``--ticket``, and its
        escalation id (None for a Bug the bridge did not escalate); reads only."""
        return self._bug(issue_key=issue_key, ticket=ticket)

    def _bug(self, *, issue_key: str | None, ticket: str | None) -> tuple[Issue, int | None]:
        store = self.store
        if ticket is not None:
            if self.helpdesk is None:
                raise UsageError("--ticket needs a configured helpdesk")
            ticket_id = self.helpdesk.validate_ticket_id(ticket)
            escalation = store.escalations.by_ticket(self.helpdesk.kind, ticket_id)
            if escalation is None:
                raise UsageError(f"ticket {ticket_id} is not escalated: escalate the ticket first",
                                 hint=f"run `bridge escalate {ticket_id}`, then link the Sentry issue")
            if not escalation.jira_issue_id:
                raise UsageError(f"the escalation of ticket {ticket_id} has no JIRA Bug yet",
                                 hint=f"run `bridge escalate {ticket_id}` again to finish it")
            bug = self.tracker.issue(escalation.jira_issue_id)
            if bug is None:
                raise InvalidValue(f"JIRA no longer shows {escalation.jira_key}, the Bug of ticket {ticket_id}",
                                   hint="check that the bridge's JIRA user can see it")
            return bug, escalation.id
        assert issue_key is not None
        bug = self.tracker.issue(issue_key.strip())
        if bug is None:
            raise InvalidValue(f"JIRA has no issue {issue_key!r} (or the bridge's user cannot see it)",
                               hint="check the key given to --issue")
        escalation = store.escalations.by_issue(bug.id)
        return bug, escalation.id if escalation is not None else None

    @property
    def _service(self) -> str:
        return getattr(self.sentry, "service", "Sentry")

    def _summary(self, issue: SentryIssue) -> str:
        title = self._redact(issue.title) or issue.short_id or f"issue {issue.id}"
        return f"[{self._service}] {title}"[:SUMMARY_LIMIT]

    def _description(self, issue: SentryIssue) -> str:
        """What engineers need at a glance; the Sentry issue itself stays the source."""
        def when(moment) -> str:
            return moment.isoformat(timespec="seconds") if moment else "unknown"

        lines = [
            f"{self._service} issue {issue.short_id or issue.id} (id {issue.id}"
            + (f", project {issue.project}" if issue.project else "") + ")",
            f"Permalink: {issue.permalink}",
            f"Culprit: {self._redact(issue.culprit) or 'unknown'}",
            f"Level: {issue.level or 'unknown'} · status: {issue.status}",
            f"First seen: {when(issue.first_seen)} · last seen: {when(issue.last_seen)}",
            f"Events: {issue.count} · users affected: {issue.user_count}",
            "",
            f"Filed by the bridge. Policy: {self._service} issues are never linked to customer tickets; "
            "this Task is related to the Bug(s) instead.",
        ]
        return "\n".join(lines)

    def _redact(self, text: str | None) -> str | None:
        # Error messages can carry customer data (an e-mail in a KeyError); JIRA is read by
        # more people than Sentry, so titles go through the same redaction as Bugs.
        if text is None or self.redactor is None:
            return text
        return self.redactor.redact(text)

    def label(self, sentry_issue_id: str) -> str:
        """The Task's deterministic label, e.g. ``bridge-sentry-4505`` or
        ``bridge-bugsink-<uuid>``."""
        kind = getattr(self.sentry, "kind", "sentry")
        return f"{self.mappings.jira.label_prefix}-{kind}-{sentry_issue_id}"

    # ------------------------------------------------------------------ writing --
    def link_issue(self, issue: SentryIssue, bug: Issue, *, escalation_id: int | None, actor: str,
                   reference: str) -> LinkResult:
        """File an already resolved Sentry issue as a Task (once) and relate it to ``bug``."""
        result = LinkResult(reference=reference, bug_key=bug.key, sentry_issue_id=issue.id,
                            sentry_short_id=issue.short_id or None, sentry_permalink=issue.permalink,
                            title=issue.title)
        task_row, _ = self.store.tasks.record_intent(
            sentry_issue_id=issue.id, label=self.label(issue.id), sentry_short_id=issue.short_id or None,
            sentry_permalink=issue.permalink or None,
        )
        # A row recorded earlier keeps its label (the label prefix may have changed since).
        label = task_row.label
        task, created, recorded = self._ensure_task(task_row, issue, label, result.steps)
        if not recorded:
            self._ensure_remote_link(task, issue, result.steps)
            self.store.tasks.mark_created(task_row.id, jira_issue_id=task.id, jira_key=task.key)
        result.task_key, result.task_url, result.task_created = task.key, task.url, created

        already = escalation_id is not None and any(
            t.id == task_row.id for t in self.store.tasks.of(escalation_id))
        if already:
            result.steps.append(f"{task.key} already relates to {bug.key}")
        else:
            # JIRA keeps one link per type and pair, so a repeat after a crash adds nothing.
            self.tracker.link_issues(self.mappings.jira.relates_link, task.key, bug.key)
            if escalation_id is not None:
                self.store.tasks.relate(task_row.id, escalation_id)
            result.related = True
            result.steps.append(f"{task.key} relates to {bug.key}")
        self.store.audit.record(actor, "link-sentry", f"sentry:{issue.id}", "ok",
                         f"{task.key} relates to {bug.key} created={created}")
        return result

    def _ensure_task(self, row, issue: SentryIssue, label: str, steps: list[str]) -> tuple[Issue, bool, bool]:
        """The Task: ``(issue, created by this call, already recorded complete in the store)``."""
        if row.jira_issue_id:
            found = self.tracker.issue(row.jira_issue_id)
            if found is None:
                # Filing a second Task would break "one Task per Sentry issue" silently.
                raise ItemFailed(f"the Task {row.jira_key} filed for Sentry issue {issue.id} is gone from JIRA "
                                 "(or hidden from the bridge's user)",
                                 hint="restore it, or check the bridge user's permissions on its project")
            steps.append(f"found {found.key} recorded for Sentry issue {issue.id}")
            return found, False, row.state == "created"
        fields = {
            "project": {"key": self.mappings.sentry_project},
            "issuetype": {"name": self.mappings.jira.task_type},
            "summary": self._summary(issue),
            "description": self._description(issue),
            "labels": [label, self.mappings.jira.label_prefix],
        }
        task, how = self.tracker.create_once(label, fields, what="Task", sleep=self.sleep)
        steps.append(self.tracker.describe_create(how, task, label))
        return task, how == "created", False

    def _ensure_remote_link(self, task: Issue, issue: SentryIssue, steps: list[str]) -> None:
        global_id = issue.permalink
        if global_id in self.tracker.remote_link_ids(task.key):
            return
        self.tracker.add_remote_link(task.key, global_id=global_id, url=issue.permalink,
                                     title=f"{self._service} {issue.short_id or issue.id}",
                                     summary=self._redact(issue.title))
        steps.append(f"remote link {task.key} → {self._service} {issue.short_id or issue.id}")


class KnownSentryGate:
    """The outbound gate (:class:`~bridge.policy.visibility.OutboundGate`) for a store,
    rebuilt whenever the store has filed a Task for a Sentry issue it did not know at the
    previous message.

    The gate removes numeric Sentry ids and short ids only when it knows them, and the
    store's Tasks are where the bridge learns them — while a process runs (``escalate``
    files Tasks before it writes to the ticket; ``link-sentry`` may run while
    ``sync --watch`` does).
    """

    def __init__(self, store, *, self_hosted_base: str | None, known_projects: Iterable[str] = (),
                 extra_blocked_hosts: Iterable[str] = ()) -> None:
        self._store = store
        self._self_hosted_base = self_hosted_base
        self._extra_blocked_hosts = tuple(extra_blocked_hosts)
        self._known_projects = tuple(known_projects)
        self._learned: set[str] = set()
        self._seen: tuple[tuple[str, str | None], ...] | None = None
        self._gate: OutboundGate | None = None
        #: While :meth:`pinned`: the gate as the Tasks stood when the block began.
        self._pinned: OutboundGate | None = None

    @contextmanager
    def pinned(self) -> Iterator[None]:
        """For the block, the gate as the store's Tasks stand now: a round of helpdesk
        writes (which files no Task) reads the Tasks once instead of once per message."""
        if self._pinned is not None:
            yield
            return
        self._pinned = self._current()
        try:
            yield
        finally:
            self._pinned = None

    def learn_short_id_prefixes(self, prefixes: Iterable[str]) -> None:
        """Sentry project slugs read from Sentry: their short ids are removed from now on."""
        new = {p.upper() for p in prefixes} - self._learned
        if new:
            self._learned |= new
            self._gate = None

    def _current(self) -> OutboundGate:
        if self._pinned is not None:
            return self._pinned
        seen = tuple((t.sentry_issue_id, t.sentry_short_id) for t in self._store.tasks.all())
        if self._gate is None or seen != self._seen:
            prefixes = set(self._known_projects) | self._learned
            prefixes.update(short.rsplit("-", 1)[0] for _, short in seen if short)
            self._gate = OutboundGate(self_hosted_base=self._self_hosted_base,
                                      known_short_id_prefixes=tuple(sorted(prefixes)),
                                      known_ids=tuple(sorted(i for i, _ in seen)),
                                      extra_blocked_hosts=self._extra_blocked_hosts)
            self._seen = seen
        return self._gate

    def clean(self, text: str) -> str:
        """See :meth:`bridge.policy.visibility.OutboundGate.clean`."""
        return self._current().clean(text)

    def check(self, text: str) -> str:
        """See :meth:`bridge.policy.visibility.OutboundGate.check`."""
        return self._current().check(text)
