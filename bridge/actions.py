"""The actions a plan is made of: one vocabulary for every use case, one executor for all.

A planner (``bridge.escalation.plan``, ``bridge.sync.plan``) reads typed state and returns
actions; :class:`bridge.executor.Executor` applies them through the outbox. Every action
has a ``key`` — unique per (target, change) — that is its outbox key: an action already
``sent`` is never applied again, and a retried one is recognised.

Some escalation actions name "the escalation's Bug" before it exists (``issue_key`` None).
The executor creates or finds the Bug first and then :meth:`Action.bound` fills the key in:
a plan stays pure, and ``--dry-run`` can print it without a single write.

Terminology:
    ticket action   changes one helpdesk ticket (``target`` = ``helpdesk:ticket``);
    marked          a ticket action whose delivery the ticket itself records with a marker
                    tag written in the same call (customer messages, the escalation note),
                    so a crash between sending and recording never sends twice;
    Bug action      changes the JIRA issue (``target`` = ``jira:KEY``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

#: Every comment the bridge writes carries this, so it never mirrors its own words back.
BRIDGE_MARK = "[bridge:"
#: The mark as the bridge writes it: last thing in its own comments (``[bridge:kind:...]``).
_OWN_MARK = re.compile(r"\[bridge:[^\]\s]+\]\s*$")


def is_bridge_comment(body: str) -> bool:
    """Whether ``body`` is one of the bridge's own comments (it ends with the bridge's mark).
    Text that merely mentions ``[bridge:`` is somebody's words, and is not dropped."""
    return bool(_OWN_MARK.search(body))


#: Tags the bridge writes on an escalated ticket (with the acknowledgement's and the note's).
ESCALATED_TAG = "bridge_escalated"
ACK_TAG = "bridge_acknowledged"


@dataclass(frozen=True)
class Action:
    """Base of every action; ``key`` is unique per (target, change): the outbox key."""

    key: str

    @property
    def target(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def bound(self, issue_key: str, issue_url: str | None = None) -> "Action":
        """This action with "the escalation's Bug" resolved to ``issue_key``."""
        return self

    @property
    def customer_facing(self) -> bool:
        """Whether the action speaks to a customer (the ones counted as messages sent)."""
        return isinstance(self, CUSTOMER_FACING)


@dataclass(frozen=True)
class BugAction(Action):
    """An action on a JIRA issue; ``issue_key`` None means the escalation's Bug."""

    issue_key: str | None

    @property
    def target(self) -> str:
        return f"jira:{self.issue_key or '(the Bug)'}"

    def bound(self, issue_key: str, issue_url: str | None = None) -> "Action":
        return self if self.issue_key else replace(self, issue_key=issue_key)


@dataclass(frozen=True)
class TicketAction(Action):
    """An action on one helpdesk ticket."""

    helpdesk: str
    ticket_id: str

    @property
    def target(self) -> str:
        return f"{self.helpdesk}:{self.ticket_id}"


# ------------------------------------------------------------------- the Bug itself --
@dataclass(frozen=True)
class Replacing:
    """The Bug a refile replaces (``bridge escalate --refile``): recorded for the escalation,
    answered 404 by JIRA. ``record_key`` is the outbox entry that records the refile's
    intent, in the same transaction that takes the gone Bug off the escalation."""

    escalation_id: int
    issue_id: str
    issue_key: str | None
    issue_url: str | None
    record_key: str
    #: Who asked for the refile (the audit names them).
    by: str


@dataclass(frozen=True)
class CreateBug(Action):
    """Find or create the escalation's Bug: the intent is recorded in the store first, the
    Bug carries the deterministic ``label``, JIRA is searched for it before any create."""

    label: str
    fields: dict[str, Any]
    #: The store row to record before JIRA is called (``store.escalations.record_intent``).
    intent: dict[str, Any]
    #: A refile: the gone Bug this one replaces (None: the escalation's first Bug).
    replaces: Replacing | None = None

    @property
    def target(self) -> str:
        return f"jira:{self.fields.get('project', {}).get('key', '?')}"

    def describe(self) -> str:
        kind = self.fields.get("issuetype", {}).get("name", "issue")
        what = f"create a {kind} in {self.target[5:]} (unless one carries the label {self.label})"
        if self.replaces is not None:
            what += f", replacing {self.replaces.issue_key or self.replaces.issue_id}, which JIRA no longer shows"
        return what


@dataclass(frozen=True)
class AdoptBug(Action):
    """``--into`` a Bug the bridge did not create: it becomes an escalation of its own."""

    issue_id: str
    issue_key: str
    issue_url: str | None
    label: str
    intent: dict[str, Any]

    @property
    def target(self) -> str:
        return f"jira:{self.issue_key}"

    def describe(self) -> str:
        return f"adopt {self.issue_key} as an escalation (severity {self.intent.get('severity')})"


@dataclass(frozen=True)
class LinkTicket(TicketAction):
    """The ticket joins the escalation (store only)."""

    role: str
    locale: str | None
    tier: str

    def describe(self) -> str:
        return f"{self.target}: link the ticket to the Bug ({self.role})"


# ----------------------------------------------------------------------- JIRA side --
@dataclass(frozen=True)
class RemoteLink(BugAction):
    """A remote link on the Bug (JIRA upserts it by ``global_id``)."""

    global_id: str = ""
    url: str = ""
    title: str = ""

    def describe(self) -> str:
        return f"{self.target}: remote link → {self.title}"


@dataclass(frozen=True)
class CommentOnBug(BugAction):
    """A comment on the Bug (internal), carrying a bridge mark so it is never echoed."""

    body: str = ""
    #: Look for the comment's mark on the Bug before writing, even on a first try: a
    #: comment another escalation of the same Bug may have written already (another
    #: customer affected) is written once per Bug, not once per outbox key.
    look_first: bool = False

    def describe(self) -> str:
        return f"{self.target}: comment ({_excerpt(self.body)})"


@dataclass(frozen=True)
class SetBugFields(BugAction):
    """Set fields on the Bug (priority, the affected-customers count); idempotent."""

    fields: dict[str, Any] = field(default_factory=dict)
    #: What the store records once JIRA has it (``{"severity": ..., "priority": ...}``).
    record: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        shown = ", ".join(f"{k}={v.get('name') if isinstance(v, dict) else v}" for k, v in self.fields.items())
        return f"{self.target}: set {shown}"


@dataclass(frozen=True)
class LinkErrorIssue(BugAction):
    """File an error-tracker issue (Sentry, Bugsink) as a JIRA Task related to the Bug —
    never anything on a ticket (policy 001). Retried by the next escalate or sync until it
    holds."""

    reference: str = ""
    actor: str = "bridge"

    @property
    def target(self) -> str:
        return f"error-tracker:{self.reference}"

    def describe(self) -> str:
        return f"{self.target}: file error-tracker issue {self.reference} as a related Task"


@dataclass(frozen=True)
class RelateTask(BugAction):
    """Relate an error-tracker Task the escalation already has to the Bug ("Relates"; JIRA
    keeps one link per type and pair, so a repeat adds nothing). A refiled Bug gets the
    Tasks its gone predecessor was related to, without asking the error tracker again."""

    task_key: str = ""
    link_type: str = "Relates"

    def describe(self) -> str:
        return f"{self.target}: relate the Task {self.task_key}"


@dataclass(frozen=True)
class ReopenTask(Action):
    """Reopen a related Task whose error-tracker issue regressed (``regression_action``)."""

    task_key: str

    @property
    def target(self) -> str:
        return f"jira:{self.task_key}"

    def describe(self) -> str:
        return f"{self.target}: reopen the Task (its error-tracker issue regressed)"


@dataclass(frozen=True)
class PageOnCall(BugAction):
    """Page on-call once for an escalation at the highest severity (policy 000)."""

    def describe(self) -> str:
        return "page on-call once"

    @property
    def target(self) -> str:
        return "pager"


# -------------------------------------------------------------------- ticket side --
@dataclass(frozen=True)
class EscalatedNote(TicketAction):
    """The internal note naming the Bug, with the key tag and field, in one write.
    Marked by the key tag, so it is written once."""

    severity: str = ""
    priority: str = ""
    issue_key: str | None = None
    issue_url: str | None = None
    #: The helpdesk field that holds the JIRA key, if the mappings name one.
    key_field: str | None = None
    #: The key tag's prefix (``jira_`` makes ``jira_sup-12``), None when tags carry no key.
    tag_prefix: str | None = None
    #: A refile's note: the gone Bug the escalation moved from (its key tag is removed).
    replaced_key: str | None = None

    def key_tag(self, key: str) -> str | None:
        """The ticket tag naming JIRA ``key`` (as the mappings' ``ticket_key_field.tag_for``
        makes it); None when no tag prefix is configured."""
        return f"{self.tag_prefix}{key}".lower() if self.tag_prefix else None

    @property
    def marker(self) -> str:
        """The key tag marks the note; without one configured, the generic tag does (a
        refile's note its own: the ticket carries the generic tag since its first note)."""
        if self.tag_prefix and self.issue_key:
            return self.key_tag(self.issue_key)
        if self.replaced_key and self.issue_key:
            return f"{ESCALATED_TAG}_{_tag_safe(self.issue_key)}"
        return ESCALATED_TAG

    def bound(self, issue_key: str, issue_url: str | None = None) -> "Action":
        if self.issue_key:
            return self
        return replace(self, issue_key=issue_key, issue_url=self.issue_url or issue_url)

    def describe(self) -> str:
        replacing = f" (replacing {self.replaced_key})" if self.replaced_key else ""
        return f"{self.target}: internal note naming {self.issue_key or 'the Bug'}{replacing}"


@dataclass(frozen=True)
class Acknowledge(TicketAction):
    """The customer's acknowledgement (template ``acknowledgement``) with the expected time to
    fix and the next update; marked, so sent once."""

    locale: str | None = None
    context: dict = field(default_factory=dict)
    #: The first public agent reply already on the ticket (ISO 8601): the SLA clock's first
    #: response; None when the acknowledgement is the first response.
    first_response_at: str | None = None
    show_key: bool = False
    issue_key: str | None = None

    #: The acknowledgement after ``--emergency`` raised a ticket has its own marker.
    marker: str = ACK_TAG

    def bound(self, issue_key: str, issue_url: str | None = None) -> "Action":
        return self if self.issue_key else replace(self, issue_key=issue_key)

    def describe(self) -> str:
        return f"{self.target}: acknowledge to the customer ({self.locale or 'default locale'})"


@dataclass(frozen=True)
class Announce(TicketAction):
    """Tell one customer the Bug's new state: a public reply from a template, the ticket
    status, and the marker tag of the announced state, in one write."""

    state: str
    template: str
    locale: str | None
    helpdesk_status: str | None
    context: dict = field(default_factory=dict)

    @property
    def marker(self) -> str:
        return state_tag(self.state)

    def describe(self) -> str:
        status = f", status {self.helpdesk_status}" if self.helpdesk_status else ""
        return f"{self.target}: tell the customer '{self.state}' ({self.template}, {self.locale or 'default locale'}{status})"


@dataclass(frozen=True)
class InternalNote(TicketAction):
    """An internal note for the agents on one ticket."""

    body: str

    def describe(self) -> str:
        return f"{self.target}: internal note ({_excerpt(self.body)})"


@dataclass(frozen=True)
class StateNote(InternalNote):
    """The internal note that stands for a state the customer is not told automatically;
    it is recorded as the ticket's announced state like a public announcement."""

    state: str = ""


@dataclass(frozen=True)
class PublicReply(TicketAction):
    """A developer's deliberate message to the customers (the ``[customer]`` marker)."""

    body: str

    @property
    def marker(self) -> str:
        return "bridge_reply_" + _tag_safe(self.key.rsplit(":", 1)[-1])

    def describe(self) -> str:
        return f"{self.target}: public reply from engineering ({_excerpt(self.body)})"


@dataclass(frozen=True)
class StatusUpdate(TicketAction):
    """The periodic update the support policy promises while the Bug is open: a public
    reply from the ``status_update`` template, marked with the period it belongs to."""

    due: str  # ISO 8601: the due time this update answers
    locale: str | None
    context: dict = field(default_factory=dict)

    @property
    def marker(self) -> str:
        return "bridge_update_" + _tag_safe(self.due)

    def describe(self) -> str:
        return f"{self.target}: periodic status update (due {self.due})"


#: Ticket actions whose delivery the ticket records with a marker tag in the same write.
MARKED = (Announce, PublicReply, StatusUpdate, Acknowledge, EscalatedNote)
#: Marked actions that speak to the customer.
CUSTOMER_FACING = (Announce, PublicReply, StatusUpdate, Acknowledge)


#: How every announced-state marker begins (one per ticket: a new one replaces the last).
STATE_TAG_PREFIX = "bridge_state_"


def state_tag(state: str) -> str:
    """The helpdesk tag marking the last announced state (``bridge_state_released_2_4_0``)."""
    return STATE_TAG_PREFIX + _tag_safe(state)


def _tag_safe(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _excerpt(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@dataclass(frozen=True)
class ActionSummary:
    """What a report keeps of an action once it was applied or planned: its key, target
    and kind, how it reads, and whether it spoke to a customer — not its context (a sync
    pass over 10,000 changes reports 10,000 of them, and keeps none of their messages)."""

    key: str
    target: str
    kind: str
    text: str
    customer_facing: bool

    @classmethod
    def of(cls, action: Action) -> "ActionSummary":
        return cls(key=action.key, target=action.target, kind=type(action).__name__, text=action.describe(),
                   customer_facing=action.customer_facing)

    def describe(self) -> str:
        return self.text
