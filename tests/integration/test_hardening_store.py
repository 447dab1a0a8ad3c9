"""F9: a store opened read-only (``bridge status``, dry runs) reads what is there and can
write nothing, on SQLite and PostgreSQL; a missing SQLite store reads as empty and is not
created."""

from __future__ import annotations

import pytest
import sqlalchemy.exc

from bridge.errors import ConfigError
from bridge.store.db import open_store
from tests.fixtures.postgres import *  # noqa: F403 - store_url, postgres fixtures


def test_read_only_store_reads_and_refuses_writes(store_url):
    writer = open_store(store_url, auto_upgrade=True)
    writer.cursors.set("sync:jira", "42")
    writer.close()
    reader = open_store(store_url, read_only=True)
    try:
        assert reader.cursors.get("sync:jira") == "42"
        with pytest.raises(sqlalchemy.exc.DBAPIError):
            reader.cursors.set("sync:jira", "43")
    finally:
        reader.close()
    again = open_store(store_url)
    assert again.cursors.get("sync:jira") == "42"
    again.close()


def test_a_missing_sqlite_store_reads_as_empty_and_stays_missing(tmp_path):
    path = tmp_path / "a" / "b" / "bridge.db"
    store = open_store(f"sqlite:///{path}", read_only=True)
    assert store.escalations.list() == []
    store.close()
    assert not (tmp_path / "a").exists()


@pytest.mark.postgres
def test_an_unmigrated_server_store_is_refused_not_migrated(store_url):
    if not store_url.startswith("postgresql"):
        pytest.skip("SQLite reads an unmigrated file as empty")
    with pytest.raises(ConfigError, match="bridge db upgrade"):
        open_store(store_url, read_only=True)
