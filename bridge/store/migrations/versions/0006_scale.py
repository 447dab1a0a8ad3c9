"""sync at scale: when each escalation's SLA clock next needs a look (issue 15).

``escalation.sla_next_check_at`` is the earliest instant at which the SLA cadence could
ask for something (a status update, an at-risk alert, a missed first response), computed
from the clock's inputs and cleared whenever one of them changes. Sync selects only the
rows due before now plus its horizon, through the index, instead of computing every clock.
Existing rows start empty: the next pass computes their clocks once.

Revision ID: 0006
Revises: 0005

Frozen once released: describe the schema change here without importing
bridge.store.tables (which moves on).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ALTER TABLE on both backends (SQLite has had ADD and DROP COLUMN since 3.35): a batch
# "copy and move" would rebuild the escalation table, and with foreign keys on, dropping the
# old table would cascade to every linked ticket.
def upgrade() -> None:
    op.add_column("escalation", sa.Column("sla_next_check_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_escalation_sla_next_check_at", "escalation", ["sla_next_check_at"])


def downgrade() -> None:
    op.drop_index("ix_escalation_sla_next_check_at", table_name="escalation")
    op.drop_column("escalation", "sla_next_check_at")
