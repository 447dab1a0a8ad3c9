"""Policy 000's Escalate button as a link: every customer message on a ticket below the
highest severity ends with the signed link to `bridge serve`; at the highest, none does."""

from __future__ import annotations

from urllib.parse import urlsplit

from bridge.config import load_config
from bridge.escalation import EscalationRequest
from bridge.escalate_links import LinkSigner
from bridge.services import Services
from tests.conftest import ACTOR
from tests.fixtures.bridge_comments import bridge_comments
from tests.integration.test_sync import dev, move  # noqa: F401

KEY = "a-test-only-signing-key-for-links-0123456789"
PUBLIC = "https://bridge.example.com"


def services_with_serve(bridge_env) -> Services:
    env = {**bridge_env, "BRIDGE_SERVE_SECRET_KEY": KEY, "BRIDGE_SERVE_PUBLIC_URL": PUBLIC}
    return Services(load_config(None, env=env))


def the_link(body: str) -> str | None:
    found = [word for word in body.split() if word.startswith(PUBLIC + "/escalate/")]
    return found[-1] if found else None


def test_messages_below_the_highest_severity_end_with_a_link_bound_to_their_ticket(sandbox, bridge_env, dev):
    services = services_with_serve(bridge_env)
    result = services.escalator().escalate(EscalationRequest(ticket="102", actor=ACTOR, severity="normal"))
    ack = bridge_comments(sandbox, 102)[-1]
    link = the_link(ack)
    assert link, ack
    assert urlsplit(link).path == "/escalate/102"
    token = dict(p.split("=", 1) for p in urlsplit(link).query.split("&"))["t"]
    LinkSigner(KEY, max_age_days=30).check_link(token, "zendesk", "102")  # raises when not bound to 102

    sandbox.zendesk_state.export_skips_last_minute = False
    move(dev, result.jira_key, "In Progress")
    assert services.sync_engine().run().exit_code == 0
    assert the_link(bridge_comments(sandbox, 102)[-1])


def test_messages_at_the_highest_severity_carry_no_link(sandbox, bridge_env):
    services = services_with_serve(bridge_env)
    services.escalator().escalate(EscalationRequest(ticket="103", actor=ACTOR, emergency=True, force=True))
    assert bridge_comments(sandbox, 103) and the_link(bridge_comments(sandbox, 103)[-1]) is None


def test_without_serve_configured_messages_carry_no_link(sandbox, services):
    services.escalator().escalate(EscalationRequest(ticket="102", actor=ACTOR))
    assert the_link(bridge_comments(sandbox, 102)[-1]) is None


def test_signing_a_link_loads_no_web_framework():
    # `bridge sync` and `bridge escalate` sign a link per customer message, through
    # Services.escalate_link: the pages' framework (Flask, about 140 ms to import) stays out
    # of those processes.
    import subprocess
    import sys

    code = ("import sys, types; from bridge.config import load_config; from bridge.services import Services; "
            f"s = Services(load_config(None, env={{'BRIDGE_SERVE_SECRET_KEY': {KEY!r}, "
            f"'BRIDGE_SERVE_PUBLIC_URL': {PUBLIC!r}}})); "
            "link = s.escalate_link(types.SimpleNamespace(severity='normal', profile=s.profile.name), 'zendesk', '1'); "
            "print(link is not None, 'flask' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "False"]  # a link was signed, and Flask was not loaded
