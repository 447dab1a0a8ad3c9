"""What one `bridge escalate` and the syncs around it cost in requests (issue 15's
"requests at the physical minimum"), counted by the sandbox emulators' journals.

Each step runs as a new process would (new :class:`~bridge.services.Services`, one SQLite
store shared by all steps): a first escalate on a cold store, the first sync, a quiet sync,
the escalate of a fresh ticket (normal priority, no error-tracker reference), and the sync
after it, which should read nothing of that ticket. Prints each figure beside issue 15's
target; ``--routes`` also lists every request. Prints, never asserts.

    python bench/escalate_requests.py [--routes]
"""

from __future__ import annotations

import argparse
import os
import tempfile

from bridge.config import load_config
from bridge.escalation import EscalationRequest
from bridge.sandbox.world import start_sandbox
from bridge.services import Services

ACTOR = "erin@example.com"
SERVICES = ("jira", "zendesk", "sentry")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--routes", action="store_true", help="list every request of every step")
    args = parser.parse_args()
    with start_sandbox(0) as world, tempfile.TemporaryDirectory() as tmp:
        world.zendesk_state.export_skips_last_minute = False  # the sync sees the escalation's writes
        env = {**world.env(), "BRIDGE_STORE_URL": f"sqlite:///{tmp}/bridge.db", "BRIDGE_BRIDGE_ACTOR": ACTOR,
               "PATH": os.environ.get("PATH", "")}
        state = world.zendesk_state
        alice = state.user_by_email("alice.adams@acme.example")

        def new_ticket(subject: str) -> str:
            ticket, _ = state.create_ticket(
                {"subject": subject, "requester_id": alice["id"], "priority": "normal",
                 "comment": {"body": "The weekly report shows an empty chart.", "public": True}}, alice["id"])
            return str(ticket["id"])

        def step(label: str, target: str, run, ticket: str | None = None) -> None:
            for name in SERVICES:
                getattr(world, name).knobs.reset_counters()
            run(Services(load_config(None, env=env)))
            entries = {name: getattr(world, name).knobs.received() for name in SERVICES}
            total = sum(len(e) for e in entries.values())
            split = ", ".join(f"{name} {len(e)}" for name, e in entries.items())
            extra = ""
            if ticket is not None:
                reads = [e for e in entries["zendesk"] if f"/tickets/{ticket}" in e.path or ticket in e.query]
                extra = f"; requests naming ticket {ticket}: {len(reads)}"
            print(f"{label:<46} {total:>3} requests ({split}){extra}   target: {target}")
            if args.routes:
                for name, listed in entries.items():
                    for e in listed:
                        print(f"      {name:<8} {e.method} {e.path}")

        def escalate(ticket: str):
            return lambda services: services.escalator().escalate(EscalationRequest(ticket=ticket, actor=ACTOR))

        def sync(services) -> None:
            services.sync_engine().run()

        step("escalate, cold store (caches empty)", "-", escalate(new_ticket("First ticket")))
        step("first sync", "-", sync)
        step("quiet sync", "<= 3", sync)
        fresh = new_ticket("A fresh ticket")
        step("escalate of a fresh ticket", "<= 8", escalate(fresh))
        step("sync after it", "no read of the ticket", sync, ticket=fresh)


if __name__ == "__main__":
    main()
