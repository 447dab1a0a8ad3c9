"""The customer's time zone of an escalation (policy 002: Standard hours are the customer's).

``escalation.customer_zone`` holds the requester's IANA time zone as the helpdesk reported it
when the ticket was escalated (Zendesk's ``iana_time_zone``), so every later SLA clock of
the escalation (sync's cadence, `bridge sla`, the board) counts a tier whose hours are
``timezone: customer`` in that zone. Existing rows start empty: the profile's fallback zone,
as before.

Revision ID: 0009
Revises: 0008

Frozen once released: describe the schema change here without importing
bridge.store.tables (which moves on).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ALTER TABLE on both backends (see 0006: no batch copy of a table others point at).
def upgrade() -> None:
    op.add_column("escalation", sa.Column("customer_zone", sa.String(), nullable=True))


def downgrade() -> None:
    op.drop_column("escalation", "customer_zone")
