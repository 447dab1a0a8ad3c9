"""`--dry-run` is structural: the planner runs, no executor is built, the store is opened
read-only. Every command that takes --dry-run is run against the sandbox with real work to
plan; the emulators' journals must show no write and the store's content must be unchanged.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from jira import JIRA

from bridge.cli import main
from bridge.sandbox.jira import DEMO_LOGINS

READS = ("GET", "HEAD")


def run(env: dict[str, str], *args: str):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def store_fingerprint(env: dict[str, str]) -> dict[str, str]:
    """The store's content: every table's schema and rows as SQLite dumps them, read through
    a read-only connection (committed data in the file or its write-ahead log alike).

    Not the file's bytes: when the last connection of an earlier command (this test
    process's own, collected whenever the garbage collector gets to it) closes, SQLite moves
    the log into the file and deletes it, which changes the bytes and no row."""
    path = Path(env["BRIDGE_STORE_URL"].removeprefix("sqlite:///"))
    connection = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        return {path.name: hashlib.sha256("\n".join(connection.iterdump()).encode()).hexdigest()}
    finally:
        connection.close()


def service_writes(sandbox) -> list[str]:
    """Every request an emulator received that could change something (JIRA's POSTed
    searches are reads)."""
    found = []
    for name in ("jira", "zendesk", "sentry", "pager"):
        service = getattr(sandbox, name, None)
        if service is None:
            continue
        for entry in service.knobs.received():
            if entry.method in READS or (name == "jira" and "search" in entry.path):
                continue
            found.append(f"{name}: {entry.method} {entry.path}")
    return found


def reset_journals(sandbox) -> None:
    for name in ("jira", "zendesk", "sentry", "pager"):
        service = getattr(sandbox, name, None)
        if service is not None:
            service.knobs.reset_counters()


@pytest.fixture
def world(sandbox, bridge_env, tmp_path):
    """An escalated ticket whose Bug was fixed and whose related Sentry issue regressed, a
    Bug nobody escalated, and a developer's transition waiting to be announced."""
    assert run(bridge_env, "escalate", "101").exit_code == 0  # files Task for BACKEND-1A2 too
    sandbox.zendesk_state.export_skips_last_minute = False
    key = json.loads(run(bridge_env, "status", "101", "--json").output)[0]["jira_key"]
    dev = JIRA(server=sandbox.jira.url, basic_auth=DEMO_LOGINS["dev"].basic_auth("cloud"), max_retries=0)
    dev.transition_issue(key, "Done", fields={"resolution": {"name": "Fixed"}})
    sandbox.sentry_state.update_issue(4505, {"status": "resolved"})
    assert run(bridge_env, "sync").exit_code == 0
    sandbox.sentry_state.update_issue(4505, {"status": "unresolved", "substatus": "regressed"})
    customer = sandbox.zendesk_state.ticket(101)["requester_id"]
    sandbox.zendesk_state.update_ticket(101, {"comment": {"body": "Is it fixed?", "public": True}}, customer)
    foreign = dev.create_issue(project="SUP", summary="Found by engineering", issuetype={"name": "Bug"})
    return {"key": key, "foreign": foreign.key}


def with_regression_action(env: dict[str, str], tmp_path: Path, action: str) -> dict[str, str]:
    mappings = tmp_path / f"mappings-{action}"
    mappings.mkdir(exist_ok=True)
    (mappings / "default.yaml").write_text(f"sentry:\n  regression_action: {action}\n")
    return {**env, "BRIDGE_MAPPINGS_DIR": str(mappings)}


@pytest.mark.parametrize("args", [
    ("escalate", "102", "--dry-run"),
    ("escalate", "102", "--dry-run", "--json"),
    ("escalate", "102", "--emergency", "--dry-run"),
    ("escalate", "102", "--sentry", "WEB-3F", "--dry-run"),
    ("escalate", "101", "--emergency", "--dry-run"),
    ("escalate", "101", "--sentry", "WEB-3F", "--dry-run"),
    ("escalate", "104", "--into", "{key}", "--dry-run"),
    ("escalate", "104", "--into", "{foreign}", "--dry-run"),
    ("link-sentry", "WEB-3F", "--ticket", "101", "--dry-run"),
    ("link-sentry", "WEB-3F", "--issue", "{foreign}", "--dry-run", "--json"),
], ids=lambda args: " ".join(args))
def test_a_dry_run_writes_nothing_anywhere(sandbox, bridge_env, world, args):
    args = tuple(a.format(**world) for a in args)
    before = store_fingerprint(bridge_env)
    reset_journals(sandbox)

    result = run(bridge_env, *args)

    assert result.exit_code == 0, result.output
    assert "dry run" in result.output or '"dry_run": true' in result.output
    assert service_writes(sandbox) == []
    assert store_fingerprint(bridge_env) == before


@pytest.mark.parametrize("action", ["comment", "reopen", "alert"])
def test_a_sync_dry_run_plans_but_writes_nothing_whatever_the_regression_action(
        sandbox, bridge_env, world, tmp_path, action):
    env = with_regression_action(bridge_env, tmp_path, action)
    before = store_fingerprint(env)
    reset_journals(sandbox)

    result = run(env, "sync", "--dry-run", "--json")

    assert result.exit_code == 0, result.output
    planned = json.loads(result.output)["actions"]
    assert planned and all(a["result"] == "planned" for a in planned)
    kinds = {a["kind"] for a in planned}
    assert ("ReopenTask" in kinds) == (action == "reopen")  # not vacuous: the reopen was planned
    assert service_writes(sandbox) == []
    assert store_fingerprint(env) == before
    # Defect 3: the Task was not moved (the reopen is an action, applied only for real).
    task_key = json.loads(run(env, "status", "101", "--json").output)[0]["sentry_tasks"][0]["jira_key"]
    assert sandbox.jira_state.issue(task_key)["fields"]["status"]["name"] != "Reopened"


def test_a_dry_run_into_a_foreign_bug_leaves_no_row_and_the_real_one_adopts_it_at_a_real_severity(
        sandbox, bridge_env, world):
    # Defect 1: the dry run recorded the adopted Bug in the store.
    assert run(bridge_env, "escalate", "104", "--into", world["foreign"], "--dry-run").exit_code == 0
    rows = json.loads(run(bridge_env, "status", "--json").output)
    assert rows and world["foreign"] not in [row["jira_key"] for row in rows]

    # Defect 2: adopted with severity "unknown", after which every sync exited 1.
    result = run(bridge_env, "escalate", "104", "--into", world["foreign"], "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["severity"] != "unknown"
    assert run(bridge_env, "sync").exit_code == 0
