"""The state store's tables.

What the bridge remembers between runs, and nothing it can read back from a service:

- ``escalation``: one row per JIRA Bug the bridge escalated to. Keyed for lookups by its
  deterministic ``label`` (also put on the Bug, so a crashed run can find the issue in JIRA)
  and by the JIRA issue *id* (immutable; the key changes when an issue moves project).
  ``state`` goes ``intent`` -> ``created`` -> ``complete``; the intent row is written
  *before* JIRA is called, which is what makes "one escalation, one Bug" survive crashes.
- ``linked_ticket``: the helpdesk tickets attached to each escalation (many tickets, one
  Bug), with what each was last told.
- ``related_task`` / ``related_task_link``: Sentry issues filed as JIRA Tasks related to Bugs.
- ``outbox``: every external write the bridge intends, under a unique idempotency key, so a
  retry or a second process never repeats one.
- ``audit``: every external write and every refusal.
- ``sync_cursor``: high-water marks of the sync jobs.
- ``lease``: mutual exclusion between ``bridge sync`` processes sharing a store.
- ``board_user`` / ``board_session`` / ``sign_in_failure``: who may sign in to the managers'
  board, the signed-in browsers, and wrong passwords in a row (sign-in throttling);
  ``board_standing``: each open escalation's SLA standing, kept for the board's SQL paging.
- ``inbox``: accepted webhook deliveries and Escalate-button presses, each a pointer (which
  issue or ticket to look at) that a ``bridge serve`` worker takes under a lease.
- ``bridge_rate_limits`` / ``bridge_job_journal`` / ``bridge_job_engine_migration``: the job
  engine's own (PostgreSQL stores; bridge/jobs): rate limits shared by every worker, when each
  job on an escalation ran, and which of procrastinate's migrations this store has had.

Column names are a contract with the engine and with ``migrations/versions``: change them
only together with a new migration. Every datetime is timezone-aware UTC in Python
(:class:`~bridge.store.timestamps.UTCDateTime`), whatever the backend keeps.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from bridge.store.timestamps import UTCDateTime, timestamp_field as _when, utcnow

__all__ = [
    "AuditEntry",
    "BoardSession",
    "BoardStanding",
    "BoardUser",
    "Escalation",
    "InboxItem",
    "JobEngineMigration",
    "JobJournalEntry",
    "Lease",
    "LinkedTicket",
    "OutboxEntry",
    "RateLimitBucket",
    "RelatedTask",
    "RelatedTaskLink",
    "SignInFailure",
    "SyncCursor",
    "UTCDateTime",
    "metadata",
    "utcnow",
]

#: The metadata every bridge table belongs to (Alembic compares migrations against it).
metadata = SQLModel.metadata
# Named constraints are the same on SQLite and PostgreSQL, so later migrations can drop or
# alter them by name (SQLite batch migrations cannot touch an unnamed constraint). Set before
# any table below is declared: names are given when a constraint attaches to its table.
metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Escalation(SQLModel, table=True):
    """One JIRA Bug the bridge escalated to, and what sync last saw of it."""

    __tablename__ = "escalation"
    __table_args__ = (
        sa.UniqueConstraint("label", name="uq_escalation_label"),
        sa.UniqueConstraint("jira_issue_id", name="uq_escalation_jira_issue_id"),
        sa.Index("ix_escalation_origin", "origin_helpdesk", "origin_ticket_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    #: Deterministic, e.g. ``bridge-zendesk-123``; also a label on the Bug in JIRA.
    label: str
    origin_helpdesk: str
    origin_ticket_id: str
    #: The immutable JIRA issue id; null while ``state == "intent"``.
    jira_issue_id: str | None = None
    #: The key as last seen (keys change when an issue moves between projects).
    jira_key: str | None = None
    jira_url: str | None = None
    #: ``intent`` (written before calling JIRA) -> ``created`` -> ``complete``.
    state: str = Field(default="intent", index=True)
    severity: str
    priority: str
    profile: str
    tier: str | None = None
    organization: str | None = None
    #: The customer's IANA zone, for tiers whose hours are the customer's (0009; null: fallback).
    customer_zone: str | None = None
    escalated_by: str
    #: When the customer opened the origin ticket (the SLA clock starts there).
    opened_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    created_at: datetime = _when()
    updated_at: datetime = _when()
    affected_count: int = 1
    #: Pages sent for ``--emergency``, so a re-run does not page again.
    pages_sent: int = 0
    last_status: str | None = None
    last_resolution: str | None = None
    #: JSON text: the fix version names sync last saw.
    last_fix_versions: str | None = Field(default=None, sa_type=sa.Text)
    #: JIRA's ``updated`` of the issue when sync last read it.
    last_jira_updated: datetime | None = _when(nullable=True)
    #: Who may create the Bug while ``state == "intent"`` (the one-Bug-per-ticket claim):
    #: holder, its host and process, until when. A live claim elsewhere means "wait";
    #: an expired one, or one whose process is provably gone, is taken over.
    claim_holder: str | None = None
    claim_host: str | None = None
    claim_pid: int | None = None
    claim_process_scope: str | None = None
    claim_expires_at: datetime | None = _when(nullable=True)
    #: The newest JIRA comment on the Bug that sync has processed (its id; ids grow).
    last_jira_comment_id: str | None = None
    #: When the SLA cadence next needs to look at this escalation (the earliest instant a
    #: status update, at-risk alert or missed response could fall due); null = compute it
    #: at the next pass (new, or one of the clock's inputs changed). Migration 0006.
    sla_next_check_at: datetime | None = _when(nullable=True, index=True)


class LinkedTicket(SQLModel, table=True):
    """A helpdesk ticket attached to an escalation; a ticket belongs to one escalation."""

    __tablename__ = "linked_ticket"
    __table_args__ = (sa.UniqueConstraint("helpdesk", "ticket_id", name="uq_linked_ticket_helpdesk_ticket"),)

    id: int | None = Field(default=None, primary_key=True)
    escalation_id: int = Field(foreign_key="escalation.id", index=True, ondelete="CASCADE")
    helpdesk: str
    ticket_id: str
    #: ``origin`` (the ticket that was escalated) or ``joined`` (``--into``).
    role: str = "origin"
    locale: str | None = None
    requester_tier: str | None = None
    linked_at: datetime = _when()
    #: The JIRA state the customer was last told about (mirrors the helpdesk marker).
    last_announced_state: str | None = None
    last_public_update_at: datetime | None = _when(nullable=True)
    waiting_on_customer_since: datetime | None = _when(nullable=True)
    #: Where sync stands in the ticket's conversation: the newest comment processed, the
    #: ticket's status then, and the ticket version the bridge's own last write left (a
    #: change the helpdesk reports at that version is the bridge's own, not news).
    last_comment_id: str | None = None
    last_status: str | None = None
    known_version: str | None = None
    #: The ticket as it stood at ``known_version`` (JSON: version, subject, status, tags;
    #: :mod:`bridge.ticket_views`), so a write to an unchanged ticket needs no read first.
    known_view: str | None = Field(default=None, sa_type=sa.Text)


class RelatedTask(SQLModel, table=True):
    """A Sentry issue filed as a JIRA Task (never linked to a customer ticket)."""

    __tablename__ = "related_task"
    __table_args__ = (sa.UniqueConstraint("sentry_issue_id", name="uq_related_task_sentry_issue_id"),)

    id: int | None = Field(default=None, primary_key=True)
    sentry_issue_id: str
    sentry_short_id: str | None = None
    sentry_permalink: str | None = None
    jira_issue_id: str | None = None
    jira_key: str | None = None
    #: Deterministic label on the Task, e.g. ``bridge-sentry-4711``.
    label: str
    #: ``intent`` (before calling JIRA) or ``created``.
    state: str = "intent"
    created_at: datetime = _when()
    #: The error tracker's status of the issue when sync last read it (``resolved``, ...).
    last_error_status: str | None = None


class RelatedTaskLink(SQLModel, table=True):
    """A Task related to a Bug (one Sentry issue may belong to several Bugs)."""

    __tablename__ = "related_task_link"
    __table_args__ = (
        sa.UniqueConstraint("related_task_id", "escalation_id", name="uq_related_task_link_pair"),
    )

    id: int | None = Field(default=None, primary_key=True)
    related_task_id: int = Field(foreign_key="related_task.id", index=True, ondelete="CASCADE")
    escalation_id: int = Field(foreign_key="escalation.id", index=True, ondelete="CASCADE")
    #: The error issue is unresolved again while this Bug is resolved (reported once).
    regression_flagged: bool = False


class OutboxEntry(SQLModel, table=True):
    """One external write the bridge intends, under a unique idempotency key.

    ``state``: ``pending`` (claimed; the write is under way, or its process died),
    ``sent``, or ``failed`` (may be claimed again).
    """

    __tablename__ = "outbox"
    __table_args__ = (sa.UniqueConstraint("key", name="uq_outbox_key"),)

    id: int | None = Field(default=None, primary_key=True)
    #: e.g. ``ack:zendesk:123`` or ``announce:zendesk:123:<issue id>:<state>``.
    key: str
    escalation_id: int | None = Field(
        default=None, foreign_key="escalation.id", index=True, ondelete="SET NULL"
    )
    #: e.g. ``zendesk:123`` or ``jira:10001``.
    target: str
    #: ``public_reply``, ``internal_note``, ``remote_link``, ``jira_comment``, ``set_status``, ``page``...
    kind: str
    #: JSON text; bodies already redacted, never a secret.
    payload: str = Field(default="{}", sa_type=sa.Text)
    state: str = Field(default="pending", index=True)
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = _when()
    sent_at: datetime | None = _when(nullable=True)


class AuditEntry(SQLModel, table=True):
    """One external write or refusal: who, what, on what, with which result."""

    __tablename__ = "audit"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _when(index=True)
    actor: str
    action: str
    target: str = Field(index=True)
    #: ``ok``, ``failed``, ``denied`` or ``skipped``.
    result: str
    #: Short text; never a secret.
    detail: str = Field(default="", sa_type=sa.Text)


class SyncCursor(SQLModel, table=True):
    """A named high-water mark (e.g. the last JIRA ``updated`` sync processed)."""

    __tablename__ = "sync_cursor"

    name: str = Field(primary_key=True)
    value: str
    updated_at: datetime = _when()


class Lease(SQLModel, table=True):
    """A named lease: at most one holder until ``expires_at``.

    The row outlives its holders so that ``token`` (the fencing token) grows with every
    acquisition; ``holder`` is null while nobody holds the lease.
    """

    __tablename__ = "lease"

    name: str = Field(primary_key=True)
    holder: str | None = None
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    #: The holder's host name and process id: a holder on this host whose process is gone
    #: is provably dead, and its lease is taken over before it expires.
    host: str | None = None
    pid: int | None = None
    #: Where ``pid`` means something: the boot and PID namespace of the holder's process.
    process_scope: str | None = None
    #: The fencing token: grows by one with every acquisition.
    token: int = 0
    acquired_at: datetime | None = _when(nullable=True)


# -- the managers' board (bridge/board) ------------------------------------------------------


class BoardUser(SQLModel, table=True):
    """A person who may sign in to the board: ``viewer``, ``manager`` or ``admin``.

    ``password_hash`` is an argon2 hash (null for accounts that sign in only through OpenID
    Connect); ``oidc_subject`` is ``<issuer> <sub>`` of the identity provider's account.
    """

    __tablename__ = "board_user"
    __table_args__ = (
        sa.UniqueConstraint("name", name="uq_board_user_name"),
        sa.UniqueConstraint("oidc_subject", name="uq_board_user_oidc_subject"),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str
    role: str
    password_hash: str | None = Field(default=None, sa_type=sa.Text)
    oidc_subject: str | None = None
    created_at: datetime = _when()


class BoardSession(SQLModel, table=True):
    """A signed-in browser. The cookie carries a random token; only its SHA-256 is kept here,
    so the table does not hand out sessions to whoever reads it. Deleting the row signs the
    browser out everywhere the cookie was copied to."""

    __tablename__ = "board_session"

    token_hash: str = Field(primary_key=True)
    user_id: int = Field(foreign_key="board_user.id", index=True, ondelete="CASCADE")
    #: The CSRF token of every form this session is shown (bound to the session).
    csrf_token: str
    created_at: datetime = _when()
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)


class SignInFailure(SQLModel, table=True):
    """Wrong passwords in a row for one account name (reset by a successful sign-in)."""

    __tablename__ = "sign_in_failure"

    name: str = Field(primary_key=True)
    failures: int = 0
    last_failure_at: datetime = _when()


class BoardStanding(SQLModel, table=True):
    """The SLA standing of each open escalation as last computed for the board.

    SLA clocks run on business calendars, which SQL cannot evaluate; the board recomputes
    this table in the background so its pages can filter, order ("breached and at-risk
    first") and paginate in SQL. ``rank``: 0 breached, 1 at risk, 2 on track or paused,
    3 best effort, 4 no clock (an error).
    """

    __tablename__ = "board_standing"
    # The board's order, walked in index order so its first page reads a page of rows.
    __table_args__ = (sa.Index("ix_board_standing_order", "rank", "order_key", "escalation_id"),)

    escalation_id: int = Field(primary_key=True, foreign_key="escalation.id", ondelete="CASCADE")
    standing: str
    rank: int
    #: The nearest target still running (first response, else next update), if any.
    due_at: datetime | None = _when(nullable=True)
    #: ``due_at`` as Unix seconds, or 2**62 without one (no target last): sortable by an index.
    order_key: int = Field(sa_type=sa.BigInteger)
    next_update_due: datetime | None = _when(nullable=True)
    computed_at: datetime = _when()


# -- bridge serve's inbox (bridge/service) -------------------------------------------------------


class InboxItem(SQLModel, table=True):
    """One accepted webhook delivery (or Escalate press): what to look at, not what to do.

    Written before the 2xx answer, keyed by ``(source, delivery_id)`` so a redelivery is a
    no-op. ``state``: ``pending`` -> ``working`` (held by ``holder`` until
    ``lease_expires_at``; a crashed worker's item is taken again after that) -> ``done``, or
    back to ``pending`` with a later ``available_at`` after a failure, or ``failed`` after
    too many. ``subject`` is JSON of identifiers only: no body text, no secret.
    """

    __tablename__ = "inbox"
    __table_args__ = (
        sa.UniqueConstraint("source", "delivery_id", name="uq_inbox_source_delivery_id"),
        sa.Index("ix_inbox_state_available_at", "state", "available_at"),
        sa.Index("ix_inbox_source_received_at", "source", "received_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    #: ``jira``, ``zendesk``, ``sentry``, ``freshdesk``, ``django-helpdesk`` or ``button``.
    source: str
    delivery_id: str
    #: The vendor's event name, e.g. ``jira:issue_updated`` (for people and metrics).
    event: str
    subject: str = Field(default="{}", sa_type=sa.Text)
    state: str = "pending"
    attempts: int = 0
    holder: str | None = None
    lease_expires_at: datetime | None = _when(nullable=True)
    available_at: datetime = _when()
    received_at: datetime = _when()
    finished_at: datetime | None = _when(nullable=True)
    last_error: str | None = Field(default=None, sa_type=sa.Text)


# -- the job engine's own tables (bridge/jobs; used on PostgreSQL only) --------------------------


class RateLimitBucket(SQLModel, table=True):
    """One token bucket per service, shared by every `bridge worker` (bridge/jobs/limiter.py).

    ``tokens`` may go negative: a reservation's place in the queue. ``blocked_until`` is the
    latest 429's Retry-After (plus jitter) that holds every worker back; ``throttled`` counts
    429 answers seen. Written by SQL of the limiter's own (one atomic UPDATE per request).
    """

    __tablename__ = "bridge_rate_limits"

    service: str = Field(primary_key=True, sa_type=sa.Text)
    tokens: float = Field(sa_type=sa.Double)
    updated_at: datetime = _when()
    blocked_until: datetime | None = _when(nullable=True)
    throttled: int = Field(default=0, sa_type=sa.BigInteger)


class JobJournalEntry(SQLModel, table=True):
    """When a job's pass held one escalation's lease, in which worker process and task: the
    evidence that no escalation was worked by two workers at once (a row without an end was
    cut short, e.g. its process killed). Rows older than a week are pruned."""

    __tablename__ = "bridge_job_journal"
    __table_args__ = (sa.Index("ix_bridge_job_journal_escalation_id_started_at", "escalation_id", "started_at"),
                      sa.Index("ix_bridge_job_journal_started_at", "started_at"))

    id: int | None = Field(default=None, primary_key=True,
                           sa_type=sa.BigInteger().with_variant(sa.Integer(), "sqlite"))
    escalation_id: int
    job_id: int | None = Field(default=None, sa_type=sa.BigInteger)
    worker: str = Field(sa_type=sa.Text)
    pid: int
    #: ``sync_escalation``, ``reconcile`` or ``sla_cadence``.
    task: str | None = Field(default=None, sa_type=sa.Text)
    started_at: datetime = _when()
    ended_at: datetime | None = _when(nullable=True)
    outcome: str | None = Field(default=None, sa_type=sa.Text)


class JobEngineMigration(SQLModel, table=True):
    """Each of procrastinate's own migration scripts (its ``sql/migrations``) applied to this
    store's job engine schema by `bridge db upgrade` (bridge/jobs/schema.py)."""

    __tablename__ = "bridge_job_engine_migration"

    name: str = Field(primary_key=True, sa_type=sa.Text)
    applied_at: datetime = _when()
