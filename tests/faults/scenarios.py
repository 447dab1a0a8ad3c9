"""The three commands of the fault matrix, each in a fresh sandbox, and how their outcome is counted.

A :class:`Trial` owns one sandbox and one store. ``prepare()`` builds the world the command
needs in-process and without faults (escalations already made, a developer's JIRA work, a
customer's reply). The command under test then runs as a real process (``python -m bridge``)
while a knob injects a fault, a SIGKILL ends it, or several copies race. ``recover()`` runs
the command once more and a ``bridge sync``, without faults, and :meth:`Trial.census` reads
what the emulators hold and were sent:

* ``duplicates`` — open Bugs for a ticket, or open Tasks for a Sentry issue, beyond one;
* ``lost_links`` — a link the clean run makes that is missing: a Bug or Task itself, the
  Task's "Relates" link to the Bug, a remote link (the ticket on the Bug, Sentry on the Task);
* ``dup_messages`` / ``lost_messages`` — customer replies, internal notes and customer words
  mirrored to JIRA, each compared with the clean run's count;
* ``leaks`` — a helpdesk write that names Sentry (its URL, issue id or short id) or a public
  helpdesk comment carrying a JIRA comment not marked for the customer;
* ``tracebacks`` — a Python traceback in any run's output;
* ``unfinished`` — a clean run after the fault that did not exit 0.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field, fields

from click.testing import CliRunner
from jira import JIRA

from bridge.cli import main
from bridge.config import load_config
from bridge.escalation import EscalationRequest
from bridge.sandbox.jira import DEMO_LOGINS
from bridge.sandbox.world import Sandbox
from bridge.services import Services

ACTOR = "erin@example.com"
BRIDGE_EMAIL = "bridge@example.com"
SENTRY_REF, SENTRY_ID, SENTRY_LABEL = "BACKEND-1A2", "4505", "bridge-sentry-4505"
#: Seconds a command may take on a loaded 2-core machine before the trial counts it as hung.
PROCESS_TIMEOUT_S = 300

#: What each command is run with, and which tickets its census looks at. Ticket 101 mentions
#: Sentry issue BACKEND-1A2, so escalating it also files and links the Task; ticket 102 does
#: not, so link-sentry has its own Task to file.
COMMANDS: dict[str, tuple[list[str], tuple[int, ...]]] = {
    "escalate": (["escalate", "101", "--json"], (101,)),
    "link-sentry": (["link-sentry", SENTRY_REF, "--ticket", "102", "--json"], (102,)),
    "sync": (["sync", "--json"], (101, 104)),
}

# Words a JIRA developer writes that must never reach a customer (sync's prepare() posts them).
INTERNAL_MARKERS = ("Root cause: a race in the CSV writer", "internal-only: the workaround breaks billing",
                    "restricted: must stay internal")
CUSTOMER_WORDS = "Still broken on my side after the update"


@dataclass
class Census:
    """Counts of what went wrong in one trial (all zero when the bridge held its invariants)."""

    duplicates: int = 0
    lost_links: int = 0
    dup_messages: int = 0
    lost_messages: int = 0
    leaks: int = 0
    tracebacks: int = 0
    unfinished: int = 0
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "notes"}

    def clean(self) -> bool:
        return not any(self.counts().values())


@dataclass
class Facts:
    """What the services hold after a run, in the terms the census compares."""

    open_issues: dict[str, int]
    links: dict[str, bool]
    messages: dict[str, int]


class Trial:
    """One command on one fresh sandbox and store: prepare, disturb, recover, count."""

    def __init__(self, sandbox: Sandbox, store_url: str, command: str) -> None:
        self.sandbox = sandbox
        self.command = command
        self.args, self.tickets = COMMANDS[command]
        self.env = {
            **sandbox.env(),
            "BRIDGE_STORE_URL": store_url,
            "BRIDGE_BRIDGE_ACTOR": ACTOR,
            # A dropped connection or an unanswered request costs seconds, not the default minutes.
            "BRIDGE_HTTP_TIMEOUT": "10",
        }
        self.outputs: list[str] = []
        self.exit_codes: list[int] = []
        self.recovery_codes: list[int] = []

    # ------------------------------------------------------------------ the world --
    def prepare(self) -> None:
        """Build what the command needs, without faults, then clear the journals."""
        services = Services(load_config(None, env=self.env))
        escalator = services.escalator()
        self.sandbox.zendesk_state.export_skips_last_minute = False  # the tests move no clocks
        if self.command == "link-sentry":
            escalator.escalate(EscalationRequest(ticket="102", actor=ACTOR))
        elif self.command == "sync":
            first = escalator.escalate(EscalationRequest(ticket="101", actor=ACTOR))
            escalator.escalate(EscalationRequest(ticket="104", actor=ACTOR, into=first.jira_key))
            dev = JIRA(server=self.sandbox.jira.url, basic_auth=DEMO_LOGINS["dev"].basic_auth("cloud"),
                       max_retries=0)
            dev.transition_issue(first.jira_key, "In Progress")
            dev.add_comment(first.jira_key, f"{INTERNAL_MARKERS[0]}. See https://acme.sentry.io/issues/{SENTRY_ID}/")
            dev.add_comment(first.jira_key, f"[customer] {INTERNAL_MARKERS[1]}", is_internal=True)
            dev.add_comment(first.jira_key, f"[customer] {INTERNAL_MARKERS[2]}",
                            visibility={"type": "role", "value": "Developers"})
            dev.add_comment(first.jira_key, "[customer] A fix is on its way; thank you for your patience.")
            customer = self.sandbox.zendesk_state.ticket(101)["requester_id"]
            self.sandbox.zendesk_state.update_ticket(
                101, {"comment": {"body": CUSTOMER_WORDS, "public": True}}, customer)
        services.store.close()
        for service in self.sandbox.services():
            service.knobs.reset_counters()

    # ------------------------------------------------------------- the command --
    def start(self) -> subprocess.Popen:
        """The command under test as a real process."""
        return subprocess.Popen([sys.executable, "-m", "bridge", *self.args], env={**os.environ, **self.env},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def finish(self, process: subprocess.Popen) -> int:
        try:
            out, err = process.communicate(timeout=PROCESS_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
            err += "\n(fault matrix: the process did not finish in time and was killed)"
        self.outputs.append(out + err)
        self.exit_codes.append(process.returncode)
        return process.returncode

    def run(self) -> int:
        return self.finish(self.start())

    def run_killed(self, after_requests: int) -> int:
        """Start the command and SIGKILL it once the services received ``after_requests``."""
        process = self.start()
        deadline = time.monotonic() + PROCESS_TIMEOUT_S
        while process.poll() is None and time.monotonic() < deadline:
            if self.requests_received() >= after_requests:
                os.kill(process.pid, signal.SIGKILL)
                break
            time.sleep(0.005)
        return self.finish(process)

    def requests_received(self) -> int:
        return sum(len(s.knobs.received()) for s in (self.sandbox.jira, self.sandbox.zendesk, self.sandbox.sentry))

    def recover(self) -> None:
        """The command again and a sync, without faults, in-process through the CLI."""
        for service in self.sandbox.services():
            service.knobs.update({"fail_at": 0, "fail_next": 0, "latency_ms": 0, "fail_after_apply": False,
                                  "fail_mode": "error", "fail_status": 503})
        self.sandbox.jira_state.search_lag_s = 0
        for args in (self.args, ["sync", "--json"]):
            result = CliRunner().invoke(main, args, env=self.env)
            text = result.output
            if result.exception is not None and not isinstance(result.exception, SystemExit):
                text += f"\nTraceback (most recent call last): {result.exception!r}"
            self.outputs.append(text)
            self.recovery_codes.append(result.exit_code)

    # ----------------------------------------------------------------- counting --
    def facts(self) -> Facts:
        """Open issues, expected links and message counts as the services hold them now."""
        jira, zendesk = self.sandbox.jira_state, self.sandbox.zendesk_state
        issues = jira.all_issues()
        labelled = {label: [i for i in issues if label in i["fields"].get("labels", []) and not _duplicate(i)]
                    for label in [*(f"bridge-zendesk-{t}" for t in self.tickets), SENTRY_LABEL]}
        open_issues = {label: len(found) for label, found in labelled.items()}
        links: dict[str, bool] = {}
        messages: dict[str, int] = {}
        bugs = labelled[f"bridge-zendesk-{self.tickets[0]}"]
        tasks = labelled[SENTRY_LABEL]
        links["bug"] = bool(bugs)
        links["task"] = bool(tasks)
        if bugs:
            bug = bugs[0]["key"]
            links["bug remote link"] = bool(jira.remote_links(bug))
            links["task relates to bug"] = any(bug in _related(jira, t["key"]) for t in tasks)
            messages["customer words on the bug"] = sum(CUSTOMER_WORDS in (c["body"] or "") for c in jira.comments(bug))
        if tasks:
            links["task remote link"] = bool(jira.remote_links(tasks[0]["key"]))
        bridge = zendesk.user_by_email(BRIDGE_EMAIL)["id"]
        for ticket in self.tickets:
            mine = [c for c in zendesk.comments(ticket) if c["author_id"] == bridge]
            messages[f"{ticket} public"] = sum(1 for c in mine if c["public"])
            messages[f"{ticket} internal"] = sum(1 for c in mine if not c["public"])
        return Facts(open_issues, links, messages)

    def leaks(self) -> list[str]:
        """Every helpdesk write naming Sentry, every public comment carrying internal JIRA text."""
        sentry_host = self.sandbox.sentry.url.split("://", 1)[1]
        pattern = re.compile(rf"sentry|bugsink|{re.escape(SENTRY_REF)}|(?<!\d){SENTRY_ID}(?!\d)|{re.escape(sentry_host)}",
                             re.IGNORECASE)
        found = [f"{e.method} {e.path}: {pattern.search(e.body).group(0)!r}"
                 for e in self.sandbox.zendesk.knobs.received() if e.method != "GET" and pattern.search(e.body)]
        for ticket in {101, 102, 104, *self.tickets}:
            for comment in self.sandbox.zendesk_state.comments(ticket):
                body = comment.get("body") or ""
                if comment["public"] and (pattern.search(body) or any(m in body for m in INTERNAL_MARKERS)):
                    found.append(f"public comment on {ticket}: {body[:80]!r}")
        return found

    def census(self, expected: Facts) -> Census:
        """Compare what the services hold with the clean run's ``expected`` facts."""
        now = self.facts()
        result = Census()
        for label, count in now.open_issues.items():
            if count > 1:
                result.duplicates += count - 1
                result.notes.append(f"{count} open issues labelled {label}")
        for name, held in expected.links.items():
            if held and not now.links.get(name, False):
                result.lost_links += 1
                result.notes.append(f"lost: {name}")
        for name, want in expected.messages.items():
            got = now.messages.get(name, 0)
            if got > want:
                result.dup_messages += got - want
                result.notes.append(f"{name}: {got} messages, clean run {want}")
            elif got < want:
                result.lost_messages += want - got
                result.notes.append(f"{name}: {got} messages, clean run {want}")
        leaks = self.leaks()
        result.leaks = len(leaks)
        result.notes += leaks
        for text in self.outputs:
            if "Traceback" in text:
                result.tracebacks += 1
                result.notes.append(text[text.index("Traceback"):][:600])
        bad = [code for code in self.recovery_codes if code != 0]
        result.unfinished = len(bad)
        if bad:
            result.notes.append(f"clean runs after the fault exited {self.recovery_codes}: "
                                + " | ".join(o[-300:] for o in self.outputs[-2:]))
        return result


def _duplicate(issue: dict) -> bool:
    """A Bug the bridge closed as a duplicate of an older one (two stores racing) is not open."""
    return ((issue["fields"].get("resolution") or {}).get("name")) == "Duplicate"


def _related(jira, key: str) -> list[str]:
    links = jira.issue(key)["fields"].get("issuelinks", [])
    return [(link.get("inwardIssue") or link.get("outwardIssue"))["key"]
            for link in links if link["type"]["name"] == "Relates"]


def dumps(census: Census) -> str:
    return json.dumps({**census.counts(), "notes": census.notes})
