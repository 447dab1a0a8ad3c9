"""board accounts, sessions and sign-in throttling (the managers' board).

Revision ID: 0004
Revises: 0003

Frozen once released: describe the schema change here without importing
bridge.store.tables (which moves on).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401 - used as the revision grows
from alembic import op  # noqa: F401

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
