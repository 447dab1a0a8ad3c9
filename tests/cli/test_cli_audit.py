"""The command line as a newcomer meets it: values that would name another JIRA resource,
an output pipe closed early, a password prompt without a terminal, the demo's story."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bridge.cli import main

ROOT = Path(__file__).resolve().parents[2]


def run(env: dict[str, str], *args: str, stdin: str | None = None):
    return CliRunner().invoke(main, list(args), env=env, input=stdin, catch_exceptions=False)


@pytest.mark.parametrize("args, what", [
    (("escalate", "101", "--into", "../project/SUP", "--dry-run"), "project"),
    (("escalate", "101", "--into", "SUP-1?expand=changelog"), "expand"),
    (("link-sentry", "BACKEND-1A2", "--issue", "../../2/myself"), "myself"),
], ids=["into-dry-run", "into-query", "link-sentry-issue"])
def test_a_jira_key_that_would_name_another_resource_exits_2_before_jira_is_asked(bridge_env, sandbox, args, what):
    # The key goes into the REST path: `../project/SUP` read the project and planned to
    # adopt it as the Bug; `../../2/myself` read the bridge's own JIRA account.
    result = run(bridge_env, *args)
    assert result.exit_code == 2, result.output
    assert "is not a JIRA issue key" in result.output and "SUP-123" in result.output
    assert [e.path for e in sandbox.jira.knobs.received() if what in e.path + e.query] == []
    assert not any(e.method == "POST" for e in sandbox.jira.knobs.received())


def test_a_jira_key_in_lower_case_or_with_spaces_is_still_read(bridge_env):
    first = run(bridge_env, "escalate", "101", "--json")
    assert first.exit_code == 0, first.output
    result = run(bridge_env, "link-sentry", "BACKEND-1A2", "--issue", " sup-1 ", "--dry-run")
    assert result.exit_code == 0, result.output


def test_an_output_pipe_closed_early_is_no_internal_error(tmp_path):
    # `bridge sandbox | head -3`, `bridge status --json | head -c 100`: the reader is gone
    # before the bridge writes. That is not a bug in bridge, and nothing is reported.
    read_end, write_end = os.pipe()
    os.close(read_end)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    env["PYTHONPATH"] = str(ROOT)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bridge", "sla", "due", "--profile", "emergency-to-low", "--severity", "high",
             "--opened", "2026-12-04T10:00:00+01:00"],
            stdout=write_end, stderr=subprocess.PIPE, cwd=tmp_path, env=env, text=True, timeout=120)
    finally:
        os.close(write_end)
    assert done.returncode == 1
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert "Exception ignored" not in done.stderr, done.stderr


@pytest.mark.parametrize("stdin", ["", "correct-horse-battery\n"], ids=["nothing", "no-confirmation"])
def test_users_add_without_a_terminal_or_password_exits_2_naming_password_stdin(bridge_env, stdin):
    result = run(bridge_env, "users", "add", "max@example.com", "--role", "viewer", stdin=stdin)
    assert result.exit_code == 2, result.output
    assert "--password-stdin" in result.output and "Aborted" not in result.output


def test_the_demo_numbers_each_step_once_and_says_its_board_stopped():
    result = CliRunner().invoke(main, ["demo"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    steps = [line.split(".", 1)[0] for line in result.output.splitlines() if line[:1].isdigit()]
    assert steps == [str(n) for n in range(1, len(steps) + 1)], steps
    assert "ticket #101 (ticket now 'solved')" in result.output
    assert "ticket #104 (ticket now 'solved')" in result.output
    # Not a terminal: the board's link is dead once the demo ends, and the output says so.
    assert "board stopped with the demo" in result.output


def test_json_output_writes_every_time_in_iso_8601(bridge_env):
    """`status --json` wrote the store's times as Python prints them (`2026-12-04
    03:22:56.337070+00:00`) beside ISO times (`...T...`): one form for a script to parse."""
    import json
    import re
    from datetime import datetime

    assert run(bridge_env, "escalate", "101", "--json").exit_code == 0
    result = run(bridge_env, "status", "101", "--json")
    assert result.exit_code == 0, result.output
    times: list[str] = []

    def walk(value) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str) and re.match(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d", value):
            times.append(value)

    walk(json.loads(result.output))
    assert times, result.output
    for value in times:
        assert "T" in value and datetime.fromisoformat(value).tzinfo is not None, value


def test_a_missing_secret_points_a_newcomer_at_the_sandbox(tmp_path):
    env = {"BRIDGE_STORE_URL": f"sqlite:///{tmp_path / 'bridge.db'}"}
    result = CliRunner().invoke(main, ["escalate", "101"], env=env)
    assert result.exit_code == 2
    assert "no secret configured" in result.output and "bridge sandbox" in result.output
