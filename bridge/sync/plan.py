"""What `bridge sync` should do for one escalation: a pure function over typed state.

``plan(escalation, bug, tickets, last_seen, rules)`` reads what the engine fetched — the
Bug as JIRA shows it now, its comments new since the last sync, each linked ticket with the
customer messages new since the last sync, and what the store says was last seen and last
announced — and returns :class:`Action` values. It makes no I/O call; the engine executes
the actions and records each one.

Why each branch fires (the invariants in DESIGN.md are what they protect):

* **Announce a state** to every ticket whose last announced state is not the one the
  Bug's current JIRA state maps to (status, resolution, fix versions and whether they are
  released, through the status map). Each ticket converges on the current state whatever
  happened in between — a failed run, a Bug that went back and forth — and a ticket that
  was already told is never told again. The action's key names the ticket, the state and
  the ticket's previous announcement, so each occurrence of a state is its own message,
  and a retry of the same occurrence is recognised (outbox, then the helpdesk marker).
* **Reopened** is the Bug leaving a resolved state since the last sync; it is announced
  with its own template (the status-map row ``reopened``) and recorded as the state the
  Bug is in now, so the next sync does not follow it with "in progress".
* A **row that is not public** (closed as Won't Fix, Duplicate, ...) becomes an internal
  note for the agent: no automatic customer message.
* **JIRA comments** become internal notes on every linked ticket (agents only), unless they
  are the bridge's own (no echo loops). A comment that starts with the customer marker
  (default ``[customer]``) and is neither restricted nor internal goes to the customers as a
  public reply, marker removed.
* **Customer messages** on linked tickets become comments on the Bug, PII redacted; a
  customer reopening a solved ticket is told to engineering too.

Every outgoing body still passes the outbound gate when the connector sends it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Iterable, Sequence

from bridge.actions import (BRIDGE_MARK, Action, Announce, CommentOnBug, InternalNote,  # noqa: F401 - re-exported
                            PublicReply, StateNote, StatusUpdate, TicketAction, is_bridge_comment, state_tag)
from bridge.models import Issue


# ----------------------------------------------------------------------------- inputs --
@dataclass(frozen=True)
class JiraComment:
    """A comment on the Bug, new since the last sync."""

    id: str
    body: str
    author: str
    #: No visibility restriction and not marked internal (``sd.public.comment``).
    public: bool


@dataclass(frozen=True)
class CustomerMessage:
    """A public message the customer wrote on a linked ticket, new since the last sync."""

    id: str
    body: str


@dataclass(frozen=True)
class TicketView:
    """A linked ticket as the planner needs it."""

    helpdesk: str
    ticket_id: str
    locale: str | None
    last_announced: str | None
    subject: str = ""
    #: When the ticket's last announcement was made (ISO 8601), to tell occurrences apart.
    last_announced_at: str | None = None
    customer_messages: tuple[CustomerMessage, ...] = ()
    reopened_by_customer: bool = False


@dataclass(frozen=True)
class Seen:
    """The Bug's JIRA state as the last sync recorded it (None: never seen)."""

    status: str | None
    resolution: str | None
    fix_versions: tuple[str, ...]  # signatures: "2.4.0|released" / "2.4.0|unreleased"


@dataclass(frozen=True)
class Rules:
    """The parts of the mappings the planner follows."""

    status_rule_for: Callable[..., object]  # Mappings.status_rule_for(issue, reopened=...)
    customer_marker: str = "[customer]"
    jira_to_internal_notes: bool = True
    customer_to_jira: bool = True
    redact: Callable[[str], str] = lambda text: text
    #: When the customers will hear next if told something now (the template writes it in
    #: the ticket's locale), None when no update is promised. Asked at most once per plan,
    #: and only when the plan announces something: the answer walks the SLA calendar.
    next_update: Callable[[], datetime | None] = lambda: None


# ------------------------------------------------------------------------------ helpers --
def signature(issue: Issue) -> Seen:
    """The part of the Bug's state whose changes are announced."""
    return Seen(
        status=issue.status,
        resolution=issue.resolution,
        fix_versions=tuple(sorted(f"{v.name}|{'released' if v.released else 'unreleased'}"
                                  for v in issue.fix_versions)),
    )


def state_key(rule_name: str, issue: Issue) -> str:
    """The announced state: the status-map row, plus the versions where a row is about them."""
    if rule_name in ("fix_ready", "released") and issue.fix_versions:
        return f"{rule_name}:{','.join(sorted(v.name for v in issue.fix_versions))}"
    return rule_name


def _version_context(issue: Issue) -> dict:
    versions = sorted(issue.fix_versions, key=lambda v: v.name)
    if not versions:
        return {}
    released = [v for v in versions if v.released] or versions
    chosen = released[0]
    return {"version": chosen.name, "release_date": chosen.release_date}


# --------------------------------------------------------------------------------- plan --
def plan(*, issue: Issue, comments: Sequence[JiraComment], tickets: Iterable[TicketView],
         last_seen: Seen | None, rules: Rules) -> list[Action]:
    """The actions that bring the linked tickets up to date with the Bug, and back."""
    tickets = list(tickets)
    actions: list[Action] = []
    # Reopened: it had a resolution when last seen and has none now.
    reopened = bool(last_seen and last_seen.resolution and not issue.resolution)
    current = rules.status_rule_for(issue, reopened=False)
    rule = rules.status_rule_for(issue, reopened=True) if reopened else current
    promised: list[datetime | None] = []  # rules.next_update(), once asked
    if rule is not None:
        # After a reopening, the state the customers are in is the Bug's current one (say
        # "in_progress"), announced with the reopened row's words; a Bug reopened to a state
        # the map does not name (To Do) is in state "reopened".
        reopening = state_key(rule.name, issue)  # what the reopened row announces, when reopened
        state = state_key(current.name, issue) if (reopened and current is not None) else reopening
        for ticket in tickets:
            if ticket.last_announced == state:
                continue  # this ticket was already told exactly this
            row = rule
            if reopened and current is not None and ticket.last_announced == reopening:
                # Told of the reopening already (by a run that could not record the Bug as
                # seen): what it hears now is the Bug's current state, in that row's words.
                row = current
            occurrence = f"{issue.id}:{state}:after:{ticket.last_announced or '-'}@{ticket.last_announced_at or '-'}"
            if row.public:
                if not promised:
                    promised.append(rules.next_update())
                actions.append(Announce(
                    key=f"announce:{ticket.helpdesk}:{ticket.ticket_id}:{occurrence}",
                    helpdesk=ticket.helpdesk, ticket_id=ticket.ticket_id, state=state,
                    template=row.template, locale=ticket.locale, helpdesk_status=row.helpdesk_status,
                    context={"subject": ticket.subject, "ticket_id": ticket.ticket_id, "status": row.name,
                             "next_update": promised[0], **_version_context(issue)},
                ))
            else:
                # Closed without a fix: the agent decides what the customer hears.
                resolution = issue.resolution or issue.status
                actions.append(StateNote(
                    key=f"note-state:{ticket.helpdesk}:{ticket.ticket_id}:{occurrence}",
                    helpdesk=ticket.helpdesk, ticket_id=ticket.ticket_id, state=state,
                    body=(f"{issue.key} was closed as {resolution}. The bridge sent the customer "
                          "no automatic message: please tell them what happens next."),
                ))

    for comment in sorted(comments, key=lambda c: int(c.id) if c.id.isdigit() else c.id):
        if is_bridge_comment(comment.body):
            continue  # our own words: never mirror them back
        text = comment.body.strip()
        if comment.public and text.startswith(rules.customer_marker):
            reply = text[len(rules.customer_marker):].strip()
            if reply:
                for ticket in tickets:
                    actions.append(PublicReply(
                        key=f"reply:{ticket.helpdesk}:{ticket.ticket_id}:{issue.id}:{comment.id}",
                        helpdesk=ticket.helpdesk, ticket_id=ticket.ticket_id, body=reply,
                    ))
            continue
        if rules.jira_to_internal_notes:
            for ticket in tickets:
                actions.append(InternalNote(
                    key=f"note-comment:{ticket.helpdesk}:{ticket.ticket_id}:{issue.id}:{comment.id}",
                    helpdesk=ticket.helpdesk, ticket_id=ticket.ticket_id,
                    body=f"Engineering comment by {comment.author} on {issue.key}:\n{text}",
                ))

    if rules.customer_to_jira:
        for ticket in tickets:
            origin = f"{ticket.helpdesk}:{ticket.ticket_id}"
            for message in ticket.customer_messages:
                actions.append(CommentOnBug(
                    key=f"bug-comment:{origin}:{message.id}", issue_key=issue.key,
                    body=(f"The customer wrote on {origin}:\n{rules.redact(message.body.strip())}\n"
                          f"{BRIDGE_MARK}customer:{origin}:{message.id}]"),
                ))
            if ticket.reopened_by_customer:
                actions.append(CommentOnBug(
                    key=f"bug-reopen:{origin}:{issue.id}:{'|'.join(m.id for m in ticket.customer_messages)}",
                    issue_key=issue.key,
                    body=f"The customer reopened {origin}. {BRIDGE_MARK}reopen:{origin}]",
                ))
    return actions


def cadence(*, issue_key: str, escalation_id: int, tickets: Iterable[TicketView], clock, now,
            next_due_after_update: datetime | None, post_updates: bool, alert_at_risk: bool,
            at_risk_share: float = 0.75,
            base_state: Callable[[str | None], str | None] = lambda s: s) -> list[Action]:
    """What the SLA clock of one open escalation asks for at ``now``.

    ``clock`` is :class:`bridge.policy.sla.ClockState`. When the status-update cadence has
    come round (and the clock is not paused because the customer owes an answer), every
    linked ticket gets one update for that due time; when the at-risk share of the running
    target has elapsed, agents get an internal note and engineering a comment, once per
    due time. Keys carry the due time, so each period yields one of each at most.
    """
    tickets = list(tickets)
    actions: list[Action] = []
    if clock.best_effort or clock.paused:
        return actions
    due = clock.next_update_due
    if post_updates and due is not None and due <= now:
        stamp = due.isoformat(timespec="minutes")
        for ticket in tickets:
            actions.append(StatusUpdate(
                key=f"status-update:{ticket.helpdesk}:{ticket.ticket_id}:{stamp}",
                helpdesk=ticket.helpdesk, ticket_id=ticket.ticket_id, due=stamp, locale=ticket.locale,
                context={"ticket_id": ticket.ticket_id, "status": base_state(ticket.last_announced),
                         "next_update": next_due_after_update},
            ))
    elif alert_at_risk and _running_target_at_risk(clock, now, at_risk_share):
        running = clock.next_update_due or clock.first_response_due
        stamp = running.isoformat(timespec="minutes") if running else "-"
        what = "status update" if clock.next_update_due else "first response"
        text = (f"SLA at risk: the customer {what} on {issue_key} is due {stamp} "
                f"({round((clock.elapsed_share or 0) * 100)}% of the target has elapsed).")
        for ticket in tickets:
            actions.append(InternalNote(key=f"at-risk-note:{ticket.helpdesk}:{ticket.ticket_id}:{stamp}",
                                        helpdesk=ticket.helpdesk, ticket_id=ticket.ticket_id, body=text))
        actions.append(CommentOnBug(key=f"at-risk-bug:{escalation_id}:{stamp}", issue_key=issue_key,
                                    body=f"{text} {BRIDGE_MARK}sla:{escalation_id}:{stamp}]"))
    return actions


def _running_target_at_risk(clock, now, share: float) -> bool:
    """The target the clock is running for now has used ``share`` of its time and is not
    yet due (a breach long past, e.g. a late first response, does not silence this)."""
    running = clock.next_update_due or (clock.first_response_due if clock.first_response_at is None else None)
    return (running is not None and running > now and clock.elapsed_share is not None
            and clock.elapsed_share >= share)
