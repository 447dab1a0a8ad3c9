"""The escalation managers' board: web pages served by `bridge serve` under `/`.

:func:`register` is the one entry point `bridge serve`'s app factory calls; everything the
board needs (blueprints, templates, static files, security headers, the background SLA
standings) is attached there. Modules:

- :mod:`~bridge.board.accounts` — passwords, throttling, sessions, roles (no web);
- :mod:`~bridge.board.auth` — sign-in/out pages, CSRF, the role guard, security headers;
- :mod:`~bridge.board.oidc` — OpenID Connect sign-in through authlib;
- :mod:`~bridge.board.pages` — board, escalation timeline, failures, the Escalate form;
- :mod:`~bridge.board.report` — the SLA report's charts and their CSV;
- :mod:`~bridge.board.admin` — account management;
- :mod:`~bridge.board.listing`, :mod:`~bridge.board.timeline`, :mod:`~bridge.board.standings`
  — the read side;
- :mod:`~bridge.board.times` — the board's one way of showing a time (the ``when`` filter).
"""

from __future__ import annotations

import secrets

from flask import Flask, request

from bridge.board import admin, auth, pages, report
from bridge.board.standings import Standings
from bridge.board.timeline import name_of
from bridge.board.times import left as _left
from bridge.board.times import when as _when

__all__ = ["register"]

_BLUEPRINTS = ("board_auth", "board", "board_report", "board_admin", "board_oidc")


def register(app: Flask, services, *, standings_every: float = 30.0) -> Standings:
    """Attach the board's pages to ``app``; ``services`` is the process's :class:`Services`.

    Returns the background SLA standings pass, which starts with the first board request
    (stop it when the app stops).
    ``BRIDGE_SERVE_SECRET_KEY`` signs the sign-in form's CSRF token; without one, a random
    key per process does (sessions themselves live in the store, not in a signed cookie).
    """
    key = services.config.serve.secret_key
    app.extensions["bridge.board.services"] = services
    app.extensions["bridge.board.secret"] = (key.get_secret_value().encode() if key is not None
                                             else secrets.token_bytes(32))
    standings = Standings(services, every=standings_every)
    app.extensions["bridge.board.standings"] = standings
    for bp in (auth.bp, pages.bp, report.bp, admin.bp):
        app.register_blueprint(bp)
    from bridge.board import oidc

    oidc.register(app, services)

    @app.before_request
    def _board_request():
        if request.blueprint in _BLUEPRINTS:
            standings.start()  # on the first board request: an app nobody looks at computes nothing
            auth.load_user()
            auth.check_csrf()

    @app.after_request
    def _board_headers(response):
        if request.blueprint in _BLUEPRINTS:
            auth.secure_headers(response)
        return response

    app.add_template_filter(_when, "when")
    app.add_template_filter(_left, "left")
    app.add_template_filter(name_of, "write_name")
    return standings

