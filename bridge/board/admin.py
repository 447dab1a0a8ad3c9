"""Account management for admins: list, add and remove board accounts."""

from __future__ import annotations

from flask import Blueprint, abort, g, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from bridge.board import accounts
from bridge.board.auth import audit, error_page, requires, users
from bridge.store.users import ROLES, UserExists

bp = Blueprint("board_admin", __name__, template_folder="templates")
bp.register_error_handler(HTTPException, error_page)


@bp.get("/accounts")
@requires("admin")
def users_list():
    return render_template("board/accounts.html", accounts=users().all(), roles=ROLES)


@bp.post("/accounts")
@requires("admin")
def add_user():
    name = request.form.get("name", "").strip()
    role = request.form.get("role", "")
    password = request.form.get("password", "")
    if not name or len(name) > 80 or role not in ROLES:
        abort(400, f"give a name (at most 80 characters) and a role ({', '.join(ROLES)})")
    if "\x00" in name:
        # PostgreSQL cannot store a NUL in text: say so instead of failing in the store.
        abort(400, "the name cannot contain a NUL character")
    if len(password) < accounts.MIN_PASSWORD:
        abort(400, f"the password needs at least {accounts.MIN_PASSWORD} characters")
    try:
        users().add(name, role, password_hash=accounts.hash_password(password))
    except UserExists as exc:
        abort(409, str(exc))
    audit("user_add", f"board:user:{name}", "ok", role)
    return redirect(url_for("board_admin.users_list"), code=303)


@bp.post("/accounts/remove")
@requires("admin")
def remove_user():
    name = request.form.get("name", "")
    if name == g.user.name:
        abort(400, "you cannot remove your own account while signed in with it")
    if "\x00" in name or not users().remove(name):  # (PostgreSQL cannot even look a NUL up)
        abort(404, f"no account {name!r}")
    audit("user_remove", f"board:user:{name}", "ok")
    return redirect(url_for("board_admin.users_list"), code=303)
