"""OpenID Connect sign-in to the board against the sandbox's identity provider, over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from bridge.config import load_config
from bridge.sandbox import oidc
from bridge.sandbox.server import ServiceThread
from bridge.services import Services
from tests.board.conftest import MANAGER, VIEWER, Board, serving_board


@pytest.fixture
def provider() -> Iterator[tuple[ServiceThread, oidc.OidcState]]:
    service, state = oidc.start()
    try:
        yield service, state
    finally:
        service.stop()


@pytest.fixture
def oidc_board(bridge_env, provider, password_hash) -> Iterator[tuple[Board, oidc.OidcState]]:
    service, state = provider
    accounts_ = ((MANAGER, "manager"), (VIEWER, "viewer"), ("mallory@example.com", "admin"))
    with _signing_in_with(state, bridge_env, service.url, accounts_, password_hash) as board:
        yield board, state


@contextmanager
def _signing_in_with(state: oidc.OidcState, bridge_env: dict, issuer: str, accounts_, password_hash: str
                     ) -> Iterator[Board]:
    """The board configured for the sandbox's provider at ``issuer``, its callback registered."""
    env = {**bridge_env, "BRIDGE_SERVE_OIDC_ISSUER": issuer,
           "BRIDGE_SERVE_OIDC_CLIENT_ID": oidc.DEMO_CLIENT["client_id"],
           "BRIDGE_SERVE_OIDC_CLIENT_SECRET": oidc.DEMO_CLIENT["client_secret"]}
    with serving_board(Services(load_config(None, env=env)), accounts_, password_hash) as board:
        state.register_client(oidc.DEMO_CLIENT["client_id"], oidc.DEMO_CLIENT["client_secret"],
                              [f"{board.url}/login/oidc/callback"])
        yield board


def test_a_person_with_a_verified_address_signs_in_to_their_account(oidc_board):
    board, state = oidc_board
    state.signed_in = "erin"
    session = requests.Session()
    assert "identity provider" in session.get(f"{board.url}/login", timeout=10).text
    page = session.get(f"{board.url}/login/oidc", timeout=30)
    assert page.status_code == 200 and urlsplit(page.url).path == "/"
    assert f"{MANAGER} (manager)" in page.text
    user = board.services.store.users.by_name(MANAGER)
    assert user.oidc_subject == f"{state.issuer} u-1001"
    # The linked subject signs in again even if the provider's address changes.
    state.people["erin"]["email"] = "erin.new@example.com"
    again = requests.Session().get(f"{board.url}/login/oidc", timeout=30)
    assert f"{MANAGER} (manager)" in again.text


def test_an_unverified_address_or_no_account_gets_no_session(oidc_board):
    board, state = oidc_board
    state.signed_in = "mallory"  # claims an admin's address, unverified
    refused = requests.Session().get(f"{board.url}/login/oidc", timeout=30)
    assert refused.status_code == 403 and "bridge_board" not in refused.cookies
    state.people["nobody"] = {"sub": "u-9", "email": "nobody@example.com", "email_verified": True, "name": "N"}
    state.signed_in = "nobody"
    assert requests.Session().get(f"{board.url}/login/oidc", timeout=30).status_code == 403
    assert board.services.store.users.by_name("mallory@example.com").oidc_subject is None
    denied = [a for a in board.services.store.audit.entries() if a.action == "sign_in" and a.result == "denied"]
    assert len(denied) == 2


def test_a_forged_state_or_a_replayed_code_is_refused(oidc_board):
    board, state = oidc_board
    state.signed_in = "vera"
    session = requests.Session()
    to_provider = session.get(f"{board.url}/login/oidc", allow_redirects=False, timeout=10)
    back = session.get(to_provider.headers["Location"], allow_redirects=False, timeout=10)
    callback = back.headers["Location"]
    query = parse_qs(urlsplit(callback).query)
    forged = session.get(f"{board.url}/login/oidc/callback?code={query['code'][0]}&state=forged",
                         allow_redirects=False, timeout=10)
    assert forged.status_code == 400
    flow_cookie = session.cookies["bridge_board_oidc"]
    signed = session.get(callback, allow_redirects=False, timeout=30)
    assert signed.status_code == 303
    replay = requests.Session()
    replay.cookies.set("bridge_board_oidc", flow_cookie)
    assert replay.get(callback, allow_redirects=False, timeout=30).status_code == 403  # the code was used
    # A callback without the flow cookie (started elsewhere) is refused too.
    assert requests.get(callback, allow_redirects=False, timeout=10).status_code == 400


def test_an_id_token_signed_with_another_key_is_refused(oidc_board):
    from joserfc.jwk import RSAKey

    board, state = oidc_board
    state.signed_in = "erin"
    assert requests.Session().get(f"{board.url}/login/oidc", timeout=30).status_code == 200  # keys fetched
    state.key = RSAKey.generate_key(2048, parameters={"kid": "sandbox-1"})  # same kid, another key
    refused = requests.Session().get(f"{board.url}/login/oidc", timeout=30)
    assert refused.status_code == 403 and "could not be verified" in refused.text


def test_a_non_ascii_state_is_refused_not_a_500(oidc_board):
    # compare_digest raised TypeError on a non-ASCII str.
    board, _ = oidc_board
    session = requests.Session()
    session.get(f"{board.url}/login/oidc", allow_redirects=False, timeout=10)  # the flow cookie
    forged = session.get(f"{board.url}/login/oidc/callback", params={"code": "x", "state": "é"},
                         allow_redirects=False, timeout=10)
    assert forged.status_code == 400 and "state does not match" in forged.text


@pytest.fixture(params=["configured with the slash", "configured without it"])
def slash_board(request, bridge_env, provider, password_hash) -> Iterator[tuple[Board, oidc.OidcState]]:
    """A provider whose issuer identifier ends in "/", as Auth0's (https://TENANT.auth0.com/)."""
    service, state = provider
    state.issuer = f"{service.url}/"
    configured = state.issuer if request.param == "configured with the slash" else service.url
    with _signing_in_with(state, bridge_env, configured, ((MANAGER, "manager"),), password_hash) as board:
        yield board, state


def test_an_issuer_ending_in_a_slash_signs_people_in(slash_board):
    # The board stripped the "/" and then demanded the ID token's `iss` equal the stripped form.
    board, state = slash_board
    state.signed_in = "erin"
    page = requests.Session().get(f"{board.url}/login/oidc", timeout=30)
    assert page.status_code == 200 and f"{MANAGER} (manager)" in page.text
    # Linked subjects are named by the stripped issuer, whichever way it was configured.
    assert board.services.store.users.by_name(MANAGER).oidc_subject == f"{state.issuer.rstrip('/')} u-1001"
    # `iss` is still checked, exactly: the discovery document (cached) says ".../", so a token
    # whose `iss` lacks the slash is not the provider's.
    state.issuer = state.issuer.rstrip("/")
    refused = requests.Session().get(f"{board.url}/login/oidc", timeout=30)
    assert refused.status_code == 403 and "could not be verified" in refused.text
