"""The README's hand-made webhook setup works as written: the Freshdesk rule's body and the
Zendesk trigger body (both ``"event": "updated"``, for one rule covering ticket created and
ticket updated) escalate a new ``[Emergency]`` ticket through `bridge serve`, and leave an
old ticket carrying that subject alone. The bodies are read from README.md itself, so the
README cannot drift from what the bridge does with them."""

from __future__ import annotations

import json
import os
import re
from datetime import timedelta
from pathlib import Path

import pytest

from bridge.config import load_config
from bridge.service.routing import NEW_TICKET_WINDOW
from bridge.services import Services
from tests.conftest import ACTOR
from tests.fixtures.serve import SECRETS, inbox_settled, post_freshdesk, post_zendesk, serving, wait_until

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_body(pattern: str, ticket_id: int, updated_at: str) -> dict:
    """The README's body matching ``pattern`` in its webhook section, rendered as the vendor
    renders its placeholders."""
    section = README.read_text().split("## Webhooks and the Escalate button", 1)[1].split("\n## ", 1)[0]
    found = re.search(pattern, section)
    assert found, f"README's webhook section no longer holds {pattern!r}"
    text = found.group(1).replace("{{ticket.id}}", str(ticket_id)).replace("{{ticket.updated_at}}", updated_at)
    return json.loads(text)


def freshdesk_body(ticket: dict) -> dict:
    return readme_body(r'`(\{"freshdesk_webhook": .*?\}\})`', ticket["id"], ticket["updated_at"])


def zendesk_body(ticket: dict) -> dict:
    return readme_body(r'```json\n\s*(\{"ticket_id": "\{\{ticket\.id\}\}", "event": "updated"\})', ticket["id"], "")


def test_the_readme_bodies_are_the_updated_ones_this_pins():
    assert freshdesk_body({"id": 7, "updated_at": "2026-01-01T00:00:00Z"})["freshdesk_webhook"]["event"] == "updated"
    assert zendesk_body({"id": 7}) == {"ticket_id": "7", "event": "updated"}


def _services(sandbox, tmp_path, helpdesk: str) -> Services:
    env = {**sandbox.env(helpdesk=helpdesk), **SECRETS, "BRIDGE_STORE_URL": f"sqlite:///{tmp_path / 'b.db'}",
           "BRIDGE_BRIDGE_ACTOR": ACTOR, "PATH": os.environ.get("PATH", "")}
    return Services(load_config(None, env=env))


def _pages(sandbox) -> int:
    return len(sandbox.pager.knobs.received("POST", "/v2/enqueue"))


def _deliver_and_check(sandbox, services, post, kind: str, ticket_id, escalates: bool) -> None:
    """``post(url)`` the README's body to `bridge serve`, let it settle, and check the
    ticket was escalated as an emergency with one page (``escalates``) or not at all."""
    with serving(services) as running:
        assert post(running.url).status_code == 202
        wait_until(lambda: inbox_settled(services.store), timeout=60)
    escalation = services.store.escalations.by_ticket(kind, str(ticket_id))
    if escalates:
        assert (escalation.severity, escalation.pages_sent) == ("emergency", 1) and _pages(sandbox) == 1
    else:
        assert escalation is None and _pages(sandbox) == 0


@pytest.mark.parametrize("age,escalates", [(timedelta(0), True), (NEW_TICKET_WINDOW + timedelta(hours=1), False)])
def test_the_readme_freshdesk_rule_escalates_a_new_emergency_ticket_only(sandbox, tmp_path, age, escalates):
    services = _services(sandbox, tmp_path, "freshdesk")
    state = sandbox.freshdesk_state
    ticket = state.create_ticket({"subject": "[Emergency] Payments failing for all users", "description": "down",
                                  "status": 2, "priority": 4, "requester_id": next(iter(state.contacts))},
                                 at=state.now() - age)
    _deliver_and_check(sandbox, services, lambda url: post_freshdesk(url, freshdesk_body(ticket)),
                       "freshdesk", ticket["id"], escalates)


@pytest.mark.parametrize("age,escalates", [(timedelta(0), True), (NEW_TICKET_WINDOW + timedelta(hours=1), False)])
def test_the_readme_zendesk_trigger_body_escalates_a_new_emergency_ticket_only(sandbox, tmp_path, age, escalates):
    services = _services(sandbox, tmp_path, "zendesk")
    state = sandbox.zendesk_state
    requester = next(u["id"] for u in state.users.values() if u["role"] == "end-user")
    ticket, _ = state.create_ticket({"subject": "[Emergency] Checkout down", "comment": {"body": "down"}},
                                    requester, at=state.now() - age)
    _deliver_and_check(sandbox, services, lambda url: post_zendesk(url, zendesk_body(ticket)),
                       "zendesk", ticket["id"], escalates)
