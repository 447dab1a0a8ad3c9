"""`bridge demo`: the whole escalation story on a throw-away sandbox and store.

Starts the emulators on free ports, points a fresh configuration at them with a SQLite
file in a temporary directory, and walks through what the people around a bug do: an
escalation manager escalates a customer's ticket (the Sentry issue an agent noted becomes
a related JIRA Task), a second customer joins, a developer works in JIRA with the real
`jira` library — the first transition reaches the customers through `bridge serve` and
JIRA's signed webhook, the rest through scheduled syncs — and releases the fix. It prints
what JIRA and the customers end up seeing. Nothing outside the temporary directory is
touched.
"""

from __future__ import annotations

import secrets
import tempfile
import time
from pathlib import Path
from typing import Callable

from bridge.escalation import EscalationRequest
from bridge.stop_signal import StopSignal

DEMO_TICKET = "101"
DEMO_SECOND_TICKET = "104"
DEMO_VERSION = "2.4.0"


def run_demo(echo: Callable[[str], None], *, keep_serving: bool = False) -> None:
    """Tell the story; at the end, serve the board and print its URL signed in as a demo
    manager (``keep_serving``: until interrupted, else the board stops with the demo)."""
    from jira import JIRA

    from bridge.config import load_config
    from bridge.sandbox.jira import DEMO_LOGINS
    from bridge.sandbox.world import start_sandbox
    from bridge.services import Services

    with tempfile.TemporaryDirectory(prefix="bridge-demo-") as tmp, start_sandbox(0) as world:
        env = dict(world.env())
        env["BRIDGE_STORE_URL"] = f"sqlite:///{Path(tmp) / 'demo.db'}"
        env["BRIDGE_BRIDGE_ACTOR"] = "erin@example.com"
        env["BRIDGE_WEBHOOKS_JIRA_SECRET"] = secrets.token_urlsafe(24)  # what `bridge serve` checks JIRA's with
        world.zendesk_state.export_skips_last_minute = False  # the demo does not wait a minute
        services = Services(load_config(None, env=env))
        escalator = services.escalator()

        ticket = services.helpdesk.get_ticket(DEMO_TICKET)
        echo(f"1. A customer wrote in: Zendesk ticket #{ticket.id} \"{ticket.subject}\" "
             f"({ticket.organization}, priority {ticket.priority}).")
        echo(f"   The conversation holds {len(ticket.comments)} messages: customer e-mail addresses and phone numbers,")
        echo("   and an agent's internal note with a Sentry link.")

        result = escalator.escalate(EscalationRequest(ticket=DEMO_TICKET, actor=services.actor))
        echo(f"2. Erin (escalation manager) runs `bridge escalate {DEMO_TICKET}`: {result.jira_key}, priority "
             f"{result.priority} (severity {result.severity}, tier {result.tier}).")
        for step in result.steps:
            echo(f"   - {step}")
        for task in result.sentry_tasks:
            echo(f"   - Sentry issue filed as JIRA Task {task.get('task_key') or task.get('jira_key')} "
                 f"related to {result.jira_key}, never shown on the ticket")

        bug = world.jira_state.issue(result.jira_key)
        echo("3. What engineering sees in JIRA (customer data redacted):")
        for line in str(bug["fields"].get("description") or "").splitlines()[:10]:
            echo(f"   | {line}")

        again = escalator.escalate(EscalationRequest(ticket=DEMO_TICKET, actor=services.actor))
        echo(f"4. Running it again changes nothing: {again.jira_key}, created={again.created}.")

        joined = escalator.escalate(EscalationRequest(ticket=DEMO_SECOND_TICKET, actor=services.actor,
                                                      into=result.jira_key))
        echo(f"5. A German-speaking customer reports the same bug (ticket #{DEMO_SECOND_TICKET}): "
             f"`bridge escalate {DEMO_SECOND_TICKET} --into {result.jira_key}`; affected customers: {joined.affected_count}.")

        dev = JIRA(server=world.jira.url, basic_auth=DEMO_LOGINS["dev"].basic_auth("cloud"), max_retries=0)
        seconds = show_webhook(services, world, dev, result.jira_key)
        echo(f"6. `bridge serve` takes JIRA's signed webhooks: the developer moves {result.jira_key} to In Progress "
             f"and both customers are told {seconds:.1f} s later, with no `bridge sync`.")
        engine = services.sync_engine()

        def sync(what: str) -> None:
            report = engine.run()
            done = [o for o in report.outcomes if o.result == "done"]
            echo(f"   `bridge sync` after {what}: {len(done)} write(s)"
                 + (f", {len(report.failures)} failure(s)" if report.failures else ""))

        echo("7. With the webhook switched off, scheduled `bridge sync` runs are the safety net:")
        dev.add_comment(result.jira_key, "Root cause: the CSV writer closes the stream twice.")
        sync("an engineering comment")
        dev.add_comment(result.jira_key, "[customer] We found the cause and are testing a fix.")
        dev.transition_issue(result.jira_key, "In QA")
        sync("In QA and a [customer] comment")
        dev.issue(result.jira_key).update(fields={"fixVersions": [{"name": DEMO_VERSION}]})
        dev.transition_issue(result.jira_key, "Done", fields={"resolution": {"name": "Fixed"}})
        sync(f"Done, fixed in {DEMO_VERSION} (not released yet)")
        version = next(v for v in dev.project_versions("SUP") if v.name == DEMO_VERSION)
        version.update(released=True, releaseDate="2026-11-23")
        sync(f"the release of {DEMO_VERSION}")
        sync("nothing new (nothing is sent twice)")

        bridge_user = world.zendesk_state.user_by_email("bridge@example.com")["id"]
        echo("8. What the customers received:")
        for number in (DEMO_TICKET, DEMO_SECOND_TICKET):
            state = world.zendesk_state.ticket(int(number))
            echo(f"   ticket #{number} (ticket now '{state['status']}'):")
            for comment in world.zendesk_state.comments(int(number)):
                if comment.get("public") and comment.get("author_id") == bridge_user:
                    first = next((line for line in comment["body"].splitlines() if line.strip()
                                  and not line.startswith(("Hello", "Guten", "Hallo"))), "")
                    echo(f"   > {first[:110]}")
        notes = [c for c in world.zendesk_state.comments(int(DEMO_TICKET))
                 if not c.get("public") and c.get("author_id") == bridge_user]
        echo(f"9. Agents see {len(notes)} internal notes on #{DEMO_TICKET} (the JIRA key, engineering's comments);")
        echo("   no message to any customer mentions Sentry or an internal JIRA comment.")
        show_board(services, echo, keep_serving=keep_serving)


def show_webhook(services, world, dev, key: str) -> float:
    """Run `bridge serve` on loopback, register its JIRA webhook through JIRA's admin API (as
    `bridge webhooks register` does), move the Bug to In Progress as the developer, and return
    the seconds until both customers were told. The webhook is removed again afterwards, so
    the rest of the story shows the scheduled sync."""
    import requests

    from bridge.service.registration import register_all
    from bridge.service.server import Serving

    bridge_user = world.zendesk_state.user_by_email("bridge@example.com")["id"]

    def told() -> bool:
        return all(any("actively working" in c["body"] or "arbeitet jetzt" in c["body"]
                       for c in world.zendesk_state.comments(int(t))
                       if c.get("public") and c.get("author_id") == bridge_user)
                   for t in (DEMO_TICKET, DEMO_SECOND_TICKET))

    serving = Serving(services, host="127.0.0.1", port=0, workers=1).start()
    try:
        register_all(services.config, requests.Session, serve_url=serving.url)
        started = time.monotonic()
        dev.transition_issue(key, "In Progress")
        deadline = started + 60
        while not told():
            if time.monotonic() > deadline:
                raise RuntimeError("the webhook did not reach the customers within a minute")
            time.sleep(0.05)
        return time.monotonic() - started
    finally:
        _unregister_jira_webhooks(services.config, serving.url)
        serving.stop()


def _unregister_jira_webhooks(config, serve_url: str) -> None:
    import requests

    auth = (config.jira.user or "", config.jira.token.get_secret_value())
    api = f"{str(config.jira.url).rstrip('/')}/rest/webhooks/1.0/webhook"
    for hook in requests.get(api, auth=auth, timeout=10).json():
        if str(hook.get("url", "")).startswith(serve_url):
            requests.delete(hook["self"], auth=auth, timeout=10).raise_for_status()


def show_board(services, echo: Callable[[str], None], *, keep_serving: bool) -> None:
    """Serve `bridge serve`'s app (the board) on loopback and print a one-time link that
    signs the browser in as the demo's escalation manager."""
    import secrets

    from bridge.board.accounts import hash_password
    from bridge.board.auth import add_one_time_link
    from bridge.sandbox.server import ServiceThread
    from bridge.service.app import create_app

    name = "erin@example.com"  # the demo helpdesk's escalation manager: the mappings let her escalate
    services.store.users.add(name, "manager", password_hash=hash_password(secrets.token_urlsafe(24)))
    app = create_app(services)
    app.extensions["bridge.board.standings"].refresh()
    server = ServiceThread(app).start()
    try:
        echo(f"10. The managers' board, signed in as {name} (manager): {server.url}{add_one_time_link(app, name)}")
        if keep_serving:
            echo("    (the board and the sandbox run until you press Ctrl-C)")
            StopSignal().install().wait()
        else:
            # Output to a file or a pipe: the link must not look like it can be opened later.
            echo("    (the board stopped with the demo: run `bridge demo` in a terminal to keep it open)")
    finally:
        server.stop()
        app.extensions["bridge.board.standings"].stop()
