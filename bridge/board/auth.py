"""Signing in and out of the board, and the checks every board request passes.

- Every board request learns its account from the session cookie (``g.user``, ``g.csrf``).
- :func:`requires` guards a view with a role: not signed in → the sign-in page (or 401 for
  a form post), a role too low → 403.
- Every POST carries ``csrf_token``: the session's own token, or, on the sign-in form
  before there is a session, an HMAC of a random cookie. Missing or foreign → 403.
- Responses carry a Content-Security-Policy without inline script, and cookies are
  ``HttpOnly``, ``SameSite=Lax`` and ``Secure`` whenever the request came over TLS.
- Every sign-in, refusal and sign-out is written to the audit log with who it was.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from functools import wraps
from typing import Any, Callable
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.exceptions import HTTPException

from bridge.board import accounts

SESSION_COOKIE = "bridge_board"
LOGIN_COOKIE = "bridge_board_login"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")

bp = Blueprint("board_auth", __name__, template_folder="templates", static_folder="static",
               static_url_path="/board-static")


def services():
    """The process's :class:`bridge.services.Services`, as ``register`` was given it."""
    return current_app.extensions["bridge.board.services"]


def users():
    """``store.users``."""
    return services().store.users


def audit(action: str, target: str, result: str, detail: str = "") -> None:
    """Record a board action under the signed-in account's name (or ``anonymous``)."""
    actor = g.user.name if getattr(g, "user", None) else "anonymous"
    services().store.audit.record(f"board:{actor}", action, _text(target), result, _text(detail))


def _text(value: str) -> str:
    """``value`` storable as text on PostgreSQL, which refuses NUL: a refused sign-in with a
    NUL in its name (or a provider's error with one) must still be audited, not a 500."""
    return value.replace("\x00", "\ufffd")


# -- every board request -------------------------------------------------------------------

def load_user() -> None:
    """Find the session the cookie names; an unknown or expired one is no session."""
    g.user = g.board_session = None
    g.csrf = None
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        found = users().session_user(accounts.token_hash(token))
        if found is not None:
            g.board_session, g.user = found
            g.csrf = g.board_session.csrf_token


def check_csrf() -> None:
    """Refuse (403) a POST whose ``csrf_token`` is not this session's (or this sign-in form's)."""
    if request.method != "POST":
        return
    sent = request.form.get("csrf_token", "")
    expected = g.csrf if g.user is not None else _login_csrf(request.cookies.get(LOGIN_COOKIE, ""))
    # Bytes: compare_digest refuses a str with non-ASCII characters (a TypeError, a 500).
    if not sent or not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        audit("csrf", request.path, "denied", "form posted without this session's token")
        abort(403, "this form has expired or did not come from this board: reload the page and try again")


def secure_headers(response):
    """Headers on every board response."""
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if response.mimetype == "text/html":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def requires(role: str) -> Callable:
    """Guard a view: only signed-in accounts whose role is at least ``role``."""
    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any):
            if g.user is None:
                if request.method == "GET":
                    return redirect(url_for("board_auth.login", next=request.full_path.rstrip("?")))
                abort(401, "sign in first")
            if not accounts.may(g.user.role, role):
                audit("forbidden", request.path, "denied", f"needs {role}, has {g.user.role}")
                abort(403, f"this needs the {role} role")
            return view(*args, **kwargs)
        return guarded
    return decorate


def _secret() -> bytes:
    return current_app.extensions["bridge.board.secret"]


def _login_csrf(nonce: str) -> str:
    if not nonce:
        return ""
    return hmac.new(_secret(), b"login:" + nonce.encode(), hashlib.sha256).hexdigest()


def set_cookie(response, name: str, value: str, *, max_age: int | None = None) -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="Lax",
                        secure=request.is_secure, path="/")


def _safe_next(target: str | None) -> str:
    """Only a path on this board: never an open redirect to another site."""
    if not target:
        return url_for("board.board")
    parts = urlsplit(target)
    # Browsers read "/\\host" as "//host", and drop tabs and newlines inside URLs.
    if (parts.scheme or parts.netloc or not target.startswith("/") or target[1:2] in ("/", "\\")
            or any(c in target for c in "\\\t\r\n")):
        return url_for("board.board")
    return target


def error_page(exc: HTTPException):
    """Board errors as a page that says what to do (the description), with the board's headers."""
    body = render_template("board/error.html", code=exc.code, name=exc.name, description=exc.description)
    return secure_headers(current_app.make_response((body, exc.code or 500)))


bp.register_error_handler(HTTPException, error_page)


# -- pages -----------------------------------------------------------------------------------

@bp.get("/login")
def login():
    if g.user is not None:
        return redirect(_safe_next(request.args.get("next")))
    return _login_page()


def _login_page(error: str | None = None, status: int = 200):
    nonce = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
    body = render_template("board/login.html", error=error, csrf_token=_login_csrf(nonce),
                           next=request.values.get("next", ""),
                           oidc=current_app.extensions.get("bridge.board.oidc") is not None)
    response = current_app.make_response((body, status))
    set_cookie(response, LOGIN_COOKIE, nonce)
    return response


@bp.post("/login")
def login_post():
    name = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    if not name or not password:
        return _login_page("Enter your user name and password.", 400)
    try:
        if "\x00" in name:
            # No account has a NUL in its name (the admin form refuses one) and PostgreSQL
            # cannot look such a name up: wrong credentials, without asking the store. (A NUL
            # in the password needs nothing: only its hash is compared, and counted if wrong.)
            raise accounts.BadCredentials("a NUL in the name")
        user = accounts.authenticate(users(), name, password)
    except accounts.Throttled as exc:
        audit("sign_in", f"board:user:{name[:80]}", "denied", "throttled")
        return _login_page(f"Too many wrong passwords for this account; {exc}.", 429)
    except accounts.BadCredentials:
        audit("sign_in", f"board:user:{name[:80]}", "denied", "wrong name or password")
        return _login_page("Wrong user name or password.", 401)
    return start_session(user, request.form.get("next"))


def start_session(user, next_target: str | None):
    """Sign ``user`` in (a fresh session: a token from before sign-in is never reused)."""
    signed = accounts.open_session(users(), user)
    g.user = user
    audit("sign_in", f"board:user:{user.name}", "ok")
    response = redirect(_safe_next(next_target), code=303)
    set_cookie(response, SESSION_COOKIE, signed.token, max_age=int(accounts.SESSION_TTL.total_seconds()))
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


@bp.get("/login/link/<token>")
def login_link(token: str):
    """A one-time sign-in link. Only `bridge demo` hands them out (in-process, for its
    throw-away demo account); anywhere else the table is empty and every link is a 404."""
    links = current_app.extensions.get("bridge.board.one_time_links") or {}
    name = links.pop(token, None)
    user = users().by_name(name) if name else None
    if user is None:
        abort(404)
    return start_session(user, url_for("board.board"))


def add_one_time_link(app, name: str) -> str:
    """A sign-in link path for the account ``name``, good once (see :func:`login_link`)."""
    token = secrets.token_urlsafe(32)
    app.extensions.setdefault("bridge.board.one_time_links", {})[token] = name
    return f"/login/link/{token}"


@bp.post("/logout")
@requires("viewer")
def logout():
    users().close_session(g.board_session.token_hash)
    audit("sign_out", f"board:user:{g.user.name}", "ok")
    response = redirect(url_for("board_auth.login"), code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
