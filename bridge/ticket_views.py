"""The ticket as the bridge last knew it: what a marked write needs, kept with the version.

A marked write (a customer message with its marker tag) needs three things from the ticket:
its version (the write is conditional on it), its tags (is the marker there already; which
stale markers to take off) and its subject (the templates quote it). Reading the ticket
first costs a request per hundred tickets on every round. But the bridge already records
the version each linked ticket had when it last read it or last wrote to it
(``linked_ticket.known_version``); kept beside it as a *view* (subject, status, tags), an
unchanged ticket needs no read at all: the write is conditional on that version, so a ticket
that did change since answers a conflict and is read and written afresh.

A view counts only while its own ``version`` equals the link's ``known_version``: a path
that moves the version without writing a view makes the old view unusable, never wrong.
Pure: no I/O.
"""

from __future__ import annotations

import json

from bridge.models import Ticket

__all__ = ["ticket_from_view", "view_of"]


def view_of(ticket: Ticket) -> str | None:
    """The view to record with ``ticket.version`` (None when the ticket has no version)."""
    if ticket.version is None:
        return None
    return json.dumps({"version": ticket.version, "subject": ticket.subject, "status": ticket.status,
                       "tags": list(ticket.tags)}, ensure_ascii=False, sort_keys=True)


def ticket_from_view(link) -> Ticket | None:
    """The ticket as ``link`` (a ``LinkedTicket``) last knew it, without its conversation;
    None when the link holds no view valid for its ``known_version``."""
    raw, version = getattr(link, "known_view", None), getattr(link, "known_version", None)
    if not raw or version is None:
        return None
    try:
        view = json.loads(raw)
        if not isinstance(view, dict) or view.get("version") != version:
            return None
        tags = view.get("tags")
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            return None
        return Ticket(id=link.ticket_id, helpdesk=link.helpdesk, subject=str(view.get("subject") or ""),
                      description="", status=str(view.get("status") or link.last_status or "open"),
                      priority=None, requester=None, requester_email=None, organization=None,
                      tags=tuple(tags), locale=link.locale, version=version)
    except ValueError:
        return None
