"""Transactions that only read (``Repository.reading``): on a SQLite file they take no write
lock, so a sync pass planning one batch never queues behind the thread writing the batch
before (bridge/sync/pipeline.py), nor holds it up; on PostgreSQL they are plain transactions.
Each case would wait out SQLite's busy timeout and fail if reads took the write lock."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update
from sqlmodel import col

from bridge.store.db import open_store
from bridge.store.tables import Lease



def test_a_read_goes_on_while_another_transaction_holds_sqlites_write_lock(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'bridge.db'}", auto_upgrade=True)
    try:
        assert store.leases.acquire("sync", "first", timedelta(minutes=5)) is not None
        with store.session() as writing:  # BEGIN IMMEDIATE: the write lock, until the block ends
            writing.exec(update(Lease).where(col(Lease.name) == "sync").values(holder="second"))
            lease = store.leases.get("sync")  # another connection, while the lock is held
            assert lease is not None and lease.holder == "first"  # what was committed
        assert store.leases.get("sync").holder == "second"
    finally:
        store.close()


def test_a_write_goes_on_while_a_read_is_open(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'bridge.db'}", auto_upgrade=True)
    try:
        with store.leases.reading() as reading:
            assert reading.exec(Lease.__table__.select()).all() == []  # the snapshot begins
            assert store.leases.acquire("sync", "writer", timedelta(minutes=5)) is not None
            assert reading.exec(Lease.__table__.select()).all() == []  # still its snapshot
        assert store.leases.get("sync").holder == "writer"
    finally:
        store.close()


def test_reads_see_what_was_committed_on_each_backend(store):
    assert store.leases.get("sync") is None
    assert store.leases.acquire("sync", "writer", timedelta(minutes=5)) is not None
    assert store.leases.get("sync").holder == "writer"
    assert store.escalations.by_ids([1, 2]) == {}
    assert store.links.of_many([1, 2]) == {}
