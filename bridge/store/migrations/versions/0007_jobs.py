"""the job engine's own tables: shared rate limits, the job journal, procrastinate's migrations (issue 13).

- ``bridge_rate_limits``: one token bucket per service shared by every `bridge worker`;
- ``bridge_job_journal``: when a job's pass held an escalation's lease, where, in which task;
- ``bridge_job_engine_migration``: which of procrastinate's own migration scripts
  `bridge db upgrade` has applied to the job engine's schema (procrastinate keeps no record).

Created on every backend so the schema is one; only PostgreSQL stores use them. procrastinate's
own tables are not described here: `bridge db upgrade` applies its schema and migrations
after this chain (bridge/jobs/schema.py). A store made by an earlier `bridge db upgrade` of
the jobs code, which created the first two tables outside the chain, keeps them.

Revision ID: 0007
Revises: 0006

Frozen once released: describe the schema change here without importing
bridge.store.tables (which moves on).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _at(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "bridge_rate_limits" not in existing:
        op.create_table(
            "bridge_rate_limits",
            sa.Column("service", sa.Text(), nullable=False),
            sa.Column("tokens", sa.Double(), nullable=False),
            _at("updated_at"),
            _at("blocked_until", nullable=True),
            sa.Column("throttled", sa.BigInteger(), nullable=False),
            sa.PrimaryKeyConstraint("service", name="pk_bridge_rate_limits"),
        )
    if "bridge_job_journal" not in existing:
        op.create_table(
            "bridge_job_journal",
            sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
            sa.Column("escalation_id", sa.Integer(), nullable=False),
            sa.Column("job_id", sa.BigInteger(), nullable=True),
            sa.Column("worker", sa.Text(), nullable=False),
            sa.Column("pid", sa.Integer(), nullable=False),
            sa.Column("task", sa.Text(), nullable=True),
            _at("started_at"),
            _at("ended_at", nullable=True),
            sa.Column("outcome", sa.Text(), nullable=True),
            sa.PrimaryKeyConstraint("id", name="pk_bridge_job_journal"),
        )
    else:  # made outside the chain by the earlier jobs code (PostgreSQL only): brought to this shape
        op.execute("DROP INDEX IF EXISTS bridge_job_journal_escalation")
        op.add_column("bridge_job_journal", sa.Column("task", sa.Text(), nullable=True))
    op.create_index("ix_bridge_job_journal_escalation_id_started_at", "bridge_job_journal",
                    ["escalation_id", "started_at"])
    op.create_index("ix_bridge_job_journal_started_at", "bridge_job_journal", ["started_at"])
    op.create_table(
        "bridge_job_engine_migration",
        sa.Column("name", sa.Text(), nullable=False),
        _at("applied_at"),
        sa.PrimaryKeyConstraint("name", name="pk_bridge_job_engine_migration"),
    )


def downgrade() -> None:
    op.drop_table("bridge_job_engine_migration")
    op.drop_index("ix_bridge_job_journal_started_at", table_name="bridge_job_journal")
    op.drop_index("ix_bridge_job_journal_escalation_id_started_at", table_name="bridge_job_journal")
    op.drop_table("bridge_job_journal")
    op.drop_table("bridge_rate_limits")
