"""The escalation managers' board: web pages served by `bridge serve` under `/`.

:func:`register` is the one entry point `bridge serve`'s app factory calls; everything the
board needs (blueprints, templates, static files, security headers) is attached there.
"""

from __future__ import annotations

from flask import Blueprint, Flask, redirect, render_template_string, request, url_for

_LOGIN_FORM = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign in · bridge</title></head>
<body><main><h1>Sign in</h1><form method="post" action="{{ url_for('board.login') }}">
<label>Username <input name="username" autocomplete="username" required></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button></form></main></body></html>"""


def _blueprint() -> Blueprint:
    bp = Blueprint("board", __name__)

    @bp.get("/login")
    def login():
        return render_template_string(_LOGIN_FORM)

    @bp.post("/login")
    def login_post():
        return render_template_string(_LOGIN_FORM), 401

    @bp.get("/")
    def board():
        # Placeholder until the board lands: nobody is signed in yet.
        return redirect(url_for("board.login", next=request.path))

    return bp


def register(app: Flask, services) -> None:
    """Attach the board's pages to ``app``; ``services`` is the process's :class:`Services`."""
    app.extensions["bridge.board.services"] = services
    app.register_blueprint(_blueprint())
