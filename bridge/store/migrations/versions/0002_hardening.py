"""leases that name their holder, fencing tokens, the one-escalation-per-ticket claim (issue 11).

- ``lease``: the holder's ``host``, ``pid`` and ``process_scope`` (a holder on this host
  whose process is gone is taken over at once), a fencing ``token`` that grows with every
  acquisition, ``acquired_at``; ``holder`` becomes nullable (null = free: the row outlives
  its holders so that the token keeps growing).
- ``escalation``: the claim on creating the Bug while the escalation is an intent
  (``claim_holder``, ``claim_host``, ``claim_pid``, ``claim_process_scope``,
  ``claim_expires_at``), so two processes escalating one ticket never both call JIRA.

Revision ID: 0002
Revises: 0001

Frozen once released: describe the schema change here without importing
bridge.store.tables (which moves on).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CLAIM = ("claim_holder", "claim_host", "claim_pid", "claim_process_scope", "claim_expires_at")


def upgrade() -> None:
    # Batch mode: SQLite cannot change a column's nullability in place (the table is copied);
    # on PostgreSQL these are plain ALTER TABLE statements.
    with op.batch_alter_table("lease") as batch:
        batch.alter_column("holder", existing_type=sa.String(), nullable=True)
        batch.add_column(sa.Column("host", sa.String(), nullable=True))
        batch.add_column(sa.Column("pid", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("process_scope", sa.String(), nullable=True))
        # Existing holders keep token 0; their next acquisition gets 1.
        batch.add_column(sa.Column("token", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("escalation") as batch:
        batch.add_column(sa.Column("claim_holder", sa.String(), nullable=True))
        batch.add_column(sa.Column("claim_host", sa.String(), nullable=True))
        batch.add_column(sa.Column("claim_pid", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("claim_process_scope", sa.String(), nullable=True))
        batch.add_column(sa.Column("claim_expires_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("escalation") as batch:
        for column in _CLAIM:
            batch.drop_column(column)
    op.execute("DELETE FROM lease WHERE holder IS NULL")
    with op.batch_alter_table("lease") as batch:
        for column in ("acquired_at", "token", "process_scope", "pid", "host"):
            batch.drop_column(column)
        batch.alter_column("holder", existing_type=sa.String(), nullable=False)
