"""board accounts, sessions, sign-in throttling and SLA standings (the managers' board).

Revision ID: 0004
Revises: 0003

Frozen once released: describe the schema change here without importing
bridge.store.tables (which moves on).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _at(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "board_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("oidc_subject", sa.String(), nullable=True),
        _at("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_board_user"),
        sa.UniqueConstraint("name", name="uq_board_user_name"),
        sa.UniqueConstraint("oidc_subject", name="uq_board_user_oidc_subject"),
    )
    op.create_table(
        "board_session",
        sa.Column("token_hash", sa.String(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(), nullable=False),
        _at("created_at"),
        _at("expires_at"),
        sa.ForeignKeyConstraint(["user_id"], ["board_user.id"], name="fk_board_session_user_id_board_user",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token_hash", name="pk_board_session"),
    )
    op.create_index("ix_board_session_user_id", "board_session", ["user_id"])
    op.create_index("ix_board_session_expires_at", "board_session", ["expires_at"])
    op.create_table(
        "sign_in_failure",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        _at("last_failure_at"),
        sa.PrimaryKeyConstraint("name", name="pk_sign_in_failure"),
    )
    op.create_table(
        "board_standing",
        sa.Column("escalation_id", sa.Integer(), nullable=False),
        sa.Column("standing", sa.String(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("order_key", sa.BigInteger(), nullable=False),
        sa.Column("next_update_due", sa.DateTime(timezone=True), nullable=True),
        _at("computed_at"),
        sa.ForeignKeyConstraint(["escalation_id"], ["escalation.id"],
                                name="fk_board_standing_escalation_id_escalation", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("escalation_id", name="pk_board_standing"),
    )
    op.create_index("ix_board_standing_order", "board_standing", ["rank", "order_key", "escalation_id"])


def downgrade() -> None:
    op.drop_index("ix_board_standing_order", table_name="board_standing")
    op.drop_table("board_standing")
    op.drop_table("sign_in_failure")
    op.drop_index("ix_board_session_expires_at", table_name="board_session")
    op.drop_index("ix_board_session_user_id", table_name="board_session")
    op.drop_table("board_session")
    op.drop_table("board_user")
