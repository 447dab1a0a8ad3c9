"""typed sync cursors (one core for every entry point, issue 10).

Sync kept where it stood in JSON strings under names in ``sync_cursor``; they become typed
columns of the rows they describe, and the existing values move over:

- ``sync:ticket:<helpdesk>:<id>`` = {"comment", "status", "version"} ->
  ``linked_ticket.last_comment_id``, ``last_status``, ``known_version``;
- ``sync:jira:comments:<issue id>`` -> ``escalation.last_jira_comment_id``;
- ``sync:sentry:status:<error issue id>`` -> ``related_task.last_error_status``;
- ``sync:sentry:regressed:<escalation id>`` = [short id or issue id, ...] ->
  ``related_task_link.regression_flagged``.

A cursor row whose value moved is deleted; one that names no row (a ticket no longer
linked, say) stays as it was. The pass-wide cursors (JIRA's "since", the helpdesk's change
feed, the retry list, released versions) stay named cursors. Downgrade writes the columns
back into named cursors.

Revision ID: 0005
Revises: 0004

Frozen once released: describe the schema change here without importing
bridge.store.tables (which moves on).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The tables as this revision knows them (only the columns it reads or writes).
_cursor = sa.table("sync_cursor", sa.column("name", sa.String), sa.column("value", sa.String),
                   sa.column("updated_at", sa.DateTime(timezone=True)))
_link = sa.table("linked_ticket", sa.column("helpdesk", sa.String), sa.column("ticket_id", sa.String),
                 sa.column("last_comment_id", sa.String), sa.column("last_status", sa.String),
                 sa.column("known_version", sa.String))
_escalation = sa.table("escalation", sa.column("id", sa.Integer), sa.column("jira_issue_id", sa.String),
                       sa.column("last_jira_comment_id", sa.String))
_task = sa.table("related_task", sa.column("id", sa.Integer), sa.column("sentry_issue_id", sa.String),
                 sa.column("sentry_short_id", sa.String), sa.column("last_error_status", sa.String))
_task_link = sa.table("related_task_link", sa.column("related_task_id", sa.Integer),
                      sa.column("escalation_id", sa.Integer), sa.column("regression_flagged", sa.Boolean))

TICKET, COMMENTS, STATUS, REGRESSED = "sync:ticket:", "sync:jira:comments:", "sync:sentry:status:", \
    "sync:sentry:regressed:"


def upgrade() -> None:
    with op.batch_alter_table("linked_ticket") as batch:
        batch.add_column(sa.Column("last_comment_id", sa.String(), nullable=True))
        batch.add_column(sa.Column("last_status", sa.String(), nullable=True))
        batch.add_column(sa.Column("known_version", sa.String(), nullable=True))
    with op.batch_alter_table("escalation") as batch:
        batch.add_column(sa.Column("last_jira_comment_id", sa.String(), nullable=True))
    with op.batch_alter_table("related_task") as batch:
        batch.add_column(sa.Column("last_error_status", sa.String(), nullable=True))
    with op.batch_alter_table("related_task_link") as batch:
        batch.add_column(sa.Column("regression_flagged", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
    _move_cursors_into_columns(op.get_bind())


def _move_cursors_into_columns(bind: sa.Connection) -> None:
    rows = bind.execute(sa.select(_cursor.c.name, _cursor.c.value).where(_cursor.c.name.like("sync:%"))).all()
    for name, value in rows:
        if _moved(bind, name, value):
            bind.execute(sa.delete(_cursor).where(_cursor.c.name == name))


def _moved(bind: sa.Connection, name: str, value: str) -> bool:
    """Write one named cursor into its typed column(s); True if a row took it."""
    if name.startswith(TICKET) and name.count(":") >= 3:
        helpdesk, ticket_id = name[len(TICKET):].split(":", 1)
        state = _json(value, dict)
        if state is None:
            return False
        values = {"last_comment_id": _text(state.get("comment")), "last_status": _text(state.get("status")),
                  "known_version": _text(state.get("version"))}
        where = (_link.c.helpdesk == helpdesk) & (_link.c.ticket_id == ticket_id)
        return bind.execute(sa.update(_link).where(where).values(**values)).rowcount > 0
    if name.startswith(COMMENTS):
        issue_id = name[len(COMMENTS):]
        return bind.execute(sa.update(_escalation).where(_escalation.c.jira_issue_id == issue_id)
                            .values(last_jira_comment_id=value)).rowcount > 0
    if name.startswith(STATUS):
        error_id = name[len(STATUS):]
        return bind.execute(sa.update(_task).where(_task.c.sentry_issue_id == error_id)
                            .values(last_error_status=value)).rowcount > 0
    if name.startswith(REGRESSED) and name[len(REGRESSED):].isdigit():
        escalation_id = int(name[len(REGRESSED):])
        flagged = [str(n) for n in _json(value, list) or []]
        tasks = sa.select(_task.c.id).where(_task.c.sentry_short_id.in_(flagged) | _task.c.sentry_issue_id.in_(flagged))
        bind.execute(sa.update(_task_link).where(_task_link.c.escalation_id == escalation_id,
                                                 _task_link.c.related_task_id.in_(tasks))
                     .values(regression_flagged=True))
        # The list is fully represented by the flags of this escalation's links.
        return bind.execute(sa.select(sa.func.count()).select_from(_escalation)
                            .where(_escalation.c.id == escalation_id)).scalar_one() > 0
    return False


def _json(value: str, kind: type) -> Any:
    try:
        decoded = json.loads(value)
    except ValueError:
        return None
    return decoded if isinstance(decoded, kind) else None


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def downgrade() -> None:
    _move_columns_into_cursors(op.get_bind())
    with op.batch_alter_table("related_task_link") as batch:
        batch.drop_column("regression_flagged")
    with op.batch_alter_table("related_task") as batch:
        batch.drop_column("last_error_status")
    with op.batch_alter_table("escalation") as batch:
        batch.drop_column("last_jira_comment_id")
    with op.batch_alter_table("linked_ticket") as batch:
        for column in ("known_version", "last_status", "last_comment_id"):
            batch.drop_column(column)


def _move_columns_into_cursors(bind: sa.Connection) -> None:
    cursors: dict[str, str] = {}
    for helpdesk, ticket_id, comment, status, version in bind.execute(
        sa.select(_link.c.helpdesk, _link.c.ticket_id, _link.c.last_comment_id, _link.c.last_status,
                  _link.c.known_version)
        .where(_link.c.last_comment_id.isnot(None) | _link.c.last_status.isnot(None)
               | _link.c.known_version.isnot(None))
    ):
        state = {"comment": comment, "status": status}
        if version is not None:
            state["version"] = version
        cursors[f"{TICKET}{helpdesk}:{ticket_id}"] = json.dumps(state)
    for issue_id, comment in bind.execute(sa.select(_escalation.c.jira_issue_id, _escalation.c.last_jira_comment_id)
                                          .where(_escalation.c.last_jira_comment_id.isnot(None),
                                                 _escalation.c.jira_issue_id.isnot(None))):
        cursors[f"{COMMENTS}{issue_id}"] = comment
    for error_id, status in bind.execute(sa.select(_task.c.sentry_issue_id, _task.c.last_error_status)
                                         .where(_task.c.last_error_status.isnot(None))):
        cursors[f"{STATUS}{error_id}"] = status
    flagged: dict[int, list[str]] = {}
    for escalation_id, short_id, error_id in bind.execute(
        sa.select(_task_link.c.escalation_id, _task.c.sentry_short_id, _task.c.sentry_issue_id)
        .join(_task, _task.c.id == _task_link.c.related_task_id)
        .where(_task_link.c.regression_flagged.is_(True))
    ):
        flagged.setdefault(escalation_id, []).append(short_id or error_id)
    for escalation_id, names in flagged.items():
        cursors[f"{REGRESSED}{escalation_id}"] = json.dumps(sorted(names))
    now = datetime.now(UTC)
    for name, value in cursors.items():
        bind.execute(sa.delete(_cursor).where(_cursor.c.name == name))
        bind.execute(sa.insert(_cursor).values(name=name, value=value, updated_at=now))
