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


class Conflict(Exception):
    """The ticket changed since it was read (optimistic concurrency); re-read and retry."""


class Helpdesk(abc.ABC):
    """A customer helpdesk. Subclasses implement reading and ``_apply``."""

    kind: str = ""
    #: Set by subclasses: the service name used in messages ("Zendesk").
    service: str = ""

    def __init__(self, gate) -> None:
        if gate is None:
            raise TypeError("a Helpdesk needs an OutboundGate: nothing reaches a ticket ungated")
        self._gate = gate

    @abc.abstractmethod
    def get_ticket(self, ticket_id: str) -> Ticket:
        """The ticket with its whole conversation; raises UnknownTicket when absent."""

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

    def write(self, ticket_id: str, change: TicketWrite) -> None:
        """Apply one change; the comment, if any, passes the outbound gate first.

        Raises ``OutboundRefused`` (nothing sent) when the gate refuses the text, and
        :class:`Conflict` when ``if_version`` no longer matches.
        """
        if change.comment is not None:
            change = replace(change, comment=self._gate.check(change.comment))
        self._apply(ticket_id, change)

    @abc.abstractmethod
    def _apply(self, ticket_id: str, change: TicketWrite) -> None:
        """Send an already-gated change. Only :meth:`write` calls this."""
