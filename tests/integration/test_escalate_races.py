"""One escalation ⇒ one Bug, also when two `bridge escalate` race (issue 11 F2, F3).

Real processes (`python -m bridge`) against the sandbox over loopback, JIRA's search
lagging 2 s behind writes so a label search cannot see a Bug created a moment ago:

* on one store (SQLite and PostgreSQL) the store's claim lets one process create the Bug;
  the other waits for it and uses it;
* on two separate stores (two operators), the younger Bug is closed as a duplicate of the
  older, and the ticket gets one note and one acknowledgement.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def start(env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bridge", *args], env={**os.environ, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=120)
    return process.returncode, out, err


def bugs_for(sandbox, label: str) -> list[dict]:
    return [i for i in sandbox.jira_state.all_issues() if label in i["fields"].get("labels", [])]


def bridge_comments(sandbox, ticket: int) -> list[dict]:
    bridge = sandbox.zendesk_state.user_by_email("bridge@example.com")
    return [c for c in sandbox.zendesk_state.comments(ticket) if c["author_id"] == bridge["id"]]


def race(envs: list[dict[str, str]]) -> list[tuple[int, str, str]]:
    processes = [start(env, "escalate", "101", "--json") for env in envs]
    return [finish(p) for p in processes]


def test_two_escalations_on_one_store_make_one_bug(sandbox, bridge_env, store_url):
    env = {**bridge_env, "BRIDGE_STORE_URL": store_url}
    assert finish(start(env, "db", "upgrade"))[0] == 0
    sandbox.jira_state.search_lag_s = 2

    results = race([env, env])

    for code, out, err in results:
        assert "Traceback" not in err, err
        assert code == 0, (out, err)
    keys = {json.loads(out)["jira_key"] for _, out, _ in results}
    assert len(keys) == 1
    assert len(bugs_for(sandbox, "bridge-zendesk-101")) == 1
    comments = bridge_comments(sandbox, 101)
    assert len([c for c in comments if c["public"]]) == 1 and len([c for c in comments if not c["public"]]) == 1


def test_two_operators_with_separate_stores_end_with_one_open_bug(sandbox, bridge_env, tmp_path):
    other = {**bridge_env, "BRIDGE_STORE_URL": f"sqlite:///{tmp_path / 'other.db'}"}
    sandbox.jira_state.search_lag_s = 2

    results = race([bridge_env, other])

    for code, out, err in results:
        assert "Traceback" not in err, err
        assert code == 0, (out, err)
    bugs = bugs_for(sandbox, "bridge-zendesk-101")
    open_bugs = [b for b in bugs if b["fields"]["status"]["statusCategory"]["key"] != "done"]
    assert len(open_bugs) == 1
    # Both operators were told the same Bug: the one still open.
    assert {json.loads(out)["jira_key"] for _, out, _ in results} == {open_bugs[0]["key"]}
    for closed in (b for b in bugs if b is not open_bugs[0]):
        assert (closed["fields"].get("resolution") or {}).get("name") == "Duplicate"
    comments = bridge_comments(sandbox, 101)
    assert len([c for c in comments if c["public"]]) == 1
    assert len([c for c in comments if not c["public"]]) == 1


def test_two_link_sentry_runs_at_once_end_with_one_open_task(sandbox, bridge_env):
    """The Task for an error-tracker issue is settled like a Bug: the younger of two made at
    once (search lagging) is closed as a duplicate of the older (issue 11's fault matrix)."""
    assert finish(start(bridge_env, "escalate", "101"))[0] == 0
    sandbox.jira_state.search_lag_s = 2

    results = [finish(p) for p in [start(bridge_env, "link-sentry", "WEB-3F", "--ticket", "101", "--json")
                                   for _ in range(2)]]

    for code, out, err in results:
        assert "Traceback" not in err, err
        assert code == 0, (out, err)
    tasks = bugs_for(sandbox, "bridge-sentry-4502")
    open_tasks = [t for t in tasks if t["fields"]["status"]["statusCategory"]["key"] != "done"]
    assert len(open_tasks) == 1
    assert {json.loads(out)["task_key"] for _, out, _ in results} == {open_tasks[0]["key"]}
