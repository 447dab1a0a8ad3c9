"""The small interfaces the engine talks to, one per kind of service.

Terminology:
    ticket      a helpdesk conversation with a customer (Zendesk ticket, Freshdesk ticket,
                django-helpdesk ticket); identified by (helpdesk kind, ticket id).
    write       one change to a ticket: at most one comment (a public reply or an internal
                note) plus status, tags and field changes, applied in one call where the
                helpdesk allows it, so a marker tag lands together with the message it marks.
    gate        the outbound visibility gate (``bridge.policy.visibility.OutboundGate``):
                every comment body goes through it before any helpdesk sees it.

:class:`Helpdesk` is an abstract base rather than a Protocol on purpose: ``write`` is
implemented here and is the only way to reach a subclass's ``_apply``; it runs the gate
first, so no helpdesk connector can send text that has not passed it.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field, replace

from bridge.errors import Conflict  # noqa: F401 - the connectors raise it from here
from bridge.models import Ticket


@dataclass(frozen=True)
class TicketWrite:
    """One change to a ticket. ``comment`` is gated before it is sent."""

    comment: str | None = None
    public: bool = False
    status: str | None = None  # normalised: open, pending, hold, solved, closed
    add_tags: tuple[str, ...] = ()
    remove_tags: tuple[str, ...] = ()
    fields: dict[str, object] = field(default_factory=dict)  # helpdesk field id -> value
    #: Refuse the write if the ticket changed since this version was read (Zendesk
    #: safe_update). None = unconditional.
    if_version: str | None = None




class Helpdesk(abc.ABC):
    """A customer helpdesk. Subclasses implement reading and ``_apply``."""

    kind: str = ""
    #: Set by subclasses: the service name used in messages ("Zendesk").
    service: str = ""
    #: Tickets one request of :meth:`read_many` / :meth:`write_many` takes (1: no bulk
    #: endpoint); sync sends a round's requests of this size several at a time.
    bulk_size: int = 1

    def __init__(self, gate) -> None:
        if gate is None:
            raise TypeError("a Helpdesk needs an OutboundGate: nothing reaches a ticket ungated")
        self._gate = gate

    @property
    def gate(self):
        """The outbound gate every comment passes (a round pins its Task list: see
        :meth:`bridge.sentry_tasks.KnownSentryGate.pinned`)."""
        return self._gate

    @abc.abstractmethod
    def get_ticket(self, ticket_id: str) -> Ticket:
        """The ticket with its whole conversation; raises UnknownTicket when absent."""

    def get_ticket_for_escalation(self, ticket_id: str) -> Ticket:
        """:meth:`get_ticket` for an escalation, with the requester facts only an escalation
        keeps (``requester_time_zone``) where the helpdesk needs another request for them
        (Freshdesk's contact), so sync's reads do not pay for them."""
        return self.get_ticket(ticket_id)

    @abc.abstractmethod
    def ticket_url(self, ticket_id: str) -> str:
        """The agent-facing URL of the ticket (what JIRA links to)."""

    @abc.abstractmethod
    def validate_ticket_id(self, ticket_id: str) -> str:
        """The id in canonical form; raises InvalidValue for a malformed id."""

    @abc.abstractmethod
    def user_groups(self, user: str) -> list[str]:
        """Names of the helpdesk groups an agent (by e-mail or username) belongs to."""

    @abc.abstractmethod
    def check(self) -> str:
        """Reach the service with our credentials; return who we are. Raises on failure."""

    def changed_ticket_ids(self, cursor: str) -> tuple[list[str] | None, str | None]:
        """Ids of tickets changed since ``cursor`` and the cursor for next time.

        ``cursor`` is what the previous call returned, or, the first time, a Unix time in
        seconds. A helpdesk that cannot list changes returns ``(None, None)``: the caller
        then reads every ticket it cares about.
        """
        return None, None

    def changed_tickets(self, cursor: str) -> tuple[dict[str, str | None] | None, str | None]:
        """Like :meth:`changed_ticket_ids`, with each ticket's version as the listing shows
        it (None where it does not say), so a change that is the bridge's own write needs
        no read. ``(None, None)`` when this helpdesk cannot list changes."""
        ids, after = self.changed_ticket_ids(cursor)
        return (None if ids is None else dict.fromkeys(ids)), after

    def write(self, ticket_id: str, change: TicketWrite) -> Ticket | None:
        """Apply one change; the comment, if any, passes the outbound gate first.

        Returns the ticket as the helpdesk's answer shows it right after this write (its
        ``version`` and ``tags``; no conversation), or None when the answer does not say
        (then the caller reads the ticket if it needs its new version).

        Raises ``OutboundRefused`` (nothing sent) when the gate refuses the text, and
        :class:`Conflict` when ``if_version`` no longer matches, ``InvalidValue`` (nothing
        sent) for a malformed ticket id.
        """
        # A malformed id must never reach a URL path ("../12" would address another resource).
        ticket_id = self.validate_ticket_id(ticket_id)
        change = self._gated(change)
        if change is None:
            return None
        return self._apply(ticket_id, change)

    def outgoing_text(self, text: str) -> str:
        """``text`` as this helpdesk would store it after the gate (to recognise a message
        that was already sent)."""
        return self._gate.clean(text)

    def _gated(self, change: TicketWrite) -> TicketWrite | None:
        """The change with its comment through the gate; a comment that was nothing but
        Sentry references is dropped (None when nothing else is left to send)."""
        if change.comment is None:
            return change
        cleaned = self._gate.check(change.comment)
        if cleaned.strip():
            return replace(change, comment=cleaned)
        rest = replace(change, comment=None)
        if rest.status or rest.add_tags or rest.remove_tags or rest.fields:
            return rest
        return None

    def read_many(self, ticket_ids: list[str], *, people: bool = True) -> dict[str, Ticket]:
        """Tickets by id, as cheaply as the helpdesk allows; absent ids are left out.

        Meant for checking markers (tags), status and version of many tickets at once: a
        helpdesk with a bulk read may return the tickets without their conversation.
        ``people=False``: the caller needs no more than the ticket's subject, status, tags
        and version (a read back after the bridge's own write), so a helpdesk that sends the
        requesters and organisations on request may leave them out (the tickets then have
        no requester, locale or organisation).
        """
        from bridge.errors import UnknownTicket

        found: dict[str, Ticket] = {}
        for ticket_id in ticket_ids:
            try:
                found[ticket_id] = self.get_ticket(ticket_id)
            except UnknownTicket:
                continue
        return found

    def write_many(self, changes: list[tuple[str, TicketWrite]], *,
                   limit: int = 1) -> dict[str, Exception | Ticket | None]:
        """Apply one change to each of several distinct tickets; every comment is gated.

        Returns, per ticket id, None when the change was applied — or the ticket as read
        back right after it, where the helpdesk confirmed the write by reading (its version
        after the write) — or the error that stopped it (:class:`Conflict`,
        ``OutboundRefused``, a service error): one ticket's failure never stops the others.
        At most ``limit`` requests are in flight together.
        Helpdesks with a bulk endpoint override :meth:`_apply_many`.
        """
        from bridge.errors import BridgeError

        results: dict[str, Exception | Ticket | None] = {}
        gated: list[tuple[str, TicketWrite]] = []
        for ticket_id, change in changes:
            try:
                ticket_id = self.validate_ticket_id(ticket_id)
                gated_change = self._gated(change)
            except BridgeError as exc:
                results[ticket_id] = exc
                continue
            if gated_change is None:
                results[ticket_id] = None  # nothing left to say
                continue
            gated.append((ticket_id, gated_change))
        if len({t for t, _ in gated}) != len(gated):
            raise ValueError("write_many takes one change per ticket")
        results.update(self._apply_many(gated, limit))
        return results

    def _apply_many(self, changes: list[tuple[str, TicketWrite]],
                    limit: int = 1) -> dict[str, Exception | Ticket | None]:
        """Send already-gated changes; by default one call per ticket, ``limit`` in flight."""
        from bridge.errors import BridgeError
        from bridge.in_flight import in_flight

        results: dict[str, Exception | None] = {}
        answers = in_flight(lambda pair: self._apply(*pair), changes, limit)
        for (ticket_id, _), answer in zip(changes, answers):
            if isinstance(answer, (BridgeError, Conflict)):
                results[ticket_id] = answer
            elif isinstance(answer, BaseException):
                raise answer  # not a service's answer: a defect, never recorded as a failed write
            else:
                results[ticket_id] = None
        return results

    @abc.abstractmethod
    def _apply(self, ticket_id: str, change: TicketWrite) -> Ticket | None:
        """Send an already-gated change; the ticket as the answer shows it, or None. Only
        :meth:`write` calls this."""


# ------------------------------------------------------------------------------------
# Error trackers (Sentry, Bugsink)
# ------------------------------------------------------------------------------------

from collections.abc import Iterable, Iterator  # noqa: E402 - kept beside the protocol that uses it
from typing import TYPE_CHECKING, Protocol, runtime_checkable  # noqa: E402

from bridge.models import ErrorIssue  # noqa: E402

if TYPE_CHECKING:
    from bridge.policy.visibility import SentryRef


@runtime_checkable
class ErrorTracker(Protocol):
    """An error tracker whose issues are filed as JIRA Tasks related to Bugs, never linked
    to a ticket (``bridge.connectors.sentry``, ``bridge.connectors.bugsink``).

    Terminology:
        reference   what a person writes to name an issue: its page URL, its short id
                    (Sentry ``BACKEND-1A2``, Bugsink's friendly id ``BACKEND-1``) or its id
                    (Sentry: a number; Bugsink: a UUID); parsed into a ``SentryRef``.
        prefix      a project's upper-cased slug, the part of a short id before the dash.
        status      Sentry's words for every tracker: ``unresolved``, ``resolved``,
                    ``ignored``, ``resolvedInNextRelease``; a regression is a change from
                    one of the last three back to ``unresolved``.
    """

    #: The service's name in messages ("Sentry", "Bugsink") and its kind ("sentry", "bugsink").
    service: str
    kind: str
    base_url: str
    #: The base URL whose pages are this tracker's (the outbound gate removes its host);
    #: None for sentry.io, whose hosts the gate always knows.
    self_hosted_base: str | None

    def check(self) -> str:
        """Reach the service with our token; say what we see. Raises on failure."""

    def parse(self, ref: str) -> "SentryRef":
        """A reference as given on the command line (no request); InvalidValue otherwise."""

    def resolve(self, ref: "str | SentryRef") -> ErrorIssue:
        """The issue a reference names; InvalidValue when malformed or unknown."""

    def issue(self, issue_id: str) -> ErrorIssue | None:
        """The issue with this id, or None when the tracker has none."""

    def status(self, issue_id: str) -> str | None:
        """The issue's status, or None when the tracker has no such issue."""

    def issues(self, *, project: str | None = None) -> Iterator[ErrorIssue]:
        """Unresolved issues, of one project or all, every page."""

    def project_slugs(self) -> list[str]:
        """The projects' slugs: their upper-cased forms prefix short ids."""

    def references(self, texts: Iterable[str], *, short_id_prefixes: Iterable[str],
                   known_ids: Iterable[str]) -> "tuple[list[SentryRef], list[str]]":
        """The issues ``texts`` refer to (URLs, short ids of these prefixes, known ids) and
        notes on references skipped as not this tracker's."""


# ------------------------------------------------------------------------------------
# The issue tracker (JIRA Cloud and Data Center)
# ------------------------------------------------------------------------------------

from typing import Any, Callable  # noqa: E402 - kept beside the protocol that uses it

from bridge.models import Comment, Issue, Version  # noqa: E402


@runtime_checkable
class Tracker(Protocol):
    """Where Bugs and their related Tasks live (``bridge.connectors.jira.JiraTracker``).

    Terminology:
        label       the deterministic label the bridge puts on each issue it files
                    (``bridge-zendesk-101``); JQL matches labels exactly, so it is how an
                    issue is found again after a crash, since JIRA has no idempotency key.
        internal    a comment only agents of the service desk see (role visibility or the
                    ``sd.public.comment`` property); the bridge's own comments are internal.
    """

    def check(self) -> str:
        """Reach JIRA with our credentials; say who we are. Raises on failure."""

    def browse_url(self, key: str) -> str:
        """The issue's page for people."""

    def issue(self, key_or_id: str) -> Issue | None:
        """The issue, or None when JIRA has none (or hides it from us)."""

    def find_by_label(self, label: str) -> list[Issue]:
        """Issues carrying exactly this label, oldest first (search lags behind writes)."""

    def create_once(self, label: str, fields: dict[str, Any], *, what: str,
                    sleep: Callable[[float], None] = ...) -> tuple[Issue, str]:
        """The issue carrying ``label``, created only if JIRA has none: ``(issue, how)``."""

    def close_as_duplicate(self, key: str, of_key: str) -> None:
        """Close ``key`` as a duplicate of ``of_key``."""

    def search_with_comments(self, jql: str, *, page_size: int = 100, reconcile: list[str] = (),
                             concurrency: int = 1) -> Iterator[tuple[Issue, list[dict]]]:
        """Every issue ``jql`` finds, with its comments, paged: read ahead of the caller a
        few pages at most, up to ``concurrency`` requests at a time."""

    def project_versions(self, project: str) -> list[Version]:
        """The project's versions (released or not)."""

    def comments(self, key: str) -> list[Comment]:
        """The issue's comments; ``public`` False for internal ones."""

    def comment_is_public(self, key: str, comment_id: str) -> bool:
        """Whether customers may read this comment (unknown reads as internal)."""

    def add_comment(self, key: str, body: str, *, internal: bool = True) -> str:
        """Comment on the issue; returns the comment's id."""

    def add_remote_link(self, key: str, *, global_id: str, url: str, title: str, summary: str | None = None) -> None:
        """Upsert a remote link by ``global_id``."""

    def update_fields(self, key: str, fields: dict[str, Any]) -> None:
        """Set fields (idempotent)."""

    def link_issues(self, link_type: str, inward: str, outward: str) -> None:
        """Link two issues (JIRA keeps one link per type and pair)."""

    def reopen(self, key: str) -> None:
        """Move a resolved issue back to work."""
