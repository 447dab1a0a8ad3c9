"""The board on a PostgreSQL store (the teams' setup), over loopback HTTP: PostgreSQL refuses
a NUL in any text parameter (psycopg's DataError), which reached the browser as a 500.

Skipped without ``BRIDGE_TEST_PG_URL`` (failed instead when ``CI`` is set), as every
PostgreSQL test: see :mod:`tests.fixtures.postgres`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bridge.config import load_config
from bridge.services import Services
from bridge.store.db import upgrade
from tests.board.conftest import ADMIN, MANAGER, PASSWORD, Board, add_account, csrf_of, serving_board
from tests.fixtures.postgres import throwaway_schema

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_board(bridge_env, postgres_admin_engine, password_hash) -> Iterator[Board]:
    with throwaway_schema(postgres_admin_engine, "board") as url:
        upgrade(url)
        services = Services(load_config(None, env={**bridge_env, "BRIDGE_STORE_URL": url}))
        try:
            with serving_board(services, ((MANAGER, "manager"), (ADMIN, "admin")), password_hash) as board:
                yield board
        finally:
            services.store.engine.dispose()


@pytest.mark.parametrize("query", ["q=%00", "severity=a%00b", "organization=%00"])
def test_a_nul_in_a_filter_is_a_400(pg_board, query):
    page = pg_board.signed_in().get(f"{pg_board.url}/?{query}", timeout=30)
    assert page.status_code == 400 and "NUL" in page.text


@pytest.mark.parametrize(("name", "password"), [(f"{MANAGER}\x00", PASSWORD), (MANAGER, f"{PASSWORD}\x00")])
def test_a_nul_in_the_sign_in_form_is_a_wrong_name_or_password(pg_board, name, password):
    session, refused = pg_board.sign_in(name, password)
    assert refused.status_code == 401 and "Wrong user name or password" in refused.text
    denied = [a for a in pg_board.services.store.audit.entries() if a.action == "sign_in"]
    assert [(a.result, a.detail) for a in denied] == [("denied", "wrong name or password")]
    assert "\x00" not in denied[0].target  # stored with the NUL replaced, not lost


def test_the_admin_form_refuses_an_account_name_with_a_nul(pg_board):
    session = pg_board.signed_in(ADMIN)
    added = add_account(pg_board, session, "eve\x00")
    assert added.status_code == 400 and "NUL" in added.text
    token = csrf_of(session.get(f"{pg_board.url}/accounts", timeout=10).text)
    removed = session.post(f"{pg_board.url}/accounts/remove", data={"name": "eve\x00", "csrf_token": token},
                           timeout=30)
    assert removed.status_code == 404
