"""Policy 002's Standard hours are the customer's ("lokalna strefa czasowa"): the requester's
time zone as Zendesk reports it (``iana_time_zone``) sets the escalation's clocks, from the
acknowledgement's due times to `bridge sla` and sync's cadence, and is kept with the
escalation. Over real HTTP against the sandbox with a real SQLite store.

The requester is put in Pacific/Auckland: business hours 08:00-17:00 there never overlap
08:00-17:00 in Warsaw (the profile's fallback), so a clock counted in the wrong zone cannot
come out the same by chance.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from click.testing import CliRunner

from bridge.cli import main
from bridge.config import load_config
from bridge.escalation import EscalationRequest
from bridge.mapping import load_profile
from bridge.policy.sla import due
from bridge.services import Services
from tests.conftest import ACTOR
from tests.fixtures.customer_zone import assert_told_in_customer_hours, standard_tier_mappings

ZONE = "Pacific/Auckland"


def standard_tier_env(bridge_env, tmp_path) -> dict[str, str]:
    return {**bridge_env, **standard_tier_mappings(tmp_path)}


def test_the_requesters_zone_sets_the_clocks_of_a_tier_whose_hours_are_the_customers(sandbox, bridge_env,
                                                                                     tmp_path):
    requester = sandbox.zendesk_state.ticket(101)["requester_id"]
    with sandbox.zendesk_state.lock:
        sandbox.zendesk_state.users[requester]["iana_time_zone"] = ZONE
    env = standard_tier_env(bridge_env, tmp_path)
    services = Services(load_config(None, env=env))
    result = services.escalator().escalate(EscalationRequest(ticket="101", actor=ACTOR))

    opened = services.helpdesk.get_ticket("101").created
    theirs = assert_told_in_customer_hours(services, result, opened, ZONE, "zendesk", "101")

    # `bridge sla` counts the escalation's clock in the same zone, and shows it there.
    now = opened.astimezone(timezone.utc)
    answer = CliRunner().invoke(main, ["sla", "--json", "--at", now.isoformat()], env=env)
    assert answer.exit_code == 0, answer.output
    [row] = json.loads(answer.output)
    assert row["customer_zone"] == ZONE
    shown = datetime.fromisoformat(row["first_response_due"])
    assert shown == theirs.first_response_due and shown.utcoffset() == theirs.first_response_due.astimezone(ZoneInfo(ZONE)).utcoffset()


def test_a_zone_the_machine_does_not_know_falls_back_to_the_profiles(sandbox, bridge_env, tmp_path):
    requester = sandbox.zendesk_state.ticket(101)["requester_id"]
    with sandbox.zendesk_state.lock:
        sandbox.zendesk_state.users[requester]["iana_time_zone"] = "Mars/Olympus_Mons"
    services = Services(load_config(None, env=standard_tier_env(bridge_env, tmp_path)))
    result = services.escalator().escalate(EscalationRequest(ticket="101", actor=ACTOR))
    opened = services.helpdesk.get_ticket("101").created
    expected = due(load_profile("p1-p4-matrix"), result.severity, "standard", opened)
    assert result.first_response_due == expected.first_response_due.isoformat(timespec="minutes")
    assert services.store.escalations.by_ticket("zendesk", "101").customer_zone is None
