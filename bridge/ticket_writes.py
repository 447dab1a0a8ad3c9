"""How the executor writes to helpdesk tickets: in rounds, marked, exactly once.

A mixin of :class:`bridge.executor.Executor`. Marked actions (customer messages, the
escalation note) carry a marker tag written in the same call as the message, conditional on
the ticket version just read; a ticket that already carries the marker is not written again.
Writes go in rounds of one change per ticket (Zendesk takes one comment per update), each
round in bulk where the helpdesk has a bulk endpoint.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import replace
from typing import TYPE_CHECKING

from bridge.actions import (CUSTOMER_FACING, ESCALATED_TAG, MARKED, Acknowledge, Action, Announce, EscalatedNote,
                            STATE_TAG_PREFIX, InternalNote, PublicReply, StatusUpdate)
from bridge.connectors.base import Conflict, TicketWrite
from bridge.errors import BridgeError, ItemFailed
from bridge.in_flight import read_tickets, write_tickets
from bridge.models import Ticket

if TYPE_CHECKING:
    from bridge.executor import Outcome, _Pending

#: How many times a marked write is retried after the ticket changed under it.
CONFLICT_RETRIES = 3


class TicketWrites:
    """Helpdesk rounds, marked writes and the outbound gate's refusals (module docstring)."""

    def _helpdesk(self, work: list[_Pending], outcomes: list[Outcome]) -> None:
        """Marked actions: skip those whose marker the ticket carries; then write in rounds
        of one change per ticket (Zendesk takes one comment per update), each round in bulk
        requests several in flight, its results recorded in one transaction. The round's
        messages pass the outbound gate as the store's Tasks stood when it began (writing
        to tickets files no Task)."""
        if not work:
            self.tickets, self.written, self.standing, self.read_after = {}, {}, {}, {}
            return
        with _pinned(self.helpdesk):
            self._helpdesk_rounds(work, outcomes)

    def _helpdesk_rounds(self, work: list[_Pending], outcomes: list[Outcome]) -> None:
        marked_ids = sorted({p.action.ticket_id for p in work if isinstance(p.action, MARKED)})
        # Read only what neither the caller read moments ago nor the store knows at a version
        # the first write is conditional on (a ticket changed since answers a conflict).
        tickets = {t: self.fresh.get(t) or self.known[t] for t in marked_ids if t in self.fresh or t in self.known}
        missing = [t for t in marked_ids if t not in tickets]
        if missing:
            tickets.update(read_tickets(self.helpdesk, missing, self.concurrency))
        self.tickets = tickets
        queues: dict[str, list[_Pending]] = {}
        for pending in work:
            action = pending.action
            if isinstance(action, MARKED):
                ticket = tickets.get(action.ticket_id)
                if ticket is None:
                    self._failed(pending, outcomes, ItemFailed(f"ticket {action.ticket_id} is gone from the helpdesk"))
                    continue
                if action.marker in ticket.tags:
                    self._succeeded(pending, outcomes, "skipped", "the ticket already carries its marker")
                    continue
            elif pending.orphan and self._note_exists(action):
                self._succeeded(pending, outcomes, "skipped", "the note is already on the ticket")
                continue
            queues.setdefault(action.ticket_id, []).append(pending)
        for queue in queues.values():
            # Marked writes first: their write is conditional on the version just read.
            queue.sort(key=lambda p: not isinstance(p.action, MARKED))

        self.written = {}
        #: Each ticket as it stands after the bridge's own writes, known without a gap: as
        #: read above, then as the answer of each write made on exactly that version showed
        #: it. A later marked write is made on it instead of a fresh read, and the caller may
        #: record its version as the bridge's own (see :meth:`standing_ticket`).
        self.standing: dict[str, Ticket] = dict(tickets)
        #: Tickets the helpdesk read back right after a bulk write confirmed by reading
        #: (their version after it); a later write to the ticket drops its entry.
        self.read_after: dict[str, Ticket] = {}
        first_round = True
        while any(queues.values()):
            round_ = [queue.pop(0) for queue in queues.values() if queue]
            changes, ready = [], []
            self._fence()  # once for the round: its writes go out together
            for pending in round_:
                ticket = tickets.get(pending.action.ticket_id)
                on_version = first_round
                if not first_round and self.lease is None and isinstance(pending.action, MARKED):
                    # No lease keeps other processes off this ticket (two operators on two
                    # stores): a later marked write is conditional on the version our own
                    # last write left (its answer said which, and its tags), or else made on
                    # a fresh read (a conflict means someone else wrote; the marker decides).
                    ticket = self.standing.get(pending.action.ticket_id)
                    if ticket is None:
                        self._guarded(pending, outcomes, lambda p: self._send_marked(p.action, p.item.escalation, p))
                        continue
                    if pending.action.marker in ticket.tags:
                        self._succeeded(pending, outcomes, "skipped", "the ticket already carries its marker")
                        continue
                    on_version = True
                try:
                    change = self.change_for(pending.action, ticket, on_version, escalation=pending.item.escalation)
                    pending.sent = self._sent(pending.action, change, ticket)
                    changes.append((pending.action.ticket_id, change))
                    ready.append(pending)
                except BridgeError as exc:
                    self._failed(pending, outcomes, exc)
            results = self._write_round(changes)
            for pending in ready:
                error = results.get(pending.action.ticket_id)
                if isinstance(error, Ticket):  # applied, and read back right after
                    self.read_after[pending.action.ticket_id], error = error, None
                if error is None:
                    self.written[pending.action.ticket_id] = pending.item
                    self._succeeded(pending, outcomes, "done")
                elif isinstance(error, Conflict) and isinstance(pending.action, MARKED) \
                        and not isinstance(pending.action, StatusUpdate):
                    # (A periodic update that met a conflict waits for the next run.)
                    self._guarded(pending, outcomes, lambda p: self._send_marked(p.action, p.item.escalation, p))
                elif _refused(error):
                    self._refused(pending, outcomes, error)
                else:
                    self._failed(pending, outcomes, error)
            self._flush()
            first_round = False

    def _write_round(self, changes: list[tuple[str, TicketWrite]]) -> dict[str, BaseException | None]:
        """One round: a bulk write where there are several tickets, a plain one for one (a
        bulk job costs a status poll that a single ticket does not need)."""
        for ticket_id, _ in changes:
            self.read_after.pop(ticket_id, None)  # this write moves the ticket on
        if len(changes) != 1:
            for ticket_id, _ in changes:
                self.standing.pop(ticket_id, None)  # a bulk job's result carries no version
            return write_tickets(self.helpdesk, changes, self.concurrency) if changes else {}
        ticket_id, change = changes[0]
        try:
            after = self.helpdesk.write(ticket_id, change)
        except (BridgeError, Conflict) as exc:
            self.standing.pop(ticket_id, None)
            return {ticket_id: exc}
        before = self.standing.pop(ticket_id, None)
        if before is not None and after is not None and change.if_version is not None \
                and change.if_version == before.version:
            # Made on exactly the version we knew: nothing else changed the ticket between.
            self.standing[ticket_id] = replace(before, version=after.version, tags=after.tags, status=after.status)
        return {ticket_id: None}

    def standing_ticket(self, ticket_id: str, read_version: str | None) -> Ticket | None:
        """The ticket (version, tags, subject; no conversation) after the bridge's own
        writes, when nothing else changed it since it was read at ``read_version`` (None:
        unknown, or the bridge did not write)."""
        standing = getattr(self, "standing", {}).get(ticket_id)
        if standing is None or standing.version is None or standing.version == read_version:
            return None
        return standing

    def change_for(self, action: Action, ticket: Ticket | None, first_round: bool = False, *,
                   escalation=None) -> TicketWrite:
        """The helpdesk write that carries ``action`` (its marker tag in the same call)."""
        change = self._change_for(action, ticket, first_round)
        if isinstance(action, CUSTOMER_FACING) and change.comment and escalation is not None:
            change = replace(change, comment=self._with_escalate_link(change.comment, action, ticket, escalation))
        return change

    def _with_escalate_link(self, body: str, action, ticket: Ticket | None, escalation) -> str:
        """Below the highest severity, a customer message ends with the signed Escalate link
        (policy 000's button, for every helpdesk and for e-mail); at the highest, it does not."""
        link = self.escalate_link(escalation, action.helpdesk, action.ticket_id) if self.escalate_link else None
        if not link:
            return body
        locale = getattr(action, "locale", None) or (ticket.locale if ticket else None)
        return f"{body.rstrip()}\n\n{self.messages.render('escalate_link', locale, escalate_url=link).strip()}\n"

    def _change_for(self, action: Action, ticket: Ticket | None, first_round: bool) -> TicketWrite:
        version = ticket.version if (ticket and first_round) else None
        if isinstance(action, Announce):
            body = self._render(action.template, action.locale, action.context, ticket)
            stale = tuple(t for t in (ticket.tags if ticket else ()) if t.startswith(STATE_TAG_PREFIX) and t != action.marker)
            return TicketWrite(comment=body, public=True, status=action.helpdesk_status, add_tags=(action.marker,),
                               remove_tags=stale, if_version=version)
        if isinstance(action, PublicReply):
            return TicketWrite(comment=action.body, public=True, add_tags=(action.marker,), if_version=version)
        if isinstance(action, StatusUpdate):
            body = self._render("status_update", action.locale, action.context, ticket)
            stale = tuple(t for t in (ticket.tags if ticket else ()) if t.startswith("bridge_update_") and t != action.marker)
            return TicketWrite(comment=body, public=True, add_tags=(action.marker,), remove_tags=stale,
                               if_version=version)
        if isinstance(action, Acknowledge):
            context = dict(action.context)
            if action.show_key:
                context["jira_key"] = action.issue_key
            body = self._render("acknowledgement", action.locale, context, ticket)
            return TicketWrite(comment=body, public=True, add_tags=(action.marker,), if_version=version)
        if isinstance(action, EscalatedNote):
            url = self.tracker.browse_url(action.issue_key) if action.issue_key else ""
            note = (f"Escalated to JIRA as {action.issue_key}: {action.issue_url or url}\n"
                    f"Severity {action.severity}, JIRA priority {action.priority}. "
                    "Engineering's progress will be mirrored on this ticket.")
            stale: tuple[str, ...] = ()
            if action.replaced_key:
                note = (f"{action.replaced_key} is gone from JIRA: this ticket's escalation was refiled as "
                        f"{action.issue_key}: {action.issue_url or url}\n"
                        f"Severity {action.severity}, JIRA priority {action.priority}. The customer was not "
                        "told; engineering's progress on the new Bug will be mirrored on this ticket.")
                # The gone Bug's key tag would send agents (and their views) to nothing.
                if action.tag_prefix:
                    stale = (action.key_tag(action.replaced_key),)
            fields = {action.key_field: action.issue_key} if action.key_field else {}
            tags = tuple(dict.fromkeys((action.marker, ESCALATED_TAG)))
            return TicketWrite(comment=note, public=False, add_tags=tags, remove_tags=stale, fields=fields,
                               if_version=version)
        return TicketWrite(comment=action.body, public=False)

    def _render(self, template: str, locale: str | None, context: dict, ticket: Ticket | None) -> str:
        """A customer message from a template (the templates write times in one format)."""
        locale = locale or (ticket.locale if ticket else None)
        context = dict(context)
        if ticket is not None:
            context.update(subject=ticket.subject, ticket_id=ticket.id)
        return self.messages.render(template, locale, **context)

    def _sent(self, action, change: TicketWrite, ticket: Ticket | None) -> dict | None:
        """What the write puts on the ticket, as the helpdesk will show it (after the gate)."""
        if not change.comment:
            return None
        locale = getattr(action, "locale", None) or (ticket.locale if ticket else None)
        return {"body": self.helpdesk.outgoing_text(change.comment), "public": change.public, "locale": locale}

    def _send_marked(self, action, escalation=None, pending=None) -> str:
        """A marked write on its own, exactly once: re-read, skip if marked, write on that version."""
        getattr(self, "standing", {}).pop(action.ticket_id, None)  # a fresh read starts no known chain
        getattr(self, "read_after", {}).pop(action.ticket_id, None)
        for _ in range(CONFLICT_RETRIES + 1):
            ticket = self.helpdesk.get_ticket(action.ticket_id)
            if action.marker in ticket.tags:
                return "skipped"
            try:
                self._fence()
                change = self.change_for(action, ticket, first_round=True, escalation=escalation)
                self.helpdesk.write(action.ticket_id, change)
                if pending is not None:
                    pending.sent = self._sent(action, change, ticket)
            except Conflict:
                continue
            return "done"
        raise ItemFailed(f"ticket {action.ticket_id} kept changing while the bridge wrote to it", hint="run again")

    def _refused(self, pending: _Pending, outcomes: list[Outcome], error: BaseException) -> None:
        """The outbound gate refused the text (an error-tracker reference it could not strip).
        Failing would fail every later run again; dropping it silently would lose it. So the
        agents get an internal note naming what was held back and where to read it (the
        note carries none of the refused text), and the action counts as handled."""
        action = pending.action
        what = "a message to the customer" if isinstance(action, CUSTOMER_FACING) else "an internal note"
        where = getattr(pending.item.issue, "key", None) or getattr(pending.item.escalation, "jira_key", None)
        note = (f"The bridge held back {what} for this ticket: {error}. "
                f"Read it on {where or 'the Bug'} in JIRA and pass on what the customer should know.")
        getattr(self, "standing", {}).pop(action.ticket_id, None)  # an unconditional write
        getattr(self, "read_after", {}).pop(action.ticket_id, None)
        try:
            self.helpdesk.write(action.ticket_id, TicketWrite(comment=note, public=False))
        except BridgeError as exc:
            self._failed(pending, outcomes, exc)
            return
        self._succeeded(pending, outcomes, "refused", f"held back, agents told: {error}")

    def _note_exists(self, action: InternalNote) -> bool:
        """Whether this note already stands on the ticket, compared as it was sent (after
        the gate) and with white space folded, as helpdesks re-flow text."""
        wanted = " ".join(self.helpdesk.outgoing_text(action.body).split())
        ticket = self.helpdesk.get_ticket(action.ticket_id)
        return any(not c.public and " ".join(c.body.split()) == wanted for c in ticket.comments)



def _pinned(helpdesk):
    """The helpdesk's gate pinned for a round, where the gate can be (a plain
    :class:`~bridge.policy.visibility.OutboundGate` reads no store)."""
    pinned = getattr(getattr(helpdesk, "gate", None), "pinned", None)
    return pinned() if pinned is not None else nullcontext()


def _refused(error: BaseException) -> bool:
    from bridge.policy.visibility import OutboundRefused

    return isinstance(error, OutboundRefused)
