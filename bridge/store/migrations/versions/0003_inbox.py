"""the webhook inbox of bridge serve (issue 12).

Revision ID: 0003
Revises: 0002

Frozen once released: describe the schema change here without importing
bridge.store.tables (which moves on).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _at(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "inbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("delivery_id", sa.String(), nullable=False),
        sa.Column("event", sa.String(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("holder", sa.String(), nullable=True),
        _at("lease_expires_at", nullable=True),
        _at("available_at"),
        _at("received_at"),
        _at("finished_at", nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_inbox"),
        sa.UniqueConstraint("source", "delivery_id", name="uq_inbox_source_delivery_id"),
    )
    op.create_index("ix_inbox_state_available_at", "inbox", ["state", "available_at"])
    op.create_index("ix_inbox_source_received_at", "inbox", ["source", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_inbox_source_received_at", table_name="inbox")
    op.drop_index("ix_inbox_state_available_at", table_name="inbox")
    op.drop_table("inbox")
