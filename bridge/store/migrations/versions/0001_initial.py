"""The initial schema: escalations, linked tickets, related Sentry tasks, outbox, audit,
sync cursors and leases.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Frozen: this file describes the schema as it was at revision 0001 and must not import
bridge.store.tables (which moves on). Timestamps are ``timestamptz`` on PostgreSQL and UTC
text on SQLite; bridge.store.tables.UTCDateTime makes both aware UTC in Python.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _text(name: str, *, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.String(), nullable=nullable)


def _at(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.Integer(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "escalation",
        _id(),
        _text("label"),
        _text("origin_helpdesk"),
        _text("origin_ticket_id"),
        _text("jira_issue_id", nullable=True),
        _text("jira_key", nullable=True),
        _text("jira_url", nullable=True),
        _text("state"),
        _text("severity"),
        _text("priority"),
        _text("profile"),
        _text("tier", nullable=True),
        _text("organization", nullable=True),
        _text("escalated_by"),
        _at("opened_at"),
        _at("created_at"),
        _at("updated_at"),
        sa.Column("affected_count", sa.Integer(), nullable=False),
        sa.Column("pages_sent", sa.Integer(), nullable=False),
        _text("last_status", nullable=True),
        _text("last_resolution", nullable=True),
        sa.Column("last_fix_versions", sa.Text(), nullable=True),
        _at("last_jira_updated", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_escalation"),
        sa.UniqueConstraint("label", name="uq_escalation_label"),
        sa.UniqueConstraint("jira_issue_id", name="uq_escalation_jira_issue_id"),
    )
    op.create_index("ix_escalation_origin", "escalation", ["origin_helpdesk", "origin_ticket_id"])
    op.create_index("ix_escalation_state", "escalation", ["state"])

    op.create_table(
        "linked_ticket",
        _id(),
        sa.Column("escalation_id", sa.Integer(), nullable=False),
        _text("helpdesk"),
        _text("ticket_id"),
        _text("role"),
        _text("locale", nullable=True),
        _text("requester_tier", nullable=True),
        _at("linked_at"),
        _text("last_announced_state", nullable=True),
        _at("last_public_update_at", nullable=True),
        _at("waiting_on_customer_since", nullable=True),
        sa.ForeignKeyConstraint(
            ["escalation_id"],
            ["escalation.id"],
            name="fk_linked_ticket_escalation_id_escalation",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_linked_ticket"),
        sa.UniqueConstraint("helpdesk", "ticket_id", name="uq_linked_ticket_helpdesk_ticket"),
    )
    op.create_index("ix_linked_ticket_escalation_id", "linked_ticket", ["escalation_id"])

    op.create_table(
        "related_task",
        _id(),
        _text("sentry_issue_id"),
        _text("sentry_short_id", nullable=True),
        _text("sentry_permalink", nullable=True),
        _text("jira_issue_id", nullable=True),
        _text("jira_key", nullable=True),
        _text("label"),
        _text("state"),
        _at("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_related_task"),
        sa.UniqueConstraint("sentry_issue_id", name="uq_related_task_sentry_issue_id"),
    )

    op.create_table(
        "related_task_link",
        _id(),
        sa.Column("related_task_id", sa.Integer(), nullable=False),
        sa.Column("escalation_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["related_task_id"],
            ["related_task.id"],
            name="fk_related_task_link_related_task_id_related_task",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["escalation_id"],
            ["escalation.id"],
            name="fk_related_task_link_escalation_id_escalation",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_related_task_link"),
        sa.UniqueConstraint("related_task_id", "escalation_id", name="uq_related_task_link_pair"),
    )
    op.create_index("ix_related_task_link_related_task_id", "related_task_link", ["related_task_id"])
    op.create_index("ix_related_task_link_escalation_id", "related_task_link", ["escalation_id"])

    op.create_table(
        "outbox",
        _id(),
        _text("key"),
        sa.Column("escalation_id", sa.Integer(), nullable=True),
        _text("target"),
        _text("kind"),
        sa.Column("payload", sa.Text(), nullable=False),
        _text("state"),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        _at("created_at"),
        _at("sent_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["escalation_id"],
            ["escalation.id"],
            name="fk_outbox_escalation_id_escalation",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("key", name="uq_outbox_key"),
    )
    op.create_index("ix_outbox_escalation_id", "outbox", ["escalation_id"])
    op.create_index("ix_outbox_state", "outbox", ["state"])

    op.create_table(
        "audit",
        _id(),
        _at("at"),
        _text("actor"),
        _text("action"),
        _text("target"),
        _text("result"),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit"),
    )
    op.create_index("ix_audit_at", "audit", ["at"])
    op.create_index("ix_audit_target", "audit", ["target"])

    op.create_table(
        "sync_cursor",
        _text("name"),
        _text("value"),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("name", name="pk_sync_cursor"),
    )

    op.create_table(
        "lease",
        _text("name"),
        _text("holder"),
        _at("expires_at"),
        sa.PrimaryKeyConstraint("name", name="pk_lease"),
    )


def downgrade() -> None:
    # Children before parents; dropping a table drops its indexes.
    for table in (
        "lease",
        "sync_cursor",
        "audit",
        "outbox",
        "related_task_link",
        "related_task",
        "linked_ticket",
        "escalation",
    ):
        op.drop_table(table)
