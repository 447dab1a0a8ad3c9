"""Fixtures shared by the whole suite.

The sandbox fixture starts a fresh emulated JIRA, Zendesk and Sentry on free loopback
ports for each test (a few milliseconds), so tests never share service state.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from bridge.config import load_config
from bridge.sandbox.world import start_sandbox
from bridge.services import Services

pytest_plugins = ["tests.fixtures.postgres"]

# No per-example deadline: a property test must fail on a wrong answer, never because the
# machine was busy (CI shares 2 cores between two workers and the emulators' threads).
settings.register_profile("bridge", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("bridge")

# The escalation manager the demo world's Zendesk knows (group "Escalations").
ACTOR = "erin@example.com"


@pytest.fixture
def sandbox():
    """A running, seeded sandbox (JIRA in Cloud mode)."""
    with start_sandbox(0) as world:
        yield world


@pytest.fixture
def bridge_env(sandbox, tmp_path) -> dict[str, str]:
    """Environment pointing the bridge at the sandbox, with a SQLite store in tmp_path."""
    return {
        **sandbox.env(),
        "BRIDGE_STORE_URL": f"sqlite:///{tmp_path / 'bridge.db'}",
        "BRIDGE_BRIDGE_ACTOR": ACTOR,
        "PATH": os.environ.get("PATH", ""),
    }


@pytest.fixture
def services(bridge_env) -> Services:
    """The bridge's collaborators, built from bridge_env exactly as the CLI builds them."""
    return Services(load_config(None, env=bridge_env))
