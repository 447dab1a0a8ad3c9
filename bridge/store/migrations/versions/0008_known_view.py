"""sync at scale: the ticket as the bridge last knew it (issue 15).

``linked_ticket.known_view`` holds, as JSON, the subject, status and tags the ticket had at
``known_version`` (the version the bridge last read, or its own last write left). A marked
write to a ticket that has not changed since is then made on that version without reading
the ticket first: the write is conditional on it, so a ticket that did change answers a
conflict and is read and written afresh. The view counts only while its own ``version``
equals ``known_version``. Existing rows start empty: their tickets are read as before.

Revision ID: 0008
Revises: 0007

Frozen once released: describe the schema change here without importing
bridge.store.tables (which moves on).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ALTER TABLE on both backends (see 0006: no batch copy of a table others point at).
def upgrade() -> None:
    op.add_column("linked_ticket", sa.Column("known_view", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("linked_ticket", "known_view")
