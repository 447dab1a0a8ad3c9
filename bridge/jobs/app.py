"""The procrastinate App on the store's own PostgreSQL database.

One App per process, built from the store URL (``BRIDGE_STORE_URL``): the job engine needs
no server of its own, and its tables live beside the store's (``bridge db upgrade`` creates
both). A SQLite store has no job engine: :func:`require_postgres` refuses it with the reason.
"""

from __future__ import annotations

from sqlalchemy.engine import URL

from bridge.errors import UsageError
from bridge.store.urls import mask_url, normalise_url

__all__ = ["build_app", "conninfo", "is_postgres", "require_postgres"]

#: The queues: inbox items (cheap: route and fan out), per-escalation syncs, periodic work.
QUEUES = ("inbox", "sync", "periodic")


def is_postgres(url: str | URL) -> bool:
    """Whether the store at ``url`` is PostgreSQL (where jobs go through procrastinate)."""
    return normalise_url(url).get_backend_name() == "postgresql"


def require_postgres(url: str | URL) -> None:
    """Raise a usage error (exit 2) saying why, unless the store is PostgreSQL."""
    if not is_postgres(url):
        raise UsageError(
            f"bridge worker needs a PostgreSQL store; the store is {mask_url(normalise_url(url))}",
            hint="set BRIDGE_STORE_URL to a postgresql:// URL (move a SQLite store with "
                 "`bridge db copy SQLITE_URL POSTGRES_URL`); on SQLite, `bridge serve` runs the workers itself")


def conninfo(url: str | URL) -> str:
    """The libpq URI psycopg wants, from the store's SQLAlchemy URL (query options such as
    ``options=-csearch_path=…`` kept, so jobs live in the store's schema)."""
    parsed = normalise_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


def build_app(url: str | URL, *, pool_size: int = 4):
    """A procrastinate App on the store at ``url`` with bridge's tasks registered (not opened)."""
    import procrastinate

    from bridge.jobs.tasks import make_blueprint

    connector = procrastinate.PsycopgConnector(conninfo=conninfo(url), min_size=1, max_size=max(2, pool_size))
    app = procrastinate.App(connector=connector)
    app.add_tasks_from(make_blueprint(), namespace="bridge")
    return app
