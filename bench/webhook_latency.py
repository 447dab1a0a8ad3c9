"""Time from a JIRA transition to the customer's message: webhooks through `bridge serve`,
beside `bridge sync` every 60 s (issue 12's benchmark). Prints numbers; asserts nothing.

The sandbox runs in this process with 50 ms added to every JIRA and Zendesk call during the
measurement (none while the escalations are set up). `bridge serve` runs in this process too
(cheroot on loopback, inbox workers), registered at the JIRA emulator through its webhook
API exactly as `bridge sandbox --webhooks-to` does, so the emulator's own signed webhooks
drive it. A "change" is one developer transition (To Do → In Progress, In Progress → In QA,
In QA → In Progress) sent over HTTP; its latency is the time until the bridge's public reply
announcing that state is on the Zendesk ticket. Each escalation is changed at most once per
``--spacing`` seconds, so while the latency stays below that no change is folded into the next.

For each rate (default 1, 10 and 50 changes/s for ``--seconds`` each): p50 / p95 / p99,
changes superseded (a later change of the same Bug was announced first: the customer hears
the current state), changes folded (the Bug was back in the state the customer had last
been told before the bridge read it: nothing new to say), changes not announced within
``--drain`` seconds after the last one (late; the inbox keeps them, so late is not lost),
tickets whose last announcement is not
their Bug's last state (lost news) and replies beyond one per change (duplicates). When the
latency exceeds ``--spacing`` the core rightly tells only the current state, and a reply is
matched to the earliest change waiting, so per-change numbers are then approximate. Then the same
at 10 changes/s with no webhook and a `bridge sync` run every 60 s.

    python bench/webhook_latency.py [--rates 1,10,50] [--seconds 10] [--escalations 160]
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bridge.config import load_config  # noqa: E402
from bridge.escalation import EscalationRequest  # noqa: E402
from bridge.sandbox.jira import DEMO_LOGINS  # noqa: E402
from bridge.sandbox.world import start_sandbox  # noqa: E402
from bridge.service.registration import register_sandbox  # noqa: E402
from bridge.service.server import Serving  # noqa: E402
from bridge.services import Services  # noqa: E402

ACTOR = "erin@example.com"
BRIDGE_EMAIL = "bridge@example.com"
#: Transition id and the words of the announcement, by target state.
STATES = {"In Progress": ("21", "working on a fix"), "In QA": ("31", "quality assurance")}


@dataclass
class Change:
    ticket: int
    key: str
    state: str
    at: float
    told_at: float | None = None


@dataclass
class Watch:
    """Polls the Zendesk emulator's memory for the bridge's replies."""

    world: object
    changes: list[Change] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)

    def add(self, change: Change) -> None:
        with self.lock:
            self.changes.append(change)

    def run(self) -> None:
        state = self.world.zendesk_state
        bridge = state.user_by_email(BRIDGE_EMAIL)["id"]
        seen: dict[int, int] = {}
        while not self.stop.wait(0.02):
            now = time.monotonic()
            with self.lock:
                waiting = [c for c in self.changes if c.told_at is None]
            for ticket in {c.ticket for c in waiting}:
                replies = [c["body"] for c in state.comments(ticket) if c["public"] and c["author_id"] == bridge]
                if len(replies) == seen.get(ticket, -1):
                    continue
                fresh = replies[seen.get(ticket, len(replies) - 1):] if ticket in seen else replies[-1:]
                seen[ticket] = len(replies)
                for body in fresh:
                    for change in waiting:
                        if change.ticket == ticket and change.told_at is None and STATES[change.state][1] in body:
                            change.told_at = now
                            break

    def wrong_final_state(self) -> int:
        """Tickets whose last announcement is not the state of their last change: lost news."""
        state = self.world.zendesk_state
        bridge = state.user_by_email(BRIDGE_EMAIL)["id"]
        wrong = 0
        for ticket in {c.ticket for c in self.changes}:
            final = max((c for c in self.changes if c.ticket == ticket), key=lambda c: c.at).state
            said = [name for c in state.comments(ticket) if c["public"] and c["author_id"] == bridge
                    for name, (_, words) in STATES.items() if words in c["body"]]
            wrong += not said or said[-1] != final
        return wrong

    def last_said(self) -> dict[int, str | None]:
        """Per ticket, the state the bridge's last announcement names."""
        state = self.world.zendesk_state
        bridge = state.user_by_email(BRIDGE_EMAIL)["id"]
        said: dict[int, str | None] = {}
        for ticket in {c.ticket for c in self.changes}:
            names = [name for c in state.comments(ticket) if c["public"] and c["author_id"] == bridge
                     for name, (_, words) in STATES.items() if words in c["body"]]
            said[ticket] = names[-1] if names else None
        return said

    def duplicates(self) -> int:
        state = self.world.zendesk_state
        bridge = state.user_by_email(BRIDGE_EMAIL)["id"]
        extra = 0
        for ticket in {c.ticket for c in self.changes}:
            said = sum(1 for c in state.comments(ticket) if c["public"] and c["author_id"] == bridge
                       and any(words in c["body"] for _, words in STATES.values()))
            extra += max(0, said - sum(1 for c in self.changes if c.ticket == ticket))
        return extra


def percentile(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1] if len(values) > 1 else values[0]


def set_latency(world, ms: float) -> None:
    for service in (world.jira, world.zendesk):
        requests.patch(f"{service.url}/__sandbox__/knobs", json={"latency_ms": ms}, timeout=10).raise_for_status()


def escalate_many(world, services, count: int) -> list[tuple[int, str]]:
    zendesk = world.zendesk_state
    customer = zendesk.ticket(101)["requester_id"]
    escalator = services.escalator()
    made = []
    for n in range(count):
        ticket, _ = zendesk.create_ticket({"subject": f"Export {n} fails", "description": "It crashes.",
                                           "requester_id": customer, "priority": "normal"}, customer)
        result = escalator.escalate(EscalationRequest(ticket=str(ticket["id"]), actor=ACTOR))
        made.append((ticket["id"], result.jira_key))
    zendesk.export_skips_last_minute = False
    return made


def drive(world, escalations, watch: Watch, *, rate: float, seconds: float, spacing: float) -> None:
    """Send ``rate`` transitions per second for ``seconds``, each escalation at most once per ``spacing``."""
    auth = DEMO_LOGINS["dev"].basic_auth("cloud")
    session = requests.Session()
    session.auth = auth
    where = {key: "To Do" for _, key in escalations}
    last = {key: -1e9 for _, key in escalations}
    ring = itertools.cycle(escalations)

    def send(ticket: int, key: str, target: str) -> None:
        at = time.monotonic()
        response = session.post(f"{world.jira.url}/rest/api/2/issue/{key}/transitions",
                                json={"transition": {"id": STATES[target][0]}}, timeout=30)
        if response.status_code == 204:
            watch.add(Change(ticket, key, target, at))

    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=32) as pool:
        for n in range(int(rate * seconds)):
            due = start + n / rate
            time.sleep(max(0.0, due - time.monotonic()))
            for ticket, key in ring:
                if time.monotonic() - last[key] >= spacing:
                    break
            else:  # pragma: no cover - more escalations than the rate needs
                continue
            target = "In QA" if where[key] == "In Progress" else "In Progress"
            where[key], last[key] = target, time.monotonic()
            pool.submit(send, ticket, key, target)


def report(label: str, watch: Watch) -> dict:
    """Print one row; return its p95 (None when nothing was told), lost news and duplicates."""
    told = [c.told_at - c.at for c in watch.changes if c.told_at is not None]
    # A change the core never announced because a later one of the same Bug was announced
    # first is superseded (the customer hears the current state), not late.
    superseded = sum(1 for c in watch.changes if c.told_at is None and any(
        d.ticket == c.ticket and d.at > c.at and d.told_at is not None for d in watch.changes))
    # A change never announced although nothing later was either, on a ticket whose last
    # announcement is its Bug's final state: the Bug went back to the state the customer
    # had been told before the bridge read it (In Progress -> In QA -> In Progress), so there
    # was nothing new to say. Folded, not late.
    said = watch.last_said()
    final = {t: max((c for c in watch.changes if c.ticket == t), key=lambda c: c.at).state for t in said}
    untold = [c for c in watch.changes if c.told_at is None and not any(
        d.ticket == c.ticket and d.at > c.at and d.told_at is not None for d in watch.changes)]
    folded = sum(1 for c in untold if said[c.ticket] == final[c.ticket])
    late = len(untold) - folded
    row = {"p95": percentile(told, 95) if told else None, "wrong": watch.wrong_final_state(),
           "duplicates": watch.duplicates()}
    if told:
        print(f"{label:<28} changes {len(watch.changes):>4}  p50 {percentile(told, 50):6.2f} s  "
              f"p95 {percentile(told, 95):6.2f} s  p99 {percentile(told, 99):6.2f} s  "
              f"superseded {superseded}  folded {folded}  not told in time {late}  ending on a wrong state "
              f"{row['wrong']}  duplicates {row['duplicates']}", flush=True)
    else:
        print(f"{label:<28} changes {len(watch.changes):>4}  nothing announced in time", flush=True)
    return row


def wait_told(watch: Watch, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(c.told_at is None for c in watch.changes):
        time.sleep(0.1)


def run_webhooks(args, rate: float) -> dict:
    with start_sandbox(0) as world, tempfile.TemporaryDirectory() as tmp:
        port = _free_port()
        secrets = register_sandbox(world, f"http://127.0.0.1:{port}")
        env = {**world.env(), **secrets, "BRIDGE_STORE_URL": f"sqlite:///{tmp}/bridge.db",
               "BRIDGE_BRIDGE_ACTOR": ACTOR, "PATH": os.environ.get("PATH", "")}
        services = Services(load_config(None, env=env))
        escalations = escalate_many(world, services, args.escalations)
        serving = Serving(services, host="127.0.0.1", port=port, workers=args.workers).start()
        try:
            time.sleep(2)  # the escalations' own webhooks drain before the clock starts
            set_latency(world, args.latency_ms)
            watch = Watch(world)
            poller = threading.Thread(target=watch.run, daemon=True)
            poller.start()
            drive(world, escalations, watch, rate=rate, seconds=args.seconds, spacing=args.spacing)
            wait_told(watch, args.drain)
            watch.stop.set()
            return report(f"webhooks at {rate:g}/s", watch)
        finally:
            serving.stop(grace=5)


def run_sync_every(args, rate: float, every: float) -> None:
    with start_sandbox(0) as world, tempfile.TemporaryDirectory() as tmp:
        env = {**world.env(), "BRIDGE_STORE_URL": f"sqlite:///{tmp}/bridge.db", "BRIDGE_BRIDGE_ACTOR": ACTOR,
               "PATH": os.environ.get("PATH", "")}
        services = Services(load_config(None, env=env))
        escalations = escalate_many(world, services, args.escalations)
        services.sync_engine().run()
        set_latency(world, args.latency_ms)
        watch = Watch(world)
        poller = threading.Thread(target=watch.run, daemon=True)
        poller.start()
        stop = threading.Event()

        def cron() -> None:
            while not stop.wait(every):
                services.sync_engine().run()

        threading.Thread(target=cron, daemon=True).start()
        drive(world, escalations, watch, rate=rate, seconds=args.seconds, spacing=args.spacing)
        wait_told(watch, every + 120)
        stop.set()
        watch.stop.set()
        report(f"bridge sync every {every:g} s, {rate:g}/s", watch)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="1,10,50", help="changes per second, comma-separated")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long each rate runs")
    parser.add_argument("--escalations", type=int, default=160)
    parser.add_argument("--spacing", type=float, default=3.0, help="seconds between changes of one escalation")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="added to every JIRA and Zendesk call")
    parser.add_argument("--workers", type=int, default=2, help="inbox worker threads of bridge serve")
    parser.add_argument("--drain", type=float, default=120.0,
                        help="seconds to wait after the last change for the announcements still due")
    parser.add_argument("--sync-every", type=float, default=60.0, help="the cron baseline's period (0: skip)")
    args = parser.parse_args()
    print(f"{args.latency_ms:g} ms per call, {args.escalations} escalations, {args.seconds:g} s per rate", flush=True)
    rows = {rate: run_webhooks(args, rate) for rate in (float(r) for r in args.rates.split(","))}
    if 10.0 in rows:
        p95 = rows[10.0]["p95"]
        verdict = "PASS" if p95 is not None and p95 <= 2.0 else "FAIL"
        print(f"target: p95 <= 2 s at 10 changes/s: {'-' if p95 is None else f'{p95:.2f} s'}  {verdict}", flush=True)
    if 50.0 in rows:
        row = rows[50.0]
        verdict = "PASS" if row["wrong"] == 0 and row["duplicates"] == 0 else "FAIL"
        print(f"target: no lost or duplicate message at 50 changes/s: lost {row['wrong']}, "
              f"duplicates {row['duplicates']}  {verdict}", flush=True)
    if args.sync_every:
        run_sync_every(args, 10.0, args.sync_every)


if __name__ == "__main__":
    main()
