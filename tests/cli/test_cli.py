"""The command line as scripts use it: exit codes, messages, --json, and no secret leaks."""

from __future__ import annotations

import json
import logging
import os
import queue
import shlex
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
import requests
from click.testing import CliRunner

from bridge.cli import main

CANARY = "canary-9f8e7d6c5b4a-secret"


def run(env: dict[str, str], *args: str):
    runner = CliRunner()
    return runner.invoke(main, list(args), env=env, catch_exceptions=False)


def test_escalate_json_and_status(bridge_env):
    result = run(bridge_env, "escalate", "101", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["created"] is True and data["jira_key"].startswith("SUP-")
    assert data["jira_url"].endswith(f"/browse/{data['jira_key']}")
    assert (data["severity"], data["priority"]) == ("high", "High")

    again = run(bridge_env, "escalate", "101", "--json")
    assert json.loads(again.output)["created"] is False

    status = run(bridge_env, "status", data["jira_key"], "--json")
    assert status.exit_code == 0
    rows = json.loads(status.output)
    assert rows[0]["jira_key"] == data["jira_key"]
    assert [t["ticket"] for t in rows[0]["tickets"]] == ["101"]


def test_dry_run_prints_the_plan(bridge_env, sandbox):
    result = run(bridge_env, "escalate", "101", "--dry-run")
    assert result.exit_code == 0
    assert "dry run" in result.output and "bridge-zendesk-101" in result.output
    assert [e for e in sandbox.jira.knobs.received() if e.method == "POST"] == []


def test_unknown_ticket_exits_2_naming_it(bridge_env):
    result = run(bridge_env, "escalate", "424242")
    assert result.exit_code == 2
    assert "424242" in result.output


def test_jql_syntax_in_a_ticket_id_exits_2(bridge_env):
    result = run(bridge_env, "escalate", '1" OR project = X')
    assert result.exit_code == 2
    assert "ticket id" in result.output


def test_malformed_mapping_exits_2_naming_file_and_key(bridge_env, tmp_path):
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "default.yaml").write_text("severities:\n  high:\n    jira_priority: 7\n    colour: red\n")
    env = {**bridge_env, "BRIDGE_MAPPINGS_DIR": str(mappings)}
    result = run(env, "escalate", "101")
    assert result.exit_code == 2
    assert "default.yaml" in result.output and "severities.high" in result.output


@pytest.mark.parametrize("service,variable", [("JIRA", "BRIDGE_JIRA_TOKEN"), ("Zendesk", "BRIDGE_HELPDESK_TOKEN")])
def test_refused_credentials_exit_3_and_the_secret_leaks_nowhere(bridge_env, tmp_path, caplog, service, variable):
    env = {**bridge_env, variable: CANARY}
    caplog.set_level(logging.DEBUG)
    result = run(env, "escalate", "101")
    assert result.exit_code == 3, result.output
    assert service in result.output
    assert CANARY not in result.output
    assert CANARY not in caplog.text
    store = Path(bridge_env["BRIDGE_STORE_URL"].removeprefix("sqlite:///"))
    if store.exists():
        assert CANARY.encode() not in store.read_bytes()
        con = sqlite3.connect(store)
        dump = "\n".join(con.iterdump())
        assert CANARY not in dump


def test_doctor_passes_against_the_sandbox(bridge_env):
    result = run(bridge_env, "doctor")
    assert result.exit_code == 0, result.output
    assert "FAIL" not in result.output


def test_doctor_reports_a_mapping_that_names_a_missing_priority(bridge_env, tmp_path):
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "default.yaml").write_text("severities:\n  emergency: {jira_priority: Blocker}\n"
                                           "  high: {jira_priority: High}\n  normal: {jira_priority: Medium}\n"
                                           "  low: {jira_priority: Low}\n")
    result = run({**bridge_env, "BRIDGE_MAPPINGS_DIR": str(mappings)}, "doctor")
    assert result.exit_code == 1
    assert "severities.emergency.jira_priority" in result.output and "Blocker" in result.output


def test_doctor_reports_unreachable_services(bridge_env):
    env = {**bridge_env, "BRIDGE_JIRA_URL": "http://127.0.0.1:9", "BRIDGE_HTTP_RETRIES": "0"}
    result = run(env, "doctor")
    assert result.exit_code == 1
    assert "FAIL jira" in result.output and "cannot connect" in result.output


def test_sla_due_command():
    result = CliRunner().invoke(main, ["sla", "due", "--profile", "p1-p4-matrix", "--severity", "p1",
                                       "--tier", "premium", "--opened", "2026-11-23T10:00:00+01:00", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["first_response_due"].startswith("2026-11-23T10:15")


def test_sla_due_rejects_unknown_profile_with_exit_2():
    result = CliRunner().invoke(main, ["sla", "due", "--profile", "nope", "--severity", "p1",
                                       "--opened", "2026-11-23T10:00:00+01:00"])
    assert result.exit_code == 2
    assert "nope" in result.output


def _bridge_cmd() -> list[str]:
    return [sys.executable, "-m", "bridge"]


#: The exports this test uses; `bridge sandbox` prints them (and more) once every emulator listens.
SANDBOX_EXPORTS = {"BRIDGE_JIRA_URL", "BRIDGE_JIRA_USER", "BRIDGE_JIRA_TOKEN", "BRIDGE_HELPDESK_URL",
                   "BRIDGE_HELPDESK_USER", "BRIDGE_HELPDESK_TOKEN", "BRIDGE_SENTRY_URL"}


def _read_exports(proc: subprocess.Popen, stderr_file: Path, wanted: set[str], *, within: float) -> dict[str, str]:
    """The ``export NAME=VALUE`` lines ``proc`` prints, once ``wanted`` are all there.

    A reader thread hands over stdout line by line, so the deadline holds even while no
    line comes. The deadline is generous on purpose: it only bounds a broken start, it
    does not time the start (a loaded CI machine may take many seconds to import).
    """
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)  # end of output: the process closed stdout

    threading.Thread(target=pump, daemon=True).start()
    exports: dict[str, str] = {}
    deadline = time.monotonic() + within
    while not wanted <= exports.keys():
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            pytest.fail(f"bridge sandbox printed no {sorted(wanted - exports.keys())} within {within:.0f} s; "
                        f"stderr: {stderr_file.read_text()[-2000:]}")
        if line is None:
            pytest.fail(f"bridge sandbox stopped (exit {proc.wait(timeout=10)}) before printing "
                        f"{sorted(wanted - exports.keys())}; stderr: {stderr_file.read_text()[-2000:]}")
        name, _, value = line.strip().removeprefix("export ").partition("=")
        exports[name] = shlex.split(value)[0] if value else ""
    return exports


@contextmanager
def _sandbox_command(tmp_path: Path) -> Iterator[tuple[subprocess.Popen, Path]]:
    """``bridge sandbox --port 0`` running, and the file its stderr goes to; on leaving it is
    sent SIGTERM and must exit 0."""
    # stderr goes to a file: a pipe nobody reads would fill with request logs and block the server.
    stderr_file = tmp_path / "sandbox.stderr"
    with open(stderr_file, "w") as stderr:
        proc = subprocess.Popen(_bridge_cmd() + ["sandbox", "--port", "0"], stdout=subprocess.PIPE,
                                stderr=stderr, text=True)
    try:
        yield proc, stderr_file
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0


def test_bridge_sandbox_prints_exports_serves_and_stops_on_sigterm(tmp_path):
    with _sandbox_command(tmp_path) as (proc, stderr_file):
        exports = _read_exports(proc, stderr_file, SANDBOX_EXPORTS, within=120)
        # The printed settings work: the JIRA answers our user, Zendesk serves ticket 101.
        me = requests.get(exports["BRIDGE_JIRA_URL"] + "/rest/api/2/myself",
                          auth=(exports["BRIDGE_JIRA_USER"], exports["BRIDGE_JIRA_TOKEN"]), timeout=30)
        assert me.status_code == 200
        ticket = requests.get(exports["BRIDGE_HELPDESK_URL"] + "/api/v2/tickets/101.json",
                              auth=(exports["BRIDGE_HELPDESK_USER"] + "/token", exports["BRIDGE_HELPDESK_TOKEN"]),
                              timeout=30)
        assert ticket.status_code == 200


def test_killed_between_create_and_store_write_the_next_run_completes_with_one_bug(sandbox, bridge_env):
    """SIGKILL the escalation right after JIRA made the Bug, before the store heard of it."""
    label = "bridge-zendesk-101"
    # Slow JIRA down so the window between the create and the store write is wide: the
    # library reads the issue back after creating it, and that read takes 400 ms here.
    sandbox.jira.knobs.update({"latency_ms": 400})
    env = {**os.environ, **bridge_env}
    proc = subprocess.Popen(_bridge_cmd() + ["escalate", "101"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if any(label in i["fields"].get("labels", []) for i in sandbox.jira_state.all_issues()):
                proc.kill()
                break
            if proc.poll() is not None:
                pytest.fail(f"escalate finished before it could be killed: {proc.communicate()}")
            time.sleep(0.01)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    store = Path(bridge_env["BRIDGE_STORE_URL"].removeprefix("sqlite:///"))
    con = sqlite3.connect(store)
    assert con.execute("select state, jira_issue_id from escalation").fetchall() == [("intent", None)]
    con.close()

    sandbox.jira.knobs.update({"latency_ms": 0})
    result = subprocess.run(_bridge_cmd() + ["escalate", "101", "--json"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    bugs = [i for i in sandbox.jira_state.all_issues() if label in i["fields"].get("labels", [])]
    assert len(bugs) == 1 and data["jira_key"] == bugs[0]["key"]
    bridge = sandbox.zendesk_state.user_by_email("bridge@example.com")
    acks = [c for c in sandbox.zendesk_state.comments(101) if c["public"] and c["author_id"] == bridge["id"]]
    assert len(acks) == 1


def test_demo_tells_the_whole_story():
    result = CliRunner().invoke(main, ["demo"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "created SUP-1" in out and "Task SUP-2" in out
    assert "created=False" in out and "affected customers: 2" in out
    assert "nothing is sent twice): 0 write(s)" in out
    assert "ticket now 'solved'" in out
    assert "sentry.io" not in out.split("8. What the customer")[1].split("9. Agents")[0]
    # The webhook path: a JIRA transition reaches both customers through `bridge serve`.
    assert "both customers are told" in out and "with no `bridge sync`" in out


def test_init_writes_a_starter_that_loads_and_refuses_to_overwrite(tmp_path, bridge_env, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = CliRunner().invoke(main, ["init"], catch_exceptions=False)
    assert first.exit_code == 0, first.output
    assert (tmp_path / "bridge.toml").exists() and (tmp_path / "mappings" / "default.yaml").exists()
    assert list((tmp_path / "mappings" / "profiles").glob("*.yaml"))
    again = CliRunner().invoke(main, ["init"])
    assert again.exit_code == 2 and "bridge.toml" in again.output
    # The starter's bridge.toml and mappings/ work as they are (secrets from the environment).
    doctor = run({**bridge_env, "BRIDGE_MAPPINGS_DIR": str(tmp_path / "mappings")},
                 "--config", str(tmp_path / "bridge.toml"), "doctor")
    assert doctor.exit_code == 0, doctor.output
