"""Fetching for the sync pass: what changed in JIRA and on the helpdesk, and the plan for
each escalation that changed (see :mod:`bridge.sync.engine` for the whole pass).

A mixin of :class:`bridge.sync.engine.SyncEngine`: it reads (JIRA, the helpdesk, the store)
and plans; it writes nothing, so a dry run stops after it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING

from bridge.actions import STATE_TAG_PREFIX, state_tag
from bridge.errors import ItemFailed
from bridge.in_flight import get_tickets, read_tickets
from bridge.models import Issue, Ticket
from bridge.sync.items import CURSOR_HELPDESK, CURSOR_RELEASED, CURSOR_SINCE, _after, _id_order, _Item
from bridge.sync.plan import CustomerMessage, JiraComment, Rules, Seen, TicketView, plan
from bridge.ticket_views import view_of

if TYPE_CHECKING:
    from bridge.policy.update_promises import UpdatePromises

#: For a ticket linked without a recorded baseline: how far before the link a customer
#: message may be stamped and still count as new (helpdesk clocks, whole-second stamps).
LINK_CLOCK_TOLERANCE = timedelta(minutes=2)


class FetchSteps:
    """Reading and planning (see the module docstring)."""

    def _changed_issues(self, scope: dict | None, retry: list[str]) -> Iterable[tuple[Issue, list[dict]]]:
        """Bugs to look at, with their comments (see the module docstring), read a search
        page at a time as the caller goes through them; ``scope``: the escalations of a
        partial pass by issue id (None: a full pass). Bugs the store has no complete
        escalation for are dropped by the caller."""
        prefix = self.mappings.jira.label_prefix
        from bridge.connectors.jql import jql_string

        if self._only is not None:
            # Just these Bugs, whatever their "updated": a doorbell rang for them.
            ids = sorted(scope, key=_id_order)
            jql = f"labels = {jql_string(prefix)} AND id in ({', '.join(str(int(i)) for i in ids)})"
            found = self.tracker.search_with_comments(jql, reconcile=ids)
            self._released = None  # and no release is new: the shared cursors are a full pass's
            return ((issue, comments) for issue, comments in found if issue.id in scope)
        since = self.store.cursors.get(CURSOR_SINCE)
        released_before = self.store.cursors.get(CURSOR_RELEASED)
        if released_before is not None and not self.store.escalations.any_fix_versions():
            # No Bug carries a fix version: no release can concern one, so the versions are
            # not read (the cursor stays, and a later read compares against it: nothing lost).
            released_now, newly_released = None, []
        else:
            versions = self.tracker.project_versions(self.mappings.jira.project)
            released_now = sorted(v.id for v in versions if v.released)
            newly_released = ([] if released_before is None
                              else sorted(set(released_now) - set(json.loads(released_before))))

        clauses = []
        if since is not None:
            clauses.append(f"updated >= {int(since)}")
            if newly_released:
                clauses.append(f"fixVersion in ({', '.join(newly_released)})")
            if retry:
                clauses.append(f"id in ({', '.join(str(int(i)) for i in retry)})")
        jql = f"labels = {jql_string(prefix)}"
        if clauses:
            jql += " AND (" + " OR ".join(clauses) + ")"
        jql += " ORDER BY updated ASC"
        never_seen = self.store.escalations.never_seen_issue_ids()
        self._released, self._newly_released = released_now, newly_released
        return self.tracker.search_with_comments(jql, reconcile=never_seen, concurrency=getattr(self, "concurrency", 1))

    def _ticket_changes(self, scope: dict | None, retry: list[str]) -> dict[str, dict[str, Ticket]]:
        """Linked tickets changed since the last run, read afresh, grouped by issue id.

        The tickets of escalations whose last sync failed are read again too: the helpdesk's
        change cursor has moved past them, but their news was not passed on yet. A ticket
        that cannot be read (a 429 asking a long wait, a time-out, gone) is not a change:
        its Bug goes into ``self._unreadable`` (issue id -> (ticket id, error)), which the
        engine reports and leaves for the next run, and the pass goes on without it."""
        self._unreadable: dict[str, tuple[str, BaseException]] = {}
        listed: dict[str, str | None] = {}  # ticket id -> its version as the listing shows it
        if self._only is not None:
            changed_ids, self._helpdesk_cursor = None, None  # read every linked ticket of these
        else:
            cursor = self.store.cursors.get(CURSOR_HELPDESK)
            if cursor is None:
                cursor = str(int((self.clock() - timedelta(days=1)).timestamp()))
            listed, self._helpdesk_cursor = self.helpdesk.changed_tickets(cursor)
            changed_ids = None if listed is None else list(listed)
            listed = listed or {}
        # Only the links that matter: of the changed tickets, of the Bugs to retry, or of
        # the escalations of a partial pass (never every link in the store).
        kind = self.helpdesk.kind
        if scope is not None:
            found = self.store.links.of_complete(kind, escalation_ids=[e.id for e in scope.values()])
        elif changed_ids is None:
            found = self.store.links.of_complete(kind)  # this helpdesk cannot list changes
        else:
            found = self.store.links.of_complete(kind, ticket_ids=[str(t) for t in changed_ids],
                                                 issue_ids=retry or None)
        by_ticket = {link.ticket_id: issue_id for link, issue_id in found}
        links = {link.ticket_id: link for link, _ in found}
        self._link_by_ticket = links
        if changed_ids is None:
            # This helpdesk cannot list changes: every linked ticket is read.
            changed_ids = list(by_ticket)
        changed_ids = list(dict.fromkeys(
            [str(t) for t in changed_ids] + [t for t, issue_id in by_ticket.items() if issue_id in set(retry)]))
        retried = set(retry)
        # A ticket listed at the version the bridge's own last write left needs no read at all.
        linked = [t for t in changed_ids if t in by_ticket
                  and not (listed.get(t) is not None and listed.get(t) == links[t].known_version
                           and by_ticket[t] not in retried)]
        # One bulk read tells which of them changed since the bridge's own last write
        # (bulk requests several in flight; the conversations read likewise).
        limit = getattr(self, "concurrency", 1)
        current = read_tickets(self.helpdesk, linked, limit) if linked else {}
        self._fresh = dict(current)
        news = [t for t in linked if t in current
                and not (links[t].known_version is not None and links[t].known_version == current[t].version
                         and by_ticket[t] not in retried)]  # else the last change is the bridge's own write
        conversations = get_tickets(self.helpdesk, [t for t in news if not current[t].comments], limit)
        changes: dict[str, dict[str, Ticket]] = {}
        read: list[str] = []
        for ticket_id in news:
            full = conversations.get(ticket_id, current[ticket_id])
            if isinstance(full, BaseException):
                # This ticket's Bug waits for the next run (its retry list); the pass goes
                # on for every other escalation.
                self._unreadable.setdefault(by_ticket[ticket_id], (ticket_id, full))
                self._fresh.pop(ticket_id, None)
                continue
            read.append(ticket_id)
            self._fresh[ticket_id] = full
            changes.setdefault(by_ticket[ticket_id], {})[ticket_id] = full
        for issue_id in self._unreadable:
            changes.pop(issue_id, None)  # its other tickets are read again with it, next run
        self._landed = self._announcements_that_landed(
            {t: self._fresh[t] for t in read if by_ticket[t] not in self._unreadable}, links)
        return changes

    def _announcements_that_landed(self, tickets: dict[str, Ticket], links: dict) -> dict[str, tuple]:
        """Announcements a run wrote and died before recording, by ticket id: (outbox
        entry, its payload). The ticket carries a state marker the store does not know it
        was told, and the last state write the bridge set out to make there is an
        unfinished announcement whose marker that is (the marker and the announcement land
        in one write, as the executor's orphan check also relies on). Such a ticket is
        planned as told, solved if the write solved it (a customer writing on it since
        reopened it), and the engine records that before the pass writes (``_adopt_landed``)."""
        suspects = {}
        for ticket_id, ticket in tickets.items():
            link = links[ticket_id]
            known = state_tag(link.last_announced_state) if link.last_announced_state else None
            if any(t.startswith(STATE_TAG_PREFIX) and t != known for t in ticket.tags):
                suspects[ticket_id] = link
        if not suspects:
            return {}
        latest = self.store.outbox.latest_by_target(
            ((link.escalation_id, f"{link.helpdesk}:{link.ticket_id}") for link in suspects.values()),
            ("Announce", "StateNote"))
        landed = {}
        for ticket_id, link in suspects.items():
            entry = latest.get(f"{link.helpdesk}:{ticket_id}")
            if entry is None or entry.state == "sent" or entry.kind != "Announce":
                continue
            payload = self.store.outbox.payload(entry)
            if payload.get("state") and payload.get("marker") in tickets[ticket_id].tags:
                landed[ticket_id] = (entry, payload)
        return landed

    # ----------------------------------------------------------------- one escalation --
    def _prepare(self, escalation, found, changed_tickets: dict[str, Ticket], links: list,
                 promises: UpdatePromises) -> "_Item":
        """Read what is needed for one escalation and plan its actions (no writes);
        ``links``: its linked tickets, as the batch read them; ``promises``: when customers
        told something now hear next, at the batch's instant."""
        if found is None:
            issue = self.tracker.issue(escalation.jira_issue_id)
            if issue is None:
                raise ItemFailed(f"{escalation.jira_key} is gone from JIRA (or hidden from the bridge's user)")
            raw_comments = [{"id": c.id, "body": c.body, "author": c.author, "restricted": not c.public}
                            for c in self.tracker.comments(issue.key)]
        else:
            issue, raw_comments = found

        comment_cursor = escalation.last_jira_comment_id
        new_comments = [c for c in raw_comments if comment_cursor is None or _after(c["id"], comment_cursor)]
        comments = [JiraComment(id=c["id"], body=c["body"], author=c["author"],
                                public=not c["restricted"] and self._publishable(issue.key, c))
                    for c in new_comments]

        views = []
        seen: dict[tuple[str, str], dict] = {}
        landed = []
        for link in links:
            ticket = changed_tickets.get(link.ticket_id)
            if ticket is not None and link.ticket_id in getattr(self, "_landed", {}):
                # Planned as the link will stand once the landed write is recorded (an
                # unsaved copy; the engine records it before this pass writes).
                entry, payload = self._landed[link.ticket_id]
                told = _told_by(entry, payload, link)
                landed.append((entry.key, link.helpdesk, link.ticket_id, told))
                link = link.model_copy(update=told)
            messages: tuple[CustomerMessage, ...] = ()
            reopened = False
            if ticket is not None:
                messages, last_id, reopened = self._customer_news(link, ticket)
                if last_id:
                    seen[(link.helpdesk, link.ticket_id)] = {"comment_id": last_id, "status": ticket.status,
                                                             "version": ticket.version, "view": view_of(ticket)}
            views.append(TicketView(helpdesk=link.helpdesk, ticket_id=link.ticket_id, locale=link.locale,
                                    last_announced=link.last_announced_state,
                                    last_announced_at=(link.last_public_update_at.isoformat()
                                                       if link.last_public_update_at else None),
                                    subject=ticket.subject if ticket else "",
                                    customer_messages=messages, reopened_by_customer=reopened))

        last_seen = None
        if escalation.last_jira_updated is not None or escalation.last_status is not None:
            last_seen = Seen(status=escalation.last_status, resolution=escalation.last_resolution,
                             fix_versions=tuple(json.loads(escalation.last_fix_versions or "[]")))
        rules = Rules(
            status_rule_for=self.mappings.status_rule_for,
            customer_marker=self.mappings.comments.customer_marker,
            jira_to_internal_notes=self.mappings.comments.jira_to_internal_notes,
            customer_to_jira=self.mappings.comments.customer_to_jira,
            redact=self.redactor.redact,
            # An announcement tells the customers when they will hear next (the cadence).
            next_update=lambda: self._next_update_after_now(escalation, issue, promises),
        )
        actions = plan(issue=issue, comments=comments, tickets=views, last_seen=last_seen, rules=rules)

        return _Item(escalation=escalation, issue=issue, actions=actions, seen=seen, landed=landed, links=list(links),
                     comment_cursor=max((c["id"] for c in new_comments), key=_id_order) if new_comments else None)

    def _publishable(self, key: str, comment: dict) -> bool:
        """Only a comment that would go to customers is worth a request to check it."""
        if not comment["body"].lstrip().startswith(self.mappings.comments.customer_marker):
            return not comment["restricted"]
        return self.tracker.comment_is_public(key, comment["id"])

    def _customer_news(self, link, ticket: Ticket) -> tuple[tuple[CustomerMessage, ...], str | None, bool]:
        """Customer messages on ``ticket`` new since the last run, the newest comment id,
        and whether the customer reopened a solved ticket."""
        comments = list(ticket.comments)
        if not comments:
            return (), None, False
        if link.last_comment_id is None:
            # First look at this ticket: what the customer wrote after it was linked to the
            # Bug is new (what came before is in the Bug's description already).
            # (Tickets linked by the escalate flow have a recorded baseline; this is for others.)
            since = link.linked_at - LINK_CLOCK_TOLERANCE if link.linked_at else None
            fresh = [c for c in comments if c.created is None or since is None or c.created >= since]
        else:
            ids = [c.id for c in comments]
            if link.last_comment_id in ids:
                # By position: the helpdesks list a conversation oldest first, but their ids
                # need not sort (Freshdesk's description is "<ticket>-description").
                fresh = comments[ids.index(link.last_comment_id) + 1:]
            else:
                fresh = [c for c in comments if _after(c.id, link.last_comment_id)]
        # Whatever a customer writes is theirs, even text that looks like the bridge's mark:
        # the bridge writes as an agent, never as the requester.
        messages = tuple(CustomerMessage(id=c.id, body=c.body) for c in fresh if c.public and c.by_customer)
        was_closed = link.last_status in ("solved", "closed")
        reopened = was_closed and ticket.status in ("new", "open", "pending", "hold") and bool(messages)
        return messages, comments[-1].id, reopened


def _told_by(entry, payload: dict, link) -> dict:
    """The link columns a landed announcement sets (the claim's time stands for the write's)."""
    return {"last_announced_state": payload["state"], "last_public_update_at": entry.created_at,
            "last_status": payload.get("helpdesk_status") or link.last_status}
