"""The JIRA emulator: Jira Cloud or Data Center REST on loopback, for tests, demo and benchmarks.

One instance emulates one deployment (``JiraState(mode="cloud" | "server")``):

* **Cloud** — ``serverInfo.deploymentType = "Cloud"``, users by ``accountId``, REST v2
  (plain-text bodies) and v3 (Atlassian Document Format bodies; a plain string answers 400
  as Cloud does), ``GET/POST /rest/api/{2,3}/search/jql`` paged by ``nextPageToken`` without
  ``total``, and the removed ``/search`` answering 410 (CHANGE-2046).
* **Data Center** — ``deploymentType = "Server"``, users by ``name``/``key``, REST v2 only,
  ``/search`` paged by ``startAt``/``maxResults`` with ``total``; ``search/jql`` is 404.

Authentication as the real services (see :mod:`bridge.sandbox.jira_http`): bad credentials
answer 401, a user without the project permission 403, and an issue the user may not see
404 — all with Jira's ``{"errorMessages": [...], "errors": {...}}`` body.

The unmodified ``jira`` library drives both modes (see ``tests/integration/
test_sandbox_jira.py``). The shared harness (:mod:`bridge.sandbox.server`) adds latency,
rate limits with Jira's headers, faults, counters and the request journal; JIRA-only
settings are under ``PATCH /__sandbox__/jira`` (``{"search_lag_s": 2}``: searches miss
writes younger than that unless their ids are in ``reconcileIssues``).

Where things live: state in ``jira_state`` (with its mixins ``jira_state_issues``,
``jira_state_comments``, ``jira_state_index``) over the records of ``jira_records``; JSON
shapes in ``jira_render``; JQL in ``jql``; routes as Flask blueprints per resource group in
``jira_routes_*`` over the shared request handling of ``jira_http``; outgoing webhooks in
``jira_webhooks`` (registrations, payloads, signing) and ``webhook_delivery`` (retried,
from a background thread, with knobs under ``/__sandbox__/webhooks``). This module assembles
the app and serves it.
"""

from __future__ import annotations

import json

from flask import Flask, request

from bridge.sandbox.jira_catalog import DEMO_LOGINS, DemoLogin
from bridge.sandbox.jira_http import JIRA_VENDOR, json_response, server_vendor
from bridge.sandbox.jira_records import JiraError
from bridge.sandbox.jira_routes_admin import admin_routes
from bridge.sandbox.jira_routes_agile import agile_routes
from bridge.sandbox.jira_routes_issues import issue_routes
from bridge.sandbox.jira_routes_search import search_routes
from bridge.sandbox.jira_routes_site import site_routes
from bridge.sandbox.jira_routes_webhooks import webhook_routes
from bridge.sandbox.jira_routes_work import work_routes
from bridge.sandbox.jira_state import JiraState
from bridge.sandbox.server import ADMIN_PREFIX, Knobs, ServiceThread, install, start_emulator

__all__ = [
    "JiraState", "JiraError", "JIRA_VENDOR", "DEMO_CREDENTIALS", "DEMO_LOGINS", "DemoLogin",
    "create_app", "start",
]

#: The integration user the bridge runs as, flat, for configuration and fixtures:
#: Cloud logs in with ``email`` + ``api_token``; Data Center with ``username`` +
#: ``password`` or ``pat`` (bearer). Every seeded user is in :data:`DEMO_LOGINS`.
DEMO_CREDENTIALS: dict[str, str] = {
    "username": DEMO_LOGINS["bridge"].username,
    "email": DEMO_LOGINS["bridge"].email,
    "password": DEMO_LOGINS["bridge"].password,
    "api_token": DEMO_LOGINS["bridge"].api_token,
    "pat": DEMO_LOGINS["bridge"].pat,
    "account_id": DEMO_LOGINS["bridge"].account_id,
}


def create_app(state: JiraState, knobs: Knobs | None = None) -> Flask:
    """A Flask app serving ``state`` as Jira Cloud or Data Center, with the sandbox harness."""
    app = Flask(f"sandbox-jira-{state.mode}")
    knobs = knobs or Knobs()
    install(app, JIRA_VENDOR if state.mode == "cloud" else server_vendor(knobs), knobs)
    for blueprint in (site_routes(state), issue_routes(state), search_routes(state), webhook_routes(state),
                      admin_routes(state), work_routes(state), agile_routes(state)):
        app.register_blueprint(blueprint)

    # -- JIRA-only sandbox settings ----------------------------------------------------------------
    @app.get(f"{ADMIN_PREFIX}/jira")
    def get_settings():
        return json_response({"search_lag_s": state.search_lag_s, "mode": state.mode})

    @app.patch(f"{ADMIN_PREFIX}/jira")
    def set_settings():
        try:
            values = json.loads(request.get_data() or b"{}")
        except ValueError:
            return json_response({"error": "body must be JSON"}, 400)
        if not isinstance(values, dict) or set(values) - {"search_lag_s"}:
            return json_response({"error": "only search_lag_s can be set"}, 400)
        lag = values.get("search_lag_s", state.search_lag_s)
        if isinstance(lag, bool) or not isinstance(lag, (int, float)) or lag < 0:
            return json_response({"error": "search_lag_s must be a number >= 0"}, 400)
        state.search_lag_s = float(lag)
        return json_response({"search_lag_s": state.search_lag_s, "mode": state.mode})

    return app


def start(mode: str = "cloud", port: int = 0, seed: bool = True) -> tuple[ServiceThread, JiraState]:
    """Start an emulator on 127.0.0.1 (``port=0``: a free port), seeded with the demo world."""
    return start_emulator(JiraState(mode), create_app, port=port, seed=seed)
