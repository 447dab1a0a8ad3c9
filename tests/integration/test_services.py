"""The configuration's [http] settings reach every connector's session."""

from __future__ import annotations

from bridge.config import load_config
from bridge.services import Services


def test_http_timeout_retries_and_backoff_reach_every_session(bridge_env):
    env = {**bridge_env, "BRIDGE_HTTP_TIMEOUT": "7", "BRIDGE_HTTP_RETRIES": "5", "BRIDGE_HTTP_BACKOFF": "0.1"}
    services = Services(load_config(None, env=env))
    sessions = {"helpdesk": services.helpdesk._session, "sentry": services.sentry._session,
                "pager": services.pager._session}
    for name, session in sessions.items():
        retry = session.get_adapter("http://127.0.0.1/").max_retries
        assert (session.timeout, retry.total, retry.backoff_factor) == (7, 5, 0.1), name
