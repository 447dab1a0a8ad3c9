"""Recording what a sync pass's batches leave (see :mod:`bridge.sync.engine`): the
announcements a dead run landed, where sync stands in each Bug and ticket, the versions the
bridge's own writes left on the tickets.

A mixin of :class:`bridge.sync.engine.SyncEngine`; runs on the thread that applies a batch
(:mod:`bridge.sync.pipeline`), each step one transaction, fenced by the pass's leases.
"""

from __future__ import annotations

from bridge.errors import BridgeError
from bridge.in_flight import read_tickets
from bridge.models import Ticket
from bridge.sync.items import _Item
from bridge.ticket_views import view_of


class RecordSteps:
    """Recording (see the module docstring)."""

    def _adopt_landed(self, items: list[_Item]) -> None:
        """Record the announcements fetch found landed by a run that died (their outbox
        entries sent, their tickets told and set) before this pass writes anything on top:
        facts, whatever becomes of the items' own actions."""
        landed = [entry for item in items for entry in item.landed]
        if not landed:
            return
        self._fence()
        with self.store.session() as s:
            self.store.outbox.finish_many(done=[(key, None) for key, *_ in landed], s=s)
            self.store.links.record_many([(helpdesk, ticket_id, told) for _, helpdesk, ticket_id, told in landed], s=s)

    def _record(self, items: list["_Item"], touched: set[int]) -> None:
        """Everything for these escalations was applied: advance their cursors and mark
        them seen, and forget the SLA checks of those ``touched`` — one transaction."""
        from bridge.sync.plan import signature

        seen_rows, positions = [], []
        for item in items:
            seen = signature(item.issue)
            seen_rows.append({"id": item.escalation.id, "jira_key": item.issue.key, "jira_url": item.issue.url,
                              "status": seen.status, "resolution": seen.resolution,
                              "fix_versions": list(seen.fix_versions), "jira_updated": item.issue.updated,
                              "comment_id": item.comment_cursor})
            for (helpdesk, ticket_id), where in item.seen.items():
                positions.append((helpdesk, ticket_id, {"last_comment_id": where["comment_id"],
                                                        "last_status": where["status"],
                                                        "known_version": where["version"],
                                                        "known_view": where.get("view")}))
        if not (seen_rows or positions or touched):
            return
        self._fence()
        with self.store.session() as s:
            self.store.escalations.record_seen_many(seen_rows, s=s)
            self.store.links.record_many(positions, s=s)
            self.store.escalations.forget_sla_checks(touched, s=s)

    def _remember_versions(self, written: dict[str, "_Item"], read_after: dict[str, Ticket]) -> None:
        """Note the version each ticket has after the bridge's own writes (one bulk read
        per hundred tickets, unless the write's confirmation read it back already), so the
        next run recognises that the change the helpdesk reports for it is the bridge's own
        and does not read its conversation again.

        The read comes after the write, so the version it gives may already hold a
        customer's message written in between: where the read shows the conversation, a
        ticket with a customer message the bridge has not processed keeps its old version
        (the next run reads it in full and passes the message on)."""
        after = {t: read_after[t] for t in written if t in read_after}
        unread = sorted(t for t in written if t not in after)
        try:
            # Only the version and the view (subject, status, tags) are kept: no people.
            after.update(read_tickets(self.helpdesk, unread, self.concurrency, people=False) if unread else {})
        except BridgeError:
            pass  # the next run then reads these tickets in full: slower, not wrong
        for ticket_id, ticket in after.items():
            if self._unprocessed_message(written[ticket_id], ticket):
                continue  # not the bridge's own version: the next run reads the ticket in full
            self._update_seen(written[ticket_id], ticket.helpdesk, ticket_id, version=ticket.version,
                              view=view_of(ticket))

    def _unprocessed_message(self, item: _Item, ticket: Ticket) -> bool:
        """Whether ``ticket``, as read after the bridge's writes, shows a customer message
        after the last comment this pass (or the last run) processed.

        A read that carries the conversation tells by it (Freshdesk's and django-helpdesk's
        reads do). Zendesk's bulk read carries none, but its ticket's last audit says who
        changed it last: anyone but the bridge, and the version is not the bridge's own
        (whatever the change was, the next run reads the ticket in full)."""
        if ticket.last_change_by_bridge is False:
            return True
        comments = list(ticket.comments)
        if not comments:
            return False
        where = item.seen.get((ticket.helpdesk, ticket.id))
        link = self._link_of(item, ticket.helpdesk, ticket.id)
        cursor = where.get("comment_id") if where is not None else getattr(link, "last_comment_id", None)
        ids = [c.id for c in comments]
        if cursor in ids:
            # By position, not by id order: a helpdesk's ids need not sort (Freshdesk's
            # description is "<ticket>-description", listed first).
            return any(c.public and c.by_customer for c in comments[ids.index(cursor) + 1:])
        if link is None:
            return True  # nothing to measure by: the next run reads it in full
        # The cursor is not in the conversation (a first look, or a comment gone): what the
        # next run would count as new (:meth:`FetchSteps._customer_news`).
        messages, _, _ = self._customer_news(link.model_copy(update={"last_comment_id": cursor}), ticket)
        return bool(messages)

    def _known_version(self, item: "_Item", ticket: Ticket) -> str | None:
        """The ticket version whose conversation the bridge has processed."""
        where = item.seen.get((ticket.helpdesk, ticket.id))
        if where is not None:
            return where.get("version")
        link = self._link_of(item, ticket.helpdesk, ticket.id)
        return link.known_version if link is not None else None

    def _link_of(self, item: "_Item", helpdesk: str, ticket_id: str):
        """The item's link of this ticket as this pass loaded it (the store's if not)."""
        for link in item.links or ():
            if link.helpdesk == helpdesk and link.ticket_id == ticket_id:
                return link
        return self.store.links.get(helpdesk, ticket_id)

    def _update_seen(self, item: "_Item", helpdesk: str, ticket_id: str, **values) -> None:
        """Change where sync stands in a ticket: in the item's record while the item is still
        to be recorded (its other positions land together), else in the store now."""
        key = (helpdesk, ticket_id)
        if key in item.seen:
            item.seen[key].update(values)
        elif item.issue is not None:
            link = self._link_of(item, helpdesk, ticket_id)
            item.seen[key] = {"comment_id": link.last_comment_id if link else None,
                              "status": link.last_status if link else None,
                              "version": link.known_version if link else None,
                              "view": link.known_view if link else None, **values}
        else:
            # A periodic item (nothing else to record): gathered, written together.
            columns = {"status": "last_status", "version": "known_version", "comment_id": "last_comment_id",
                       "view": "known_view"}
            self._loose.append((helpdesk, ticket_id, {columns[k]: v for k, v in values.items()}))

    def _record_loose_versions(self) -> None:
        loose, self._loose = self._loose, []  # taken whole: batches are applied on two threads
        if loose:
            self._fence()
            self.store.links.record_many(loose)
