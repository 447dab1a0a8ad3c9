"""`bridge demo`: the escalation story told on a throw-away sandbox and store.

Starts the emulators on free ports, points a fresh configuration at them with a SQLite
file in a temporary directory, and walks through what an escalation manager does, printing
what JIRA and the customer end up seeing. Nothing outside the temporary directory is
touched.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable

from bridge.escalation import EscalationRequest

DEMO_TICKET = "101"
DEMO_SECOND_TICKET = "104"


def run_demo(echo: Callable[[str], None]) -> None:
    from bridge.config import load_config
    from bridge.sandbox.world import start_sandbox
    from bridge.services import Services

    with tempfile.TemporaryDirectory(prefix="bridge-demo-") as tmp, start_sandbox(0) as world:
        env = dict(world.env())
        env["BRIDGE_STORE_URL"] = f"sqlite:///{Path(tmp) / 'demo.db'}"
        env["BRIDGE_BRIDGE_ACTOR"] = "erin@example.com"
        services = Services(load_config(None, env=env))
        escalator = services.escalator()

        ticket = services.helpdesk.get_ticket(DEMO_TICKET)
        echo(f"1. A customer wrote in: Zendesk ticket #{ticket.id} \"{ticket.subject}\" "
             f"({ticket.organization}, priority {ticket.priority}).")
        echo(f"   The conversation holds {len(ticket.comments)} messages, customer e-mail addresses and phone numbers among them.")

        result = escalator.escalate(EscalationRequest(ticket=DEMO_TICKET, actor=services.actor))
        echo(f"2. Erin (escalation manager) runs `bridge escalate {DEMO_TICKET}`: {result.jira_key} created "
             f"with priority {result.priority} (severity {result.severity}, tier {result.tier}).")
        for step in result.steps:
            echo(f"   - {step}")

        bug = world.jira_state.issue(result.jira_key)
        description = _field_text(bug, "description")
        echo("3. What engineering sees in JIRA (customer data redacted):")
        for line in description.splitlines()[:12]:
            echo(f"   | {line}")

        again = escalator.escalate(EscalationRequest(ticket=DEMO_TICKET, actor=services.actor))
        echo(f"4. Running it again changes nothing: {again.jira_key}, created={again.created}.")

        joined = escalator.escalate(EscalationRequest(ticket=DEMO_SECOND_TICKET, actor=services.actor,
                                                      into=result.jira_key))
        echo(f"5. Another customer reports the same bug (ticket #{DEMO_SECOND_TICKET}): "
             f"`bridge escalate {DEMO_SECOND_TICKET} --into {result.jira_key}` → affected customers: {joined.affected_count}.")

        echo(f"6. What the customer of ticket #{DEMO_TICKET} received:")
        for comment in world.zendesk_state.comments(int(DEMO_TICKET)):
            if comment.get("public") and comment.get("author_id") == _bridge_user_id(world):
                for line in comment["body"].splitlines():
                    echo(f"   > {line}")
        echo("   (plus an internal note for agents with the JIRA key; the customer never sees JIRA or Sentry.)")


def _field_text(issue: dict, name: str) -> str:
    value = (issue.get("fields") or {}).get(name)
    return value if isinstance(value, str) else str(value or "")


def _bridge_user_id(world) -> int | None:
    from bridge.sandbox import zendesk as zendesk_emulator

    email = zendesk_emulator.DEMO_CREDENTIALS["email"]
    for user in world.zendesk_state.users.values():
        if user.get("email") == email:
            return user["id"]
    return None
