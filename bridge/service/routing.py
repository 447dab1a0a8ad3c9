"""From inbox items to work: which escalations to bring up to date, which tickets to escalate.

A delivery only says where to look. :func:`route` turns a batch of items into a
:class:`Work` by asking the store which escalations follow the issue, ticket or Sentry issue
named, and — for tickets — by re-reading the ticket through the helpdesk API to see
whether the customer pressed the Escalate button (the tag) or opened it with the
``[Emergency]`` subject. Nothing in a delivery's body is believed beyond the identifiers.

"Opened it with": the subject rule escalates a *new* ticket only, so an old ticket that
happens to carry the subject is not escalated by its next update. A ticket is new when
the delivery says it was created (Zendesk's ``ticket.created``, django-helpdesk's new-ticket
hook, a rule sending ``"event": "created"``) or when the ticket itself was created at most
:data:`NEW_TICKET_WINDOW` before the delivery reached us: Freshdesk's one rule for
"ticket created or updated" (the README's) cannot tell which it fired for.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bridge.store.tables import InboxItem

__all__ = ["NEW_TICKET_WINDOW", "TICKET_SOURCES", "Work", "emergency_subject", "escalate_pressed", "is_new",
           "may_press", "route"]

#: Sources whose subject is a helpdesk ticket id (``button`` is the signed Escalate link).
TICKET_SOURCES = ("zendesk", "freshdesk", "django-helpdesk", "button")


@dataclass
class Work:
    """What a batch of inbox items asks for."""

    #: Escalation row ids to bring up to date (the core re-reads them through the APIs).
    escalations: set[int] = field(default_factory=set)
    #: Tickets to escalate at the highest severity (Escalate button, tag, [Emergency]).
    emergencies: set[str] = field(default_factory=set)
    #: Items that asked for something (ids), and those that pointed at nothing we follow.
    routed: dict[int, str] = field(default_factory=dict)


def escalate_pressed(tags: Iterable[str], custom_fields: dict[str, object], tag: str) -> bool:
    """Whether the ticket carries the Escalate tag (Zendesk checkboxes add their tag) or a
    custom field of that name that is set (a Freshdesk checkbox ``cf_escalate``)."""
    wanted = tag.casefold()
    if any(t.casefold() == wanted for t in tags):
        return True
    for name, value in custom_fields.items():
        if str(name).casefold() in (wanted, f"cf_{wanted}") and value not in (None, False, "", "false", "0", 0):
            return True
    return False


#: Zendesk events after which a linked ticket may carry the Escalate tag (the checkbox adds it).
TAG_EVENTS = frozenset({"ticket.tags_changed", "ticket.custom_field_changed"})


def may_press(item: InboxItem, subject: dict[str, Any], tag: str) -> bool:
    """Whether a delivery about a ticket already escalated can be an Escalate press, so the
    ticket is worth reading for its tag: Zendesk says which field changed (and which tags
    were added), the trigger route and Freshdesk's rule do not. Spares a read per echo of
    the bridge's own replies and marker tags."""
    if item.event == "ticket.tags_changed" and "tags_added" in subject:
        return any(str(t).casefold() == tag.casefold() for t in subject["tags_added"])
    return item.event in TAG_EVENTS or item.event.startswith("trigger") or item.source == "freshdesk"


def emergency_subject(subject: str, rules: Iterable[Any], highest: str) -> bool:
    """Whether a subject rule that means the highest severity matches ``subject``."""
    return any(rule.severity == highest and rule.matches(subject) for rule in rules)


#: How long after its creation a ticket still counts as new for a delivery that does not say
#: (vendors deliver within seconds; a worker retrying the item later still measures from the
#: delivery's arrival, not from its own clock).
NEW_TICKET_WINDOW = timedelta(minutes=15)


def is_new(item: InboxItem, subject: dict[str, Any], ticket) -> bool:
    """Whether the delivery ``item`` is about a new ``ticket`` (see the module's docstring)."""
    if subject.get("created"):
        return True
    if ticket.created is None or item.received_at is None:
        return False
    return item.received_at - ticket.created <= NEW_TICKET_WINDOW


class _Lookups:
    """The store's lookups a delivery's identifiers go through."""

    def __init__(self, store) -> None:
        self.store = store

    def by_issue(self, issue_id: str):
        return self.store.escalations.by_issue(issue_id)

    def by_key(self, key: str):
        return self.store.escalations.by_key(key)

    def by_ticket(self, kind: str, ticket: str):
        return self.store.escalations.by_ticket(kind, ticket)

    def complete(self):
        return self.store.escalations.list(states=["complete"])

    def for_error_issue(self, sentry_issue_id: str):
        task = self.store.tasks.by_error_issue(sentry_issue_id)
        return self.store.tasks.escalations_of(task.id) if task else []


def route(items: Iterable[InboxItem], *, store, helpdesk, escalate_tag: str, subject_rules: Iterable[Any],
          highest: str) -> Work:
    """The work ``items`` ask for. ``helpdesk`` is read only for tickets of its own kind."""
    lookups = _Lookups(store)
    rules = list(subject_rules)
    work = Work()
    for item in items:
        subject = json.loads(item.subject or "{}")
        found = _escalations_for(item.source, subject, lookups, helpdesk)
        work.escalations |= {e.id for e in found}
        why = f"{len(found)} escalation(s)" if found else "nothing the bridge follows"
        if item.source == "button":
            work.emergencies.add(subject["ticket"])
            why = "Escalate link"
        elif item.source in TICKET_SOURCES and item.source == helpdesk.kind and (
                not found or may_press(item, subject, escalate_tag)):
            ticket = helpdesk.get_ticket(subject["ticket"])
            if escalate_pressed(ticket.tags, ticket.custom_fields, escalate_tag):
                work.emergencies.add(ticket.id)
                why = f"Escalate tag {escalate_tag!r}"
            elif not found and is_new(item, subject, ticket) and emergency_subject(ticket.subject, rules, highest):
                work.emergencies.add(ticket.id)
                why = "emergency subject on a new ticket"
        work.routed[item.id] = why
    return work


def _escalations_for(source: str, subject: dict[str, Any], lookups: _Lookups, helpdesk) -> list:
    if source == "jira":
        if "version" in subject:
            # A release touches no issue's `updated`: every Bug fixed in it may have news.
            name = subject["version"]
            return [e for e in lookups.complete() if name in json.loads(e.last_fix_versions or "[]")]
        found = []
        for issue_id in subject.get("jira_issue_ids") or [subject.get("jira_issue_id")]:
            escalation = lookups.by_issue(issue_id) if issue_id else None
            if escalation is None and subject.get("jira_key") and "jira_issue_ids" not in subject:
                escalation = lookups.by_key(subject["jira_key"])
            if escalation is not None:
                found.append(escalation)
        return found
    if source == "sentry":
        return list(lookups.for_error_issue(subject["sentry_issue_id"]))
    if source in TICKET_SOURCES:
        kind = helpdesk.kind if source == "button" else source
        escalation = lookups.by_ticket(kind, subject["ticket"])
        return [escalation] if escalation is not None else []
    return []
