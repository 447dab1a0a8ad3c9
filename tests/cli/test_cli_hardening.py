"""The command line on hostile or mistaken configuration: exit 2 naming what to fix, one
line, no internal error, no secret shown."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bridge.cli import main

SECRET = "S3cretPW"
SLA_DUE = ("sla", "due", "--severity", "p1", "--tier", "premium", "--opened", "2026-11-23T10:00:00+01:00")


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """No bridge.toml in the working directory, no BRIDGE_* setting but a throw-away store."""
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("BRIDGE_")]:
        monkeypatch.delenv(name)
    return {"BRIDGE_STORE_URL": f"sqlite:///{tmp_path / 'bridge.db'}", "BRIDGE_BRIDGE_ACTOR": "erin@example.com"}


def run(env: dict[str, str], *args: str):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def one_error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "internal error" not in lines[0], output
    return lines[0]


def test_a_raw_at_in_the_store_password_exits_2_and_shows_no_part_of_it(env, tmp_path):
    url = "postgresql+psycopg://bob:Tr0ub4dor@S3cretTail@127.0.0.1:5432/db"
    done = subprocess.run([sys.executable, "-m", "bridge", "status"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, env={**os.environ, **env, "BRIDGE_STORE_URL": url})
    assert done.returncode == 2, done.stderr
    assert "S3cretTail" not in done.stdout + done.stderr and "Tr0ub4dor" not in done.stdout + done.stderr
    assert "%40" in one_error_line(done.stderr)


def test_credentials_in_the_jira_url_exit_2_without_echoing_them(env):
    result = run({**env, "BRIDGE_JIRA_URL": f"http://bob:{SECRET}@127.0.0.1:9"}, "doctor")
    assert result.exit_code == 2
    line = one_error_line(result.output)
    assert "BRIDGE_JIRA_URL" in line and "BRIDGE_JIRA_TOKEN" in line and SECRET not in result.output


def test_credentials_in_the_helpdesk_url_in_bridge_toml_exit_2_without_echoing_them(env, tmp_path):
    (tmp_path / "bridge.toml").write_text(f'[helpdesk]\nurl = "https://bob:{SECRET}@acme.zendesk.com"\n',
                                          encoding="utf-8")
    result = run(env, "status")
    assert result.exit_code == 2
    line = one_error_line(result.output)
    assert "helpdesk.url" in line and "BRIDGE_HELPDESK_TOKEN" in line and SECRET not in result.output


def test_a_list_as_a_key_in_a_profile_exits_2_naming_file_and_line(env, tmp_path):
    (tmp_path / "p.yaml").write_text("name: p\n[a, b]: 1\n", encoding="utf-8")
    result = run(env, *SLA_DUE, "--profile", "./p.yaml")
    assert result.exit_code == 2
    assert "p.yaml: line 2:" in one_error_line(result.output)


@pytest.mark.parametrize("text", ["a: " + "[" * 500 + "]" * 500 + "\n", "a: " + "{b: " * 500 + "1" + "}" * 500 + "\n"],
                         ids=["lists", "mappings"])
def test_a_profile_nested_too_deeply_exits_2(env, tmp_path, text):
    (tmp_path / "p.yaml").write_text(text, encoding="utf-8")
    result = run(env, *SLA_DUE, "--profile", "./p.yaml")
    assert result.exit_code == 2
    assert "nested too deeply" in one_error_line(result.output)


def test_a_bridge_toml_nested_too_deeply_exits_2(env, tmp_path):
    (tmp_path / "bridge.toml").write_text("[jira]\nproject = " + "[" * 2000 + "1" + "]" * 2000 + "\n",
                                          encoding="utf-8")
    result = run(env, "status")
    assert result.exit_code == 2
    assert "bridge.toml: nested too deeply" in one_error_line(result.output)


def test_an_alias_bomb_profile_exits_2_naming_the_aliases(env, tmp_path):
    lines = ["a0: &a0 {k0: x, k1: x, k2: x, k3: x, k4: x, k5: x, k6: x, k7: x, k8: x}"]
    lines += [f"a{i}: &a{i} {{" + ", ".join(f"k{k}: *a{i - 1}" for k in range(9)) + "}" for i in range(1, 10)]
    (tmp_path / "p.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run(env, *SLA_DUE, "--profile", "./p.yaml")
    assert result.exit_code == 2
    assert "aliases" in one_error_line(result.output)


def test_init_where_mappings_is_a_file_exits_2_and_writes_nothing(env, tmp_path):
    (tmp_path / "mappings").write_text("mine\n", encoding="utf-8")
    result = run(env, "init")
    assert result.exit_code == 2
    assert "mappings is not a directory" in one_error_line(result.output)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mappings"]


def test_a_ca_bundle_that_does_not_exist_exits_2_naming_the_setting(env):
    result = run({**env, "BRIDGE_HTTP_CA_BUNDLE": "/nonexistent.pem"}, "status")
    assert result.exit_code == 2
    assert "BRIDGE_HTTP_CA_BUNDLE" in one_error_line(result.output)


def test_doctor_exits_2_when_the_mappings_do_not_fit_the_profile(bridge_env, tmp_path):
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    # `urgent` is no severity of the emergency-to-low profile.
    (mappings / "default.yaml").write_text(
        "severities:\n  emergency: {jira_priority: Highest}\n  high: {jira_priority: High}\n"
        "  normal: {jira_priority: Medium}\n  low: {jira_priority: Low}\n  urgent: {jira_priority: High}\n",
        encoding="utf-8")
    result = run({**bridge_env, "BRIDGE_MAPPINGS_DIR": str(mappings)}, "doctor")
    assert "FAIL mappings vs profile" in result.output and "severities.urgent" in result.output, result.output
    assert result.exit_code == 2, result.output
