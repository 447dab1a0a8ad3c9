"""Engines, migrations and opening the store.

- :func:`make_engine` builds an engine tuned for each backend (SQLite: WAL, a busy timeout,
  foreign keys, and write-locking transactions; PostgreSQL through psycopg 3).
- :func:`upgrade` runs the Alembic migrations in ``migrations/`` to head, configured from
  code so it works from an installed package without an ``alembic.ini``.
- :func:`open_store` is what the commands call: it checks the schema revision and either
  upgrades (a SQLite store, which is one person's file) or refuses with a message saying to
  run ``bridge db upgrade`` (a shared server, where schema changes are an operator's call).
  ``read_only=True`` (``status``, dry runs) writes nothing: a SQLite file is opened
  ``mode=ro`` (SQLite still makes the empty ``-wal`` / ``-shm`` companions a reader of a WAL
  database needs when no other connection has them open), a missing one reads as an empty
  store and is not created, PostgreSQL sessions are read-only transactions.
- A SQLite store holds customer text: the bridge creates its file 0600 and its missing
  directories 0700 (SQLite gives the ``-wal`` / ``-shm`` files the file's mode).

Every message that shows a store URL shows it through :func:`~bridge.store.urls.mask_url`.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import sqlalchemy.exc
import tenacity
from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL
from sqlalchemy.pool import StaticPool

from bridge.errors import ConfigError
from bridge.store.repository import Store
from bridge.store.transactions import READING
from bridge.store.urls import connection_error, mask_url, normalise_url, scrub

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

__all__ = [
    "MIGRATIONS_DIR",
    "Store",
    "current_revision",
    "head_revision",
    "hold_schema_lock",
    "make_engine",
    "mask_url",
    "open_store",
    "require_current",
    "store_errors",
    "upgrade",
]

#: Where the Alembic environment and revisions live (inside the installed package).
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: The newest revision there: what a store this code opens must be at. Written out (a test
#: holds it to the migrations' own head) so that opening a current store needs no Alembic,
#: which a sync process would otherwise load for one comparison (about 11 MB of memory).
HEAD_REVISION = "0009"

#: How long a SQLite writer waits for another process's write transaction, in seconds.
SQLITE_BUSY_TIMEOUT_S = 30
#: How long connecting to a database server may take before we call it unreachable.
CONNECT_TIMEOUT_S = 10
# Arbitrary but fixed: the PostgreSQL advisory lock key that serialises concurrent upgrades.
_UPGRADE_LOCK_KEY = 0x62726964  # "brid"
# SQLSTATEs of a server that will not let this connection change the schema: a read-only
# transaction (a hot standby, default_transaction_read_only) and a missing privilege.
_REFUSED_WRITES = {"25006": "the database is read-only (a standby, or read-only transactions by default)",
                   "42501": "the user may not change the store's schema"}


def make_engine(url: str | URL, *, read_only: bool = False) -> Engine:
    """An engine for ``url``, configured for the bridge's access pattern.

    SQLite: WAL (readers do not block the writer), ``busy_timeout`` (a second process waits
    instead of failing), foreign keys enforced, and every transaction starts with ``BEGIN
    IMMEDIATE``: the pysqlite default (a deferred BEGIN) lets two processes both read and then
    fail to upgrade to a write lock, which is exactly the read-then-write pattern of intents,
    outbox claims and leases. The parent directory of a SQLite file is created.
    ``sqlite://`` (in memory) shares one connection so every session sees the same database.

    PostgreSQL: ``postgresql://`` is normalised to psycopg 3, with a connect timeout and
    pre-ping so a restarted server does not surface as a stale-connection traceback.
    """
    parsed = normalise_url(url)
    backend = parsed.get_backend_name()
    try:
        if backend == "sqlite":
            return _sqlite_engine(parsed, read_only=read_only)
        kwargs: dict[str, Any] = {"pool_pre_ping": True}
        if backend == "postgresql":
            kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}
            if read_only:
                kwargs["execution_options"] = {"postgresql_readonly": True}
        return create_engine(parsed, **kwargs)
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"no database driver for the store at {mask_url(parsed)} ({exc.name} is not installed)",
            hint="for PostgreSQL install the extra: pip install 'escalation-bridge[postgres]'",
        ) from exc
    except sqlalchemy.exc.ArgumentError as exc:
        raise ConfigError(f"store URL {mask_url(parsed)} is not usable: {exc}") from exc


def in_memory(url: URL) -> bool:
    """Whether a SQLite URL names an in-memory database rather than a file."""
    return url.database in (None, "", ":memory:") or str(url.query.get("mode", "")) == "memory"


def _sqlite_engine(url: URL, *, read_only: bool = False) -> Engine:
    memory = in_memory(url)
    if memory:
        engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    elif read_only:
        assert url.database is not None  # not in memory
        location = "file:" + quote(str(Path(url.database).expanduser())) + "?mode=ro"
        engine = create_engine("sqlite://", creator=lambda: sqlite3.connect(
            location, uri=True, check_same_thread=False, timeout=SQLITE_BUSY_TIMEOUT_S))
    else:
        assert url.database is not None  # not in memory
        _create_private(Path(url.database).expanduser(), url)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S}
        )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        # Autocommit at the driver level: the "begin" hook below issues BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_S * 1000}")
            cursor.execute("PRAGMA foreign_keys = ON")
            if not memory and not read_only:
                _use_wal(cursor)
                # In WAL mode NORMAL is durable against application crashes, which is the
                # failure the outbox guards against; only an OS crash may lose the last commit.
                cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection: Connection) -> None:
        # A read-only connection cannot take the write lock, and a reading transaction
        # (Repository.reading) needs none; a deferred BEGIN still gives each one consistent
        # snapshot, which in WAL mode neither waits for the writer nor holds it up.
        deferred = read_only or connection.get_execution_options().get(READING, False)
        connection.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")

    return engine


def _create_private(path: Path, url: URL) -> None:
    """Create the store's missing directories (0700) and file (0600), whatever the umask:
    the store holds customer text. An existing file keeps the mode its owner gave it."""
    missing = [d for d in (path.parent, *path.parent.parents) if not d.exists()]
    try:
        for directory in reversed(missing):
            try:
                os.mkdir(directory, 0o700)
            except FileExistsError:
                pass  # another process made it a moment ago
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            pass
    except OSError as exc:
        raise ConfigError(
            f"cannot create the store at {mask_url(url)}: {exc.strerror}",
            hint=f"check that {path.parent} can be created and written",
        ) from None


def _is_locked(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)


def _use_wal(cursor: sqlite3.Cursor) -> None:
    """Switch the file to WAL (a persistent property of the file, so usually a no-op).

    Unlike other statements, the switch does not wait on ``busy_timeout`` when another
    connection holds a lock, which happens when several processes open a new store at once:
    retry it for as long as a busy writer would wait.
    """
    if cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
        return
    for attempt in tenacity.Retrying(
        retry=tenacity.retry_if_exception(_is_locked),
        stop=tenacity.stop_after_delay(SQLITE_BUSY_TIMEOUT_S),
        wait=tenacity.wait_random_exponential(multiplier=0.01, max=0.5),
        reraise=True,
    ):
        with attempt:
            cursor.execute("PRAGMA journal_mode = WAL")


@contextmanager
def store_errors(engine: Engine) -> Iterator[None]:
    """Turn failures to *connect* to the store into :class:`ConfigError` (exit 2).

    SQLAlchemy reports a failed connect as a DBAPI error without a statement; errors of a
    statement (constraint violations, ...) pass through unchanged for the caller to handle.
    """
    try:
        yield
    except sqlalchemy.exc.DBAPIError as exc:
        if exc.statement is None or exc.connection_invalidated:
            raise connection_error(exc, engine.url) from None
        raise


def _alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The revision the code expects the store to be at."""
    return HEAD_REVISION


def current_revision(engine: Engine) -> str | None:
    """The revision the store is at, or None for an empty (never migrated) database: the
    row of Alembic's version table, read without Alembic."""
    with store_errors(engine), engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        versions = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    if len(versions) > 1:
        raise ConfigError(f"store at {mask_url(engine.url)} has several schema revisions ({', '.join(versions)})",
                          hint="it was migrated outside bridge: restore it from a backup")
    return versions[0] if versions else None


def _newer(masked: str, at: str) -> ConfigError:
    """The refusal of a store a newer bridge migrated: no command of this one can fix it."""
    return ConfigError(f"store at {masked} is at schema revision {at}, which this bridge does not know",
                       hint="it was migrated by a newer bridge: upgrade bridge")


def require_current(engine: Engine, url: str | URL | None = None, *, note: str = "") -> None:
    """Raise :class:`ConfigError` unless the store is at this bridge's revision, writing
    nothing. ``url`` is what messages name (a read-only SQLite engine's own URL is just
    ``sqlite://``); it defaults to the engine's. ``note`` follows the advice to upgrade."""
    masked = mask_url(url if url is not None else engine.url)
    at = current_revision(engine)
    if at == head_revision():
        return
    if at is None:
        raise ConfigError(f"store at {masked} is not migrated: run `bridge db upgrade`{note}")
    from alembic.script import ScriptDirectory

    if not _known(ScriptDirectory.from_config(_alembic_config()), at):
        raise _newer(masked, at)  # `bridge db upgrade` of this bridge cannot help
    raise ConfigError(f"store at {masked} is at schema revision {at}, this bridge needs {head_revision()}: "
                      f"run `bridge db upgrade`{note}")


def hold_schema_lock(connection: Connection) -> None:
    """Serialise with every other upgrade or copy of this PostgreSQL database until the
    transaction ends (SQLite: ``BEGIN IMMEDIATE`` already does)."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_UPGRADE_LOCK_KEY})")


def _refuse_unknown_revision(connection: Connection, url: URL) -> None:
    # Alembic would fail on a revision it cannot find with a CommandError (a traceback, as
    # if bridge had a bug); the operator's fix is a newer bridge, so say that instead.
    if not inspect(connection).has_table("alembic_version"):
        return
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_alembic_config())
    for at in connection.execute(text("SELECT version_num FROM alembic_version")).scalars():
        if not _known(script, at):
            raise _newer(mask_url(url), at)


@contextmanager
def _writes_refused(url: URL) -> Iterator[None]:
    """Turn a server's or file's refusal to change the schema into :class:`ConfigError`
    (exit 2, naming the store without its password) instead of an internal error."""
    try:
        yield
    except sqlalchemy.exc.DBAPIError as exc:
        original = exc.orig
        why = _REFUSED_WRITES.get(getattr(original, "sqlstate", None) or "")
        if why is None and isinstance(original, sqlite3.OperationalError) and "readonly" in str(original):
            why = "the SQLite file is read-only"
        if why is None:
            raise
        detail = scrub((str(original).strip().splitlines() or [""])[0], url)
        hint = ("make the SQLite file and its directory writable by this user" if url.get_backend_name() == "sqlite"
                else "run `bridge db upgrade` against the primary server, as a user that owns the store's tables")
        raise ConfigError(f"cannot migrate the store at {mask_url(url)}: {why} ({detail})", hint=hint) from None


def upgrade(url_or_engine: str | URL | Engine, *, jobs: bool = False) -> None:
    """Migrate the store to the newest revision (``bridge db upgrade``).

    Runs in one transaction. On PostgreSQL (transactional DDL) a failed migration leaves the
    schema as it was, and an advisory lock makes a second concurrent upgrade wait and then
    find nothing to do; on SQLite ``BEGIN IMMEDIATE`` serialises concurrent upgrades.
    A store a newer bridge migrated, and a database that refuses schema changes (read-only,
    no privilege), are :class:`ConfigError` naming the store, and nothing changes.
    """
    owned = not isinstance(url_or_engine, Engine)
    engine = make_engine(url_or_engine) if not isinstance(url_or_engine, Engine) else url_or_engine
    try:
        with _writes_refused(engine.url), store_errors(engine), engine.begin() as connection:
            hold_schema_lock(connection)
            _refuse_unknown_revision(connection, engine.url)
            from alembic import command

            command.upgrade(_alembic_config(connection), "head")
            if jobs and connection.dialect.name == "postgresql":
                # `bridge db upgrade`: procrastinate's schema in the same transaction (bridge/jobs).
                from bridge.jobs.schema import apply as apply_job_schema

                apply_job_schema(connection)
    finally:
        if owned:
            engine.dispose()


def open_store(url: str | URL, *, auto_upgrade: bool | None = None, read_only: bool = False) -> Store:
    """Open the store at ``url``, making sure its schema is the one this code expects.

    ``read_only`` (``bridge status``, dry runs) neither writes nor creates anything: a SQLite
    file that does not exist, or was never migrated, reads as an empty store (kept in
    memory); one at an older revision is refused with a message to upgrade it.

    ``auto_upgrade=None`` upgrades SQLite stores (the default store is a file of one user's)
    and refuses other backends, whose schema an operator changes with ``bridge db upgrade``.
    Raises :class:`ConfigError` when the store is unreachable, not migrated, or migrated by a
    newer bridge.
    """
    if read_only:
        return _open_read_only(url)
    engine = make_engine(url)
    if auto_upgrade is None:
        auto_upgrade = engine.dialect.name == "sqlite"
    try:
        if current_revision(engine) != head_revision():
            if auto_upgrade:
                upgrade(engine)  # refuses a revision of a newer bridge itself
            else:
                require_current(engine)
    except BaseException:
        engine.dispose()
        raise
    return Store(engine)


def _known(script: ScriptDirectory, revision: str) -> bool:
    try:
        return script.get_revision(revision) is not None
    except Exception:  # alembic raises several types for unknown / ambiguous revisions
        return False


def _open_read_only(url: str | URL) -> Store:
    parsed = normalise_url(url)
    sqlite = parsed.get_backend_name() == "sqlite"
    if sqlite and not in_memory(parsed) and not Path(str(parsed.database)).expanduser().is_file():
        return open_store("sqlite://")  # nothing escalated yet: an empty store, in memory
    engine = make_engine(parsed, read_only=True)
    try:
        if sqlite and current_revision(engine) is None:
            engine.dispose()
            return open_store("sqlite://")
        # Named by the URL given: the read-only SQLite engine's own is just "sqlite://".
        require_current(engine, parsed, note=" (this command only reads it)")
    except BaseException:
        engine.dispose()
        raise
    return Store(engine)
