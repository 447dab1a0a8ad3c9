"""`bridge doctor` checks a configured Bugsink, and never prints its token."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from bridge.cli import main
from tests.fixtures.bugsink import BugsinkServer, bugsink, bugsink_server  # noqa: F401

pytestmark = pytest.mark.slow


def doctor(env: dict[str, str]):
    return CliRunner().invoke(main, ["doctor"], env=env, catch_exceptions=False)


def test_doctor_checks_bugsink_and_never_prints_the_token(bridge_env, bugsink: BugsinkServer):
    bugsink.new_project("doctor")
    env = {**bridge_env, "BRIDGE_ERRORS_KIND": "bugsink", "BRIDGE_ERRORS_URL": bugsink.url,
           "BRIDGE_ERRORS_TOKEN": bugsink.token}
    ok = doctor(env)
    # The session's server has the projects of every test so far: at least this one.
    assert re.search(rf"^ok\s+bugsink: {re.escape(bugsink.url)}: [1-9]\d* project\(s\): ", ok.output, re.M), ok.output
    assert bugsink.token not in ok.output

    canary = "c0ffee00" * 5
    refused = doctor({**env, "BRIDGE_ERRORS_TOKEN": canary})
    assert refused.exit_code != 0
    assert re.search(r"^FAIL bugsink: Bugsink: .*refused \(401\).*BRIDGE_ERRORS_TOKEN", refused.output, re.M), \
        refused.output
    assert canary not in refused.output
