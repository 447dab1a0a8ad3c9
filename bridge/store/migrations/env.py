"""Alembic environment of the state store.

Configured from code (``bridge.store.db``), not from an ``alembic.ini``: the caller passes an
open connection in ``config.attributes["connection"]`` and owns its transaction. For
developers writing a revision, ``alembic -x url=sqlite:///scratch.db revision --autogenerate``
works too (with ``script_location`` pointing here), connecting to that URL itself.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from bridge.store import tables

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=tables.metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    # Imported here: bridge.store.db imports this package's parent, not the other way round.
    from bridge.store.db import make_engine

    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("pass the store URL: alembic -x url=<BRIDGE_STORE_URL> ...")
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run `bridge db upgrade`")
run_migrations_online()
