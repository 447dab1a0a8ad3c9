"""`bridge sla`, `bridge sla due` and profile errors at the command line, with a real SQLite
store; tiers per organization through a real escalation against the sandbox."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from bridge.cli import main
from bridge.config import load_config
from bridge.escalation import EscalationRequest
from bridge.mapping import load_profile
from bridge.policy.sla import due
from bridge.services import Services
from tests.conftest import ACTOR

PACIFIC = "-07:00"  # 2025-03-12 is after the DST change of 2025-03-09
NOW = datetime.fromisoformat(f"2025-03-12T12:00:00{PACIFIC}")  # a Wednesday


def at(text: str) -> datetime:
    return datetime.fromisoformat(f"{text}{PACIFIC}")


def cli(env: dict[str, str], *args: str):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def store_env(tmp_path) -> dict[str, str]:
    return {"BRIDGE_STORE_URL": f"sqlite:///{tmp_path / 'bridge.db'}", "BRIDGE_BRIDGE_ACTOR": ACTOR}


@pytest.fixture
def store(store_env):
    return Services(load_config(None, env=store_env)).store


def escalated(store, ticket: str, severity: str, opened: datetime, *, acked: datetime | None = None,
              tier: str = "standard", profile: str = "emergency-to-low") -> int:
    """An escalation as `bridge escalate` leaves it, with the acknowledgement sent at ``acked``."""
    row, _ = store.escalations.record_intent(label=f"bridge-zendesk-{ticket}", origin_helpdesk="zendesk",
                                 origin_ticket_id=ticket, severity=severity, priority="High", profile=profile,
                                 escalated_by=ACTOR, opened_at=opened, tier=tier)
    store.escalations.mark_created(row.id, jira_issue_id=f"1{ticket}", jira_key=f"SUP-{ticket}")
    store.escalations.mark_complete(row.id)
    if acked is not None:
        store.outbox.claim(f"ack:zendesk:{ticket}", target=f"zendesk:{ticket}", kind="public_reply",
                           escalation_id=row.id)
        store.outbox.done(f"ack:zendesk:{ticket}", at=acked)
    return row.id


def sla_json(env, when: datetime = NOW) -> list[dict]:
    result = cli(env, "sla", "--at", when.isoformat(), "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_open_escalations_with_their_clocks_breached_and_at_risk_first(store, store_env):
    # Breached: an Emergency (1 hour, around the clock) unanswered for two hours.
    escalated(store, "1", "emergency", at("2025-03-12T10:00:00"))
    # On track: High, acknowledged at once; next update by the close of the next business day.
    escalated(store, "2", "high", at("2025-03-12T09:00:00"), acked=at("2025-03-12T09:30:00"))
    # At risk: Low (2 business days) opened Monday 10:00: 26 of 32 business hours gone.
    escalated(store, "3", "low", at("2025-03-10T10:00:00"))
    # Resolved in JIRA: not open any more.
    resolved = escalated(store, "4", "low", at("2025-03-12T08:00:00"))
    store.escalations.record_issue_seen(resolved, jira_key="SUP-4", status="Done", resolution="Fixed", fix_versions=[],
                            jira_updated=NOW)

    rows = sla_json(store_env)

    assert [(r["jira_key"], r["standing"]) for r in rows] == [
        ("SUP-1", "breached"), ("SUP-3", "at-risk"), ("SUP-2", "on-track")]
    first, at_risk, on_track = rows
    assert first["sla"]["first_response_due"] == "2025-03-12T11:00:00-07:00"
    assert first["sla"]["first_response_breached"] is True
    assert at_risk["first_response_due"] == "2025-03-12T18:00:00-07:00"
    assert at_risk["sla"]["elapsed_share"] == pytest.approx(26 / 32, abs=1e-3)
    assert datetime.fromisoformat(on_track["sla"]["first_response_at"]) == at("2025-03-12T09:30:00")
    assert datetime.fromisoformat(on_track["next_update_due"]) == at("2025-03-13T18:00:00")

    human = cli(store_env, "sla", "--at", NOW.isoformat())
    assert human.exit_code == 0
    lines = human.output.splitlines()
    assert lines[0].split()[:3] == ["JIRA", "TICKETS", "SEVERITY"]
    assert [line.split()[0] for line in lines[1:]] == ["SUP-1", "SUP-3", "SUP-2"]
    assert "breached" in lines[1] and "at-risk" in lines[2]


def test_a_public_update_restarts_the_cadence(store, store_env):
    escalated(store, "5", "emergency", at("2025-03-12T11:00:00"), acked=at("2025-03-12T11:05:00"))
    [row] = sla_json(store_env)
    assert datetime.fromisoformat(row["next_update_due"]) == at("2025-03-12T12:05:00")
    assert row["standing"] == "at-risk"  # 55 of 60 minutes gone

    store.links.record_public_update("zendesk", "5", at=at("2025-03-12T11:50:00"))
    [row] = sla_json(store_env)
    assert datetime.fromisoformat(row["next_update_due"]) == at("2025-03-12T12:50:00")
    assert row["standing"] == "on-track"


def test_the_first_public_agent_reply_before_the_escalation_is_the_first_response(store, store_env):
    escalation = escalated(store, "6", "high", at("2025-03-12T06:00:00"))
    store.outbox.claim("ack:zendesk:6", target="zendesk:6", kind="public_reply", escalation_id=escalation,
                       payload={"first_response_at": at("2025-03-12T07:00:00").isoformat()})
    store.outbox.done("ack:zendesk:6", at=at("2025-03-12T11:00:00"))
    [row] = sla_json(store_env)
    assert datetime.fromisoformat(row["sla"]["first_response_at"]) == at("2025-03-12T07:00:00")
    assert row["sla"]["first_response_breached"] is False  # 4 business hours: due 10:00


def test_waiting_on_the_customer_pauses_the_clock_only_while_every_ticket_waits(store, store_env):
    escalation = escalated(store, "7", "normal", at("2025-03-12T08:00:00"), acked=at("2025-03-12T08:10:00"))
    [row] = sla_json(store_env)
    unpaused_due = datetime.fromisoformat(row["next_update_due"])
    assert unpaused_due == at("2025-03-14T18:00:00")  # 2 business days: close of Friday

    store.links.set_waiting_on_customer("zendesk", "7", at("2025-03-12T09:00:00"))
    [row] = sla_json(store_env)
    assert row["standing"] == "paused" and row["sla"]["paused"] is True
    # Three business hours paused (09:00-12:00) move the due time past the weekend.
    assert datetime.fromisoformat(row["next_update_due"]) == at("2025-03-17T09:00:00")
    assert "waiting on the customer" in cli(store_env, "sla", "--at", NOW.isoformat()).output

    # A second customer on the same Bug does not wait: the clock runs again.
    store.links.add(escalation, "zendesk", "8")
    [row] = sla_json(store_env)
    assert row["sla"]["paused"] is False
    assert datetime.fromisoformat(row["next_update_due"]) == unpaused_due


def test_no_open_escalations(store_env):
    result = cli(store_env, "sla")
    assert result.exit_code == 0 and "no open escalations" in result.output
    assert sla_json(store_env) == []


def test_at_must_carry_an_offset(store_env):
    result = cli(store_env, "sla", "--at", "2025-03-12T12:00:00")
    assert result.exit_code == 2 and "has no UTC offset" in result.output and "Z" in result.output


def test_community_tier_is_best_effort_without_a_clock(store, store_env):
    escalated(store, "9", "p1", at("2025-03-12T08:00:00"), tier="community", profile="p1-p4-matrix")
    escalated(store, "10", "p1", at("2025-03-12T11:50:00"), tier="premium", profile="p1-p4-matrix")
    rows = sla_json({**store_env, "BRIDGE_POLICY_PROFILE": "p1-p4-matrix"})
    assert [(r["jira_key"], r["standing"]) for r in rows] == [("SUP-10", "on-track"), ("SUP-9", "best-effort")]
    best = rows[1]
    assert best["sla"]["best_effort"] is True and best["next_update_due"] is None
    human = cli({**store_env, "BRIDGE_POLICY_PROFILE": "p1-p4-matrix"}, "sla", "--at", NOW.isoformat()).output
    assert "no SLA clock" in human


def test_a_row_the_profile_cannot_clock_is_reported_not_fatal(store, store_env):
    escalated(store, "11", "unknown", at("2025-03-12T08:00:00"))  # adopted with --into
    escalated(store, "12", "high", at("2025-03-12T11:00:00"))
    rows = sla_json(store_env)
    assert [(r["jira_key"], r["standing"]) for r in rows] == [("SUP-12", "on-track"), ("SUP-11", "error")]
    assert "unknown" in rows[1]["error"]


# -- bridge sla due: one per policy document, from the document's own table ---------------------

@pytest.mark.parametrize("profile,severity,tier,opened,first,every,next_due", [
    # 000: Normal, 1 business day / 2 business days, Mon-Fri 06:00-18:00 Pacific.
    ("emergency-to-low", "normal", None, "2025-03-07T17:30:00-08:00",
     "2025-03-10T18:00:00-07:00", "2 business days", "2025-03-11T18:00:00-07:00"),
    # 001: a critical issue after hours: triaged within 15 minutes, status within 1 hour.
    ("after-hours-critical", "critical", None, "2025-03-12T23:00:00-04:00",
     "2025-03-12T23:15:00-04:00", "PT1H", "2025-03-13T00:00:00-04:00"),
    # 002: P1 Premium, 15 minutes around the clock.
    ("p1-p4-matrix", "p1", "premium", "2025-03-08T03:00:00+01:00",
     "2025-03-08T03:15:00+01:00", None, None),
    # 003: Severity 1 Standard, 4 hours, 9-5 Mountain time weekdays.
    ("severity-1-3", "severity-1", "standard", "2025-03-12T15:00:00-06:00",
     "2025-03-13T11:00:00-06:00", None, None),
])
def test_sla_due_per_policy_document(store_env, profile, severity, tier, opened, first, every, next_due):
    args = ["sla", "due", "--profile", profile, "--severity", severity, "--opened", opened, "--json"]
    if tier:
        args += ["--tier", tier]
    result = cli(store_env, *args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["first_response_due"] == first
    assert report["status_update_every"] == every
    assert report["next_update_due"] == next_due


@pytest.mark.parametrize("args,needle", [
    (["--profile", "no-such-profile", "--severity", "high", "--opened", "2025-03-12T09:00:00Z"], "no-such-profile"),
    (["--profile", "emergency-to-low", "--severity", "p1", "--opened", "2025-03-12T09:00:00Z"], "p1"),
    (["--profile", "emergency-to-low", "--severity", "high", "--tier", "gold",
      "--opened", "2025-03-12T09:00:00Z"], "gold"),
    (["--profile", "emergency-to-low", "--severity", "high", "--opened", "2025-03-12T09:00:00"], "offset"),
    (["--profile", "emergency-to-low", "--severity", "high", "--opened", "yesterday"], "yesterday"),
])
def test_sla_due_errors_exit_2_naming_the_problem(store_env, args, needle):
    result = cli(store_env, "sla", "due", *args)
    assert result.exit_code == 2
    assert needle in result.output


def test_sla_due_finds_a_teams_own_profile(store_env, tmp_path):
    profiles = tmp_path / "mappings" / "profiles"
    profiles.mkdir(parents=True)
    (profiles / "ours.yaml").write_text("extends: emergency-to-low\n"
                                        "tiers:\n  standard:\n    targets:\n"
                                        "      high: {first_response: 2bh, status_update: 1bd}\n")
    env = {**store_env, "BRIDGE_MAPPINGS_DIR": str(tmp_path / "mappings")}
    result = cli(env, "sla", "due", "--profile", "ours", "--severity", "high",
                 "--opened", "2025-03-12T09:00:00-07:00", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["first_response_due"] == "2025-03-12T11:00:00-07:00"


# -- a malformed profile stops escalate, sla and doctor with exit 2, naming file and key ----------

BROKEN = {
    "unknown time zone": ("extends: emergency-to-low\ntiers:\n  standard:\n    hours:\n"
                          "      timezone: Mars/Olympus_Mons\n", "tiers.standard.hours.timezone"),
    "negative target": ("extends: emergency-to-low\ntiers:\n  standard:\n    targets:\n"
                        "      high: {first_response: -4bh}\n", "tiers.standard.targets.high.first_response"),
    "severity missing from the matrix": (
        "extends: p1-p4-matrix\nmatrix:\n  cells:\n"
        "    high: {large: p1, medium: p1, small: p3}\n"
        "    medium: {large: p1, medium: p3, small: p4}\n"
        "    low: {large: p3, medium: p4, small: p4}\n", "matrix.cells"),
}


def broken_env(base: dict[str, str], tmp_path: Path, case: str) -> tuple[dict[str, str], Path]:
    text, _ = BROKEN[case]
    mappings = tmp_path / "team-mappings"
    (mappings / "profiles").mkdir(parents=True)
    mappings.joinpath("default.yaml").write_text("{}\n")
    path = mappings / "profiles" / "team-policy.yaml"
    path.write_text(text)
    return {**base, "BRIDGE_MAPPINGS_DIR": str(mappings), "BRIDGE_POLICY_PROFILE": "team-policy"}, path


@pytest.mark.parametrize("case", sorted(BROKEN))
@pytest.mark.parametrize("command", [["escalate", "101"], ["sla"], ["doctor"]])
def test_a_malformed_profile_exits_2_naming_file_and_key(store_env, tmp_path, case, command):
    env, path = broken_env(store_env, tmp_path, case)
    result = cli(env, *command)
    assert result.exit_code == 2, result.output
    assert str(path) in result.output
    assert BROKEN[case][1] in result.output


# -- tiers per organization drive the clock ------------------------------------------------------

def tier_env(bridge_env, tmp_path, tags: dict[str, str]) -> dict[str, str]:
    mappings = tmp_path / "tier-mappings"
    mappings.mkdir()
    lines = "".join(f"    {tag}: {tier}\n" for tag, tier in tags.items())
    mappings.joinpath("default.yaml").write_text(
        f"profile: p1-p4-matrix\ntiers:\n  default: standard\n  organization_tags:\n{lines}")
    return {**bridge_env, "BRIDGE_MAPPINGS_DIR": str(mappings)}


def test_an_organization_tag_sets_the_tier_and_its_targets(sandbox, bridge_env, tmp_path):
    env = tier_env(bridge_env, tmp_path, {"premium": "premium"})
    services = Services(load_config(None, env=env))
    # Ticket 101 is Acme Corp's, whose Zendesk organization carries the tag `premium`.
    result = services.escalator().escalate(EscalationRequest(ticket="101", actor=ACTOR))

    assert result.tier == "premium"
    opened = services.helpdesk.get_ticket("101").created
    expected = due(load_profile("p1-p4-matrix"), result.severity, "premium", opened)
    # Premium P2: 60 minutes around the clock.
    assert result.severity == "p2"
    assert expected.first_response_due == opened + timedelta(minutes=60)
    assert result.first_response_due == expected.first_response_due.isoformat(timespec="minutes")
    row = services.store.escalations.by_ticket("zendesk", "101")
    assert row.tier == "premium"
    assert sandbox.jira_state.issue(result.jira_key)["fields"]["customfield_10104"] == "premium"

    globex = services.escalator().escalate(EscalationRequest(ticket="104", actor=ACTOR))
    assert globex.tier == "standard"  # Globex's tag `standard` is not mapped: the default


def test_trial_customers_get_premium_targets(sandbox, bridge_env, tmp_path):
    acme = sandbox.zendesk_state.organization_by_name("Acme Corp")
    sandbox.zendesk_state.organizations[acme["id"]]["tags"] = ["trial"]
    env = tier_env(bridge_env, tmp_path, {"trial": "trial"})
    services = Services(load_config(None, env=env))
    result = services.escalator().escalate(EscalationRequest(ticket="101", actor=ACTOR))
    assert result.tier == "trial"
    opened = services.helpdesk.get_ticket("101").created
    assert result.first_response_due == (opened + timedelta(minutes=60)).isoformat(timespec="minutes")


def test_community_customers_escalate_with_no_clock_and_sla_shows_best_effort(sandbox, bridge_env, tmp_path):
    env = tier_env(bridge_env, tmp_path, {"premium": "community"})
    services = Services(load_config(None, env=env))
    result = services.escalator().escalate(EscalationRequest(ticket="101", actor=ACTOR))
    assert result.tier == "community"
    assert result.first_response_due is None and result.next_update_due is None
    [row] = sla_json(env, datetime.now().astimezone())
    assert row["standing"] == "best-effort" and row["tier"] == "community"


def test_status_and_sla_agree_on_the_next_update_due(bridge_env, sandbox):
    from click.testing import CliRunner

    from bridge.cli import main

    emergency = next(t for t in sandbox.zendesk_state.tickets.values() if "[Emergency]" in t["subject"])
    runner = CliRunner()
    assert runner.invoke(main, ["escalate", str(emergency["id"])], env=bridge_env).exit_code == 0
    status = json.loads(runner.invoke(main, ["status", "--json"], env=bridge_env).output)
    sla = json.loads(runner.invoke(main, ["sla", "--json"], env=bridge_env).output)
    assert status[0]["next_update_due"] is not None
    from datetime import datetime
    assert datetime.fromisoformat(status[0]["next_update_due"]) == datetime.fromisoformat(sla[0]["next_update_due"])
