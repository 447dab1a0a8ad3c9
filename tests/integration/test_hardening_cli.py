"""F5 and F9 at the command line: every error is one line with exit 2 or 3, never a
traceback; what the bridge writes is private; status and dry runs create nothing.

Commands run in-process through click's runner with ``catch_exceptions=False``, so a
traceback fails the test instead of being swallowed.
"""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from bridge.cli import main
from tests.cli.test_dry_run import store_fingerprint
from tests.integration.test_hardening_answers import HTML, CannedServer


def run(env: dict[str, str], *args: str, cwd: Path | None = None):
    runner = CliRunner()
    if cwd is None:
        return runner.invoke(main, list(args), env=env, catch_exceptions=False)
    previous = os.getcwd()
    os.chdir(cwd)
    try:
        return runner.invoke(main, list(args), env=env, catch_exceptions=False)
    finally:
        os.chdir(previous)


def one_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    return lines[0]


# --------------------------------------------------------------------------- F5 --
def test_non_utf8_configuration_file(tmp_path):
    config = tmp_path / "bridge.toml"
    config.write_bytes(b'[jira]\nurl = "http://\xff\xfe.example"\n')
    result = run({}, "--config", str(config), "status")
    assert result.exit_code == 2
    assert "not UTF-8" in one_line(result) and "bridge.toml" in result.stderr


def test_non_utf8_secrets_file(tmp_path):
    secrets = tmp_path / "bridge.env"
    secrets.write_bytes(b"BRIDGE_JIRA_TOKEN=s3cr\xe9t-\xff\n")
    secrets.chmod(0o600)
    result = run({"BRIDGE_SECRETS_FILE": str(secrets)}, "status")
    assert result.exit_code == 2
    line = one_line(result)
    assert "not UTF-8" in line and "s3cr" not in line


def test_malformed_monitor_dsn_warns_once_and_the_command_runs(bridge_env):
    env = {**bridge_env, "BRIDGE_MONITOR_DSN": "not a dsn at all"}
    result = run(env, "sla", "due", "--profile", "emergency-to-low", "--severity", "high",
                 "--opened", "2026-11-23T09:00:00+01:00")
    assert result.exit_code == 0, result.output
    assert result.stderr.count("BRIDGE_MONITOR_DSN") == 1 and "not a dsn" not in result.stderr


def test_doctor_names_the_malformed_dsn(bridge_env):
    result = run({**bridge_env, "BRIDGE_MONITOR_DSN": "https://nokey.example/1"}, "doctor")
    assert result.exit_code == 2
    assert "FAIL monitoring: BRIDGE_MONITOR_DSN is not a Sentry DSN" in result.output


@pytest.mark.parametrize("ticket", ["²", "١٢", "12\u00b3"])
def test_unicode_digits_are_not_a_ticket_id(bridge_env, ticket):
    result = run(bridge_env, "escalate", ticket)
    assert result.exit_code == 2
    assert "is not a Zendesk ticket id" in one_line(result)


def test_a_huge_ticket_id_is_cut_in_the_message(bridge_env):
    result = run(bridge_env, "escalate", "9" * 10_000)
    assert result.exit_code == 2
    line = one_line(result)
    assert len(line) < 300 and "10000 characters" in line


def test_sla_due_far_in_the_future(bridge_env):
    result = run(bridge_env, "sla", "due", "--profile", "emergency-to-low", "--severity", "high",
                 "--opened", "9999-12-31T23:59:59+00:00")
    assert result.exit_code == 2
    assert "--opened" in one_line(result)


@pytest.mark.parametrize("body", [HTML, b"[]", b"null", b"", b"{not json"])
def test_a_helpdesk_answering_something_else_exits_3(bridge_env, body):
    with CannedServer(content_type="text/html" if body == HTML else "application/json", body=body) as helpdesk:
        result = run({**bridge_env, "BRIDGE_HELPDESK_URL": helpdesk.url}, "escalate", "101")
    assert result.exit_code == 3
    assert "Zendesk answered something that is not its API's JSON" in one_line(result)


# --------------------------------------------------------------------------- F9 --
def test_doctor_renders_every_template_and_names_those_that_fail(bridge_env, tmp_path):
    mappings = tmp_path / "mappings"
    assert run({}, "init", cwd=tmp_path).exit_code == 0
    templates = mappings / "templates" / "en"
    (templates / "in_qa.txt.j2").write_text("We are verifying. {{ jira_comment }}\n")
    (templates / "reopened.txt.j2").write_text("{% include 'en/missing.txt.j2' %}\n")
    (templates / "released.txt.j2").write_text("{{ subject.__class__.__mro__ }}\n")
    env = {**bridge_env, "BRIDGE_MAPPINGS_DIR": str(mappings)}
    result = run(env, "doctor")
    failed = [line for line in result.output.splitlines() if line.startswith("FAIL templates")]
    assert len(failed) == 3, result.output
    assert any("in_qa.txt.j2" in line and "jira_comment" in line for line in failed)
    assert any("reopened.txt.j2" in line for line in failed)
    assert any("released.txt.j2" in line for line in failed)
    assert result.exit_code == 2


def test_doctor_names_a_jira_answering_html(bridge_env):
    with CannedServer(content_type="text/html", body=HTML) as jira:
        result = run({**bridge_env, "BRIDGE_JIRA_URL": jira.url}, "doctor")
    line = next(line for line in result.output.splitlines() if line.startswith("FAIL jira:"))
    assert "JIRA answered something that is not its API's JSON: text/html" in line
    assert "connection dropped" not in result.output


def test_sandbox_port_out_of_range_exits_2():
    result = run({}, "sandbox", "--port", "99999")
    assert result.exit_code == 2
    assert "--port" in result.output and "Traceback" not in result.output


def test_sandbox_busy_port_exits_2_naming_it():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run({}, "sandbox", "--port", str(port))  # JIRA's port is the taken one
    assert result.exit_code == 2
    assert f"cannot listen on port {port} " in one_line(result)


def test_status_creates_no_store_file_or_directory(tmp_path, bridge_env):
    store = tmp_path / "not" / "there" / "bridge.db"
    result = run({**bridge_env, "BRIDGE_STORE_URL": f"sqlite:///{store}"}, "status")
    assert result.exit_code == 0, result.output
    assert "no escalations yet" in result.output
    assert not (tmp_path / "not").exists()


def test_store_is_private_and_status_leaves_it_untouched(tmp_path, bridge_env):
    store = tmp_path / "state" / "bridge.db"
    env = {**bridge_env, "BRIDGE_STORE_URL": f"sqlite:///{store}"}
    previous = os.umask(0o022)
    try:
        assert run(env, "escalate", "101").exit_code == 0
    finally:
        os.umask(previous)
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.parent.stat().st_mode) == 0o700
    before = store_fingerprint(env)
    result = run(env, "status")
    assert result.exit_code == 0 and "SUP-" in result.output
    assert store_fingerprint(env) == before


def test_init_writes_owner_only_files(tmp_path):
    previous = os.umask(0o022)
    try:
        assert run({}, "init", cwd=tmp_path).exit_code == 0
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "bridge.toml").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "mappings").stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) & 0o077 == 0 for p in (tmp_path / "mappings").rglob("*"))


def test_init_refuses_to_write_through_a_dangling_symlink(tmp_path):
    elsewhere = tmp_path / "elsewhere" / "bridge.toml"
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "bridge.toml").symlink_to(elsewhere)
    for args in (("init",), ("init", "--force")):
        result = run({}, *args, cwd=tmp_path / "project")
        assert result.exit_code == 2
        assert "symbolic link" in one_line(result)
    assert not elsewhere.exists() and not (tmp_path / "project" / "mappings").exists()


def test_an_unexpected_error_is_one_line_without_its_text():
    import click

    from bridge.cli import BridgeGroup

    @click.group(cls=BridgeGroup)
    def group() -> None:
        pass

    @group.command()
    def boom() -> None:
        raise RuntimeError("customer text and a token tok-3f9a1c7e5b2d")

    result = CliRunner().invoke(group, ["boom"], env={"BRIDGE_DEBUG": ""}, catch_exceptions=False)
    assert result.exit_code == 1
    line = one_line(result)
    assert "RuntimeError" in line and "test_hardening_cli.py:" in line
    assert "tok-3f9a1c7e5b2d" not in result.output and "customer text" not in result.output
    with pytest.raises(RuntimeError):
        CliRunner().invoke(group, ["boom"], env={"BRIDGE_DEBUG": "1"}, catch_exceptions=False)
