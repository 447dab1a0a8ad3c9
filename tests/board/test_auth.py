"""Who gets into the board, through real HTTP on loopback: sign-in, sessions, CSRF,
throttling, roles and the security headers."""

from __future__ import annotations

import re

import requests
from hypothesis import given
from hypothesis import strategies as st

from bridge.board import accounts
from tests.board.conftest import ADMIN, MANAGER, PASSWORD, VIEWER, csrf_of


def _escalate_post(board, session: requests.Session, token: str | None) -> requests.Response:
    data = {"ticket": "101"}
    if token is not None:
        data["csrf_token"] = token
    return session.post(f"{board.url}/escalations/new/confirm", data=data, allow_redirects=False, timeout=30)


def test_sign_in_sets_a_session_cookie_that_scripts_cannot_read(board):
    session, response = board.sign_in()
    assert response.status_code == 303 and response.headers["Location"] == "/"
    cookie = next(c for c in response.raw.headers.getlist("Set-Cookie") if c.startswith("bridge_board="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # served over plain HTTP here; see the TLS test
    page = session.get(f"{board.url}/", timeout=10)
    assert page.status_code == 200 and f"{MANAGER} (manager)" in page.text
    # Only the token's hash is kept: the cookie's value is nowhere in the store.
    token = session.cookies["bridge_board"]
    assert board.services.store.users.session_user(accounts.token_hash(token)) is not None
    assert board.services.store.users.session_user(token) is None


def test_wrong_password_and_unknown_name_get_the_same_answer(board):
    _, wrong = board.sign_in(password="not the password")
    _, unknown = board.sign_in(name="nobody@example.com")
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong user name or password" in wrong.text and "Wrong user name or password" in unknown.text
    assert "bridge_board=" not in wrong.headers.get("Set-Cookie", "")
    denied = [a for a in board.services.store.audit.entries() if a.action == "sign_in" and a.result == "denied"]
    assert {a.target for a in denied} == {f"board:user:{MANAGER}", "board:user:nobody@example.com"}


def test_nothing_is_reachable_without_signing_in(board):
    anonymous = board.client()
    for path in ("/", "/failures", "/report", "/escalations/new", "/accounts", "/report/open.csv", "/board/version"):
        response = anonymous.get(f"{board.url}{path}", allow_redirects=False, timeout=10)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login"), path
    form = anonymous.get(f"{board.url}/login", timeout=10)
    response = anonymous.post(f"{board.url}/escalations/new/confirm", data={"ticket": "101", "csrf_token": csrf_of(form.text)},
                              allow_redirects=False, timeout=10)
    assert response.status_code == 401
    assert board.services.store.escalations.list() == []


def test_ten_wrong_passwords_in_a_row_throttle_the_account(board):
    codes = [board.sign_in(password=f"wrong {i}")[1].status_code for i in range(accounts.THROTTLE_AFTER)]
    assert codes == [401] * (accounts.THROTTLE_AFTER - 1) + [429]
    _, right = board.sign_in()  # the right password no longer helps, for now
    assert right.status_code == 429 and "Too many wrong passwords" in right.text
    assert "bridge_board=" not in right.headers.get("Set-Cookie", "")
    # Other accounts are not affected.
    assert board.sign_in(VIEWER)[1].status_code == 303


def test_nine_wrong_passwords_then_the_right_one_resets_the_count(board):
    for i in range(accounts.THROTTLE_AFTER - 1):
        assert board.sign_in(password=f"wrong {i}")[1].status_code == 401
    assert board.sign_in()[1].status_code == 303
    assert board.sign_in(password="wrong again")[1].status_code == 401  # a fresh run, not the tenth


def test_a_form_without_its_csrf_token_is_refused(board):
    session = board.signed_in()
    assert _escalate_post(board, session, None).status_code == 403
    assert _escalate_post(board, session, "forged").status_code == 403
    assert board.services.store.escalations.list() == []
    assert any(a.action == "csrf" and a.result == "denied" for a in board.services.store.audit.entries())


def test_another_sessions_csrf_token_is_refused(board):
    mine = board.signed_in()
    theirs = board.signed_in(ADMIN)
    their_token = csrf_of(theirs.get(f"{board.url}/", timeout=10).text)
    assert their_token != csrf_of(mine.get(f"{board.url}/", timeout=10).text)
    assert _escalate_post(board, mine, their_token).status_code == 403
    assert board.services.store.escalations.list() == []


def test_after_sign_out_the_same_cookie_and_token_are_refused(board):
    session = board.signed_in()
    token = csrf_of(session.get(f"{board.url}/", timeout=10).text)
    stolen = requests.Session()
    stolen.cookies.update(session.cookies)
    assert stolen.get(f"{board.url}/", allow_redirects=False, timeout=10).status_code == 200  # the copy works...

    out = session.post(f"{board.url}/logout", data={"csrf_token": token}, allow_redirects=False, timeout=10)
    assert out.status_code == 303

    # ...until its owner signs out: then neither the copy nor a replayed form gets in.
    assert stolen.get(f"{board.url}/", allow_redirects=False, timeout=10).status_code == 302
    # The token died with its session: the form is refused as forged (403) before any role check.
    assert _escalate_post(board, stolen, token).status_code == 403
    assert board.services.store.escalations.list() == []
    actions = [(a.actor, a.action) for a in board.services.store.audit.entries()]
    assert (f"board:{MANAGER}", "sign_out") in actions and (f"board:{MANAGER}", "sign_in") in actions


def test_sign_out_needs_its_csrf_token(board):
    session = board.signed_in()
    assert session.post(f"{board.url}/logout", data={}, allow_redirects=False, timeout=10).status_code == 403
    assert session.get(f"{board.url}/", allow_redirects=False, timeout=10).status_code == 200


def test_a_viewer_reads_but_cannot_escalate(board):
    session = board.signed_in(VIEWER)
    page = session.get(f"{board.url}/", timeout=10)
    assert page.status_code == 200 and 'id="escalate-link"' not in page.text
    token = csrf_of(page.text)
    assert session.get(f"{board.url}/escalations/new", timeout=10).status_code == 403
    assert session.post(f"{board.url}/escalations/new", data={"ticket": "101", "csrf_token": token}, timeout=10).status_code == 403
    assert _escalate_post(board, session, token).status_code == 403
    assert session.post(f"{board.url}/failures/retry", data={"escalation": "all", "csrf_token": token},
                        timeout=10).status_code == 403
    assert board.services.store.escalations.list() == []


def test_only_admins_manage_accounts(board):
    manager = board.signed_in()
    token = csrf_of(manager.get(f"{board.url}/", timeout=10).text)
    assert manager.get(f"{board.url}/accounts", timeout=10).status_code == 403
    assert manager.post(f"{board.url}/accounts", data={"name": "x", "role": "admin", "password": PASSWORD,
                                                      "csrf_token": token}, timeout=10).status_code == 403
    admin = board.signed_in(ADMIN)
    page = admin.get(f"{board.url}/accounts", timeout=10)
    assert page.status_code == 200 and VIEWER in page.text
    added = admin.post(f"{board.url}/accounts", data={"name": "nina@example.com", "role": "viewer",
                                                     "password": PASSWORD, "csrf_token": csrf_of(page.text)},
                       allow_redirects=False, timeout=10)
    assert added.status_code == 303
    assert board.signed_in("nina@example.com").get(f"{board.url}/", timeout=10).status_code == 200
    removed = admin.post(f"{board.url}/accounts/remove", data={"name": VIEWER, "csrf_token": csrf_of(page.text)},
                         allow_redirects=False, timeout=10)
    assert removed.status_code == 303 and board.services.store.users.by_name(VIEWER) is None


def test_removing_an_account_ends_its_sessions(board):
    session = board.signed_in(VIEWER)
    assert board.services.store.users.remove(VIEWER)
    assert session.get(f"{board.url}/", allow_redirects=False, timeout=10).status_code == 302


def test_pages_carry_a_policy_without_inline_script(board):
    session = board.signed_in(ADMIN)
    for path in ("/login", "/", "/failures", "/report", "/escalations/new", "/accounts"):
        response = session.get(f"{board.url}{path}", timeout=10)
        policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert response.headers["X-Frame-Options"] == "DENY"
        # Every script is a file: no inline <script> body and no on*= handler in the markup.
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", response.text), path
        assert not re.search(r"\son[a-z]+\s*=", response.text), path


def test_sign_in_does_not_redirect_to_another_site(board):
    session = board.client()
    form = session.get(f"{board.url}/login", params={"next": "//evil.example/x"}, timeout=10)
    response = session.post(f"{board.url}/login", data={"username": MANAGER, "password": PASSWORD,
                                                        "next": "//evil.example/x", "csrf_token": csrf_of(form.text)},
                            allow_redirects=False, timeout=10)
    assert response.status_code == 303 and response.headers["Location"] == "/"


def test_the_sign_in_form_needs_its_own_csrf_token(board):
    session = board.client()
    session.get(f"{board.url}/login", timeout=10)
    response = session.post(f"{board.url}/login", data={"username": MANAGER, "password": PASSWORD},
                            allow_redirects=False, timeout=10)
    assert response.status_code == 403


@given(st.sampled_from(accounts.ROLES), st.sampled_from(accounts.ROLES))
def test_roles_are_ordered(role, needed):
    assert accounts.may(role, needed) == (accounts.ROLES.index(role) >= accounts.ROLES.index(needed))
    assert not accounts.may("nobody", needed)


def test_over_tls_the_session_cookie_is_secure(services, password_hash, tmp_path):
    import ssl
    import threading

    import trustme
    from werkzeug.serving import make_server

    from tests.board.conftest import board_app

    ca = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    services.store.users.add(MANAGER, "manager", password_hash=password_hash)
    app, standings = board_app(services)
    server = make_server("127.0.0.1", 0, app, threaded=True, ssl_context=context)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        url = f"https://127.0.0.1:{server.server_port}"
        session = requests.Session()
        ca_file = str(tmp_path / "ca.pem")  # per request: requests lets REQUESTS_CA_BUNDLE beat session.verify
        form = session.get(f"{url}/login", timeout=10, verify=ca_file)
        response = session.post(f"{url}/login", data={"username": MANAGER, "password": PASSWORD,
                                                       "csrf_token": csrf_of(form.text)},
                                allow_redirects=False, timeout=30, verify=ca_file)
        cookies = [c for c in response.raw.headers.getlist("Set-Cookie") if c.startswith("bridge_board=")]
        assert response.status_code == 303 and len(cookies) == 1
        assert "; Secure" in cookies[0] and "HttpOnly" in cookies[0] and "SameSite=Lax" in cookies[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        standings.stop()


def test_a_one_time_sign_in_link_works_once(board):
    from bridge.board.auth import add_one_time_link

    path = add_one_time_link(board.app, MANAGER)
    first = board.client()
    response = first.get(f"{board.url}{path}", allow_redirects=False, timeout=30)
    assert response.status_code == 303 and first.get(f"{board.url}/", timeout=10).status_code == 200
    again = board.client().get(f"{board.url}{path}", allow_redirects=False, timeout=10)
    assert again.status_code == 404
    assert board.client().get(f"{board.url}/login/link/guessed", allow_redirects=False, timeout=10).status_code == 404


def test_behind_a_proxy_that_ends_tls_the_cookies_are_secure(sandbox, bridge_env, password_hash):
    """`bridge serve` behind a proxy that ends TLS is asked over plain HTTP, but the browser
    speaks HTTPS: with the proxy trusted (``proxy_hops``), its X-Forwarded-Proto makes the
    cookies Secure, so the browser never sends them over plain HTTP. Without that setting
    the header is anybody's and is not believed."""
    from bridge.config import load_config
    from bridge.escalate_links import escalate_link
    from bridge.services import Services
    from tests.board.conftest import serving_board
    from tests.fixtures.button import on
    from tests.fixtures.serve import SECRETS

    proxied = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    for hops, secure in (("1", True), ("0", False)):
        env = {**bridge_env, **SECRETS, "BRIDGE_SERVE_PROXY_HOPS": hops}
        services = Services(load_config(None, env=env))
        with serving_board(services, ((MANAGER, "manager"),) if secure else (), password_hash) as board:
            assert board.url.startswith("http://")  # plain HTTP, as from the proxy
            form = requests.get(f"{board.url}/login", headers=proxied, timeout=10)
            login_cookies = form.raw.headers.getlist("Set-Cookie")
            assert login_cookies and all(("; Secure" in c) == secure for c in login_cookies)
            page = requests.get(on(board, escalate_link("zendesk", "101", config=services.config)),
                                headers=proxied, timeout=10)
            nonce_cookie = next(c for c in page.raw.headers.getlist("Set-Cookie") if "/escalate/" in c)
            assert page.status_code == 200 and ("; Secure" in nonce_cookie) == secure
            if not secure:
                continue
            # The browser hands the Secure cookie back over its HTTPS; requests, speaking plain
            # HTTP here, would not, so it is passed by hand as the proxy would pass it on.
            response = requests.post(f"{board.url}/login", data={"username": MANAGER, "password": PASSWORD,
                                                                  "csrf_token": csrf_of(form.text)},
                                     headers={**proxied, "Cookie": "; ".join(c.split(";")[0] for c in login_cookies)},
                                     allow_redirects=False, timeout=30)
            session_cookie = next(c for c in response.raw.headers.getlist("Set-Cookie")
                                  if c.startswith("bridge_board="))
            assert response.status_code == 303 and "; Secure" in session_cookie
