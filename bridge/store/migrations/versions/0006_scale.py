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


def upgrade() -> None:
    with op.batch_alter_table("escalation") as batch:
        batch.add_column(sa.Column("sla_next_check_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_escalation_sla_next_check_at", ["sla_next_check_at"])


def downgrade() -> None:
    with op.batch_alter_table("escalation") as batch:
        batch.drop_index("ix_escalation_sla_next_check_at")
        batch.drop_column("sla_next_check_at")
