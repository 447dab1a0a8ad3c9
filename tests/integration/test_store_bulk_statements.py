"""The store's statements for a round's many keys and rows (``one_of``, ``insert_rows``), on
SQLite and PostgreSQL: they select and insert exactly what ``IN`` and row-by-row inserts
would, and on PostgreSQL a statement's text does not grow with the number of values (one
array parameter per column), which is what lets psycopg and the server parse it once."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, select

from bridge.store.repository import Store
from bridge.store.tables import AuditEntry, Lease, OutboxEntry
from bridge.store.transactions import insert_rows, one_of

AT = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
KEYS = st.lists(st.text(alphabet="ab:1'\"%$ é", max_size=6), max_size=30)


def _entry(key: str) -> dict:
    return {"key": key, "escalation_id": None, "target": f"zendesk:{key}", "kind": "Announce", "payload": "{}",
            "state": "pending", "attempts": 1, "created_at": AT}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(present=KEYS, asked=KEYS)
def test_one_of_selects_exactly_the_values_given(store: Store, present: list[str], asked: list[str]) -> None:
    table = OutboxEntry.__table__
    with store.session() as s:
        s.connection().execute(table.delete())
        insert_rows(s, table, [_entry(k) for k in dict.fromkeys(present)])
        found = set(s.connection().execute(select(table.c.key).where(one_of(s, table.c.key, asked))).scalars())
    assert found == set(present) & set(asked)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=KEYS, new=KEYS)
def test_insert_rows_skips_existing_keys_and_returns_only_what_it_inserted(store: Store, before: list[str],
                                                                           new: list[str]) -> None:
    table = OutboxEntry.__table__
    with store.session() as s:
        s.connection().execute(table.delete())
        insert_rows(s, table, [_entry(k) for k in dict.fromkeys(before)])
        fresh = list(dict.fromkeys(new))
        inserted = insert_rows(s, table, [_entry(k) for k in fresh], skip_existing=("key",), returning=table.c.key)
        stored = set(s.connection().execute(select(table.c.key)).scalars())
    assert sorted(inserted) == sorted(set(fresh) - set(before))
    assert stored == set(before) | set(fresh)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(keys=st.lists(st.text(alphabet="abc:1", min_size=1, max_size=4), unique=True, max_size=12))
def test_insert_rows_inserts_in_the_order_given(store: Store, keys: list[str]) -> None:
    """The outbox's ids are the claim order (what the bridge set out to write last)."""
    table = OutboxEntry.__table__
    with store.session() as s:
        s.connection().execute(table.delete())
        insert_rows(s, table, [_entry(k) for k in keys], skip_existing=("key",))
        stored = list(s.connection().execute(select(table.c.key).order_by(table.c.id)).scalars())
    assert stored == keys


def test_insert_rows_keeps_every_column_type(store: Store) -> None:
    """Times (the UTC type), None, integers and text arrive as given through the arrays."""
    rows = [{"name": "escalation:1", "holder": "h", "host": "box", "pid": 42, "process_scope": None,
             "expires_at": AT, "acquired_at": AT, "token": 1},
            {"name": "escalation:2", "holder": None, "host": None, "pid": None, "process_scope": "x",
             "expires_at": AT, "acquired_at": None, "token": 7}]
    audit = [{"at": AT, "actor": "bridge", "action": "sync", "target": "zendesk:1", "result": "done",
              "detail": "é ' % $1"}]
    with store.session() as s:
        insert_rows(s, Lease.__table__, rows, skip_existing=("name",))
        insert_rows(s, AuditEntry.__table__, audit)
    with store.session() as s:
        leases = {r.name: r for r in s.connection().execute(select(Lease.__table__))}
        detail = s.connection().execute(select(AuditEntry.__table__.c.detail)).scalar_one()
    for row in rows:
        got = leases[row["name"]]
        assert {c: getattr(got, c) for c in row} == row
    assert detail == "é ' % $1"


def test_on_postgresql_the_statement_has_one_parameter_whatever_the_number_of_values() -> None:
    engine = create_engine("postgresql+psycopg://bridge@127.0.0.1/none")  # compiles only, never connects
    table = OutboxEntry.__table__
    texts = set()
    for count in (1, 51, 500):
        statement = select(table.c.key).where(one_of(engine, table.c.key, [f"k{i}" for i in range(count)]))
        # As executed: an IN list's one "expanding" parameter becomes one per value here.
        compiled = statement.compile(dialect=engine.dialect, compile_kwargs={"render_postcompile": True})
        assert len(compiled.params) == 1
        texts.add(str(compiled))
    assert len(texts) == 1, texts
