"""The Escalate button's rate limits, through `bridge serve` on loopback (real HTTP).

The button's pages are public and a confirmation's first press of a link plans the
escalation (a dry run reading the ticket, and the Bug when there is one): a flood of valid
links, or a client replaying one, cost the helpdesk's and JIRA's rate limits that the sync
needs and filled the inbox. Over a limit the answer is a 429 with ``Retry-After`` that reads
no service and writes nothing; one client or one ticket cannot use up what the others need;
webhooks, the board, health and metrics are never limited; a malformed limit is refused at
start. Windows never pass by the clock here: limits are per hour, and a window "passes"
through the library's own reset.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from itsdangerous import URLSafeTimedSerializer
from itsdangerous.timed import TimestampSigner

from bridge.config import load_config
from bridge.errors import ConfigError
from bridge.escalate_links import escalate_link
from bridge.services import Services
from tests.fixtures.button import button_items, confirm, form_of, on, press
from tests.fixtures.serve import SECRETS, metric, post_zendesk, serving

ROOT = Path(__file__).resolve().parents[2]
THROTTLED = "bridge_escalate_rate_limited_total"


def limited(sandbox, bridge_env, **settings: str) -> Services:
    """The button's services with ``[serve]`` settings from the environment, as deployed."""
    sandbox.zendesk_state.export_skips_last_minute = False
    env = {**bridge_env, **SECRETS, **{f"BRIDGE_SERVE_{key.upper()}": value for key, value in settings.items()}}
    return Services(load_config(None, env=env))


class _AnHourAgo(TimestampSigner):
    def get_timestamp(self) -> int:
        return super().get_timestamp() - 3600


def earlier_link(ticket: str) -> str:
    """Another (still valid) link of ``ticket``: the one in a message sent an hour before."""
    serializer = URLSafeTimedSerializer(SECRETS["BRIDGE_SERVE_SECRET_KEY"], signer=_AnHourAgo)
    token = serializer.dumps({"k": "zendesk", "t": ticket}, salt="bridge.escalate-link")
    return f"https://bridge.example.com/escalate/{ticket}?t={token}"


def service_reads(sandbox) -> list:
    return sandbox.zendesk.knobs.received() + sandbox.jira.knobs.received()


def forget_reads(sandbox) -> None:
    sandbox.zendesk.knobs.reset_counters()
    sandbox.jira.knobs.reset_counters()


def reset_windows(running) -> None:
    """Every window passes at once: flask-limiter's own reset of its storage."""
    for limiter in running.app.extensions["limiter"]:
        limiter.reset()


def assert_refused_politely(answer: requests.Response) -> int:
    """A 429 for a person: the button's page, a wait in seconds, nothing internal. Returns the wait."""
    assert answer.status_code == 429, answer.text
    wait = int(answer.headers["Retry-After"])
    assert 1 <= wait <= 3600
    assert answer.headers["Content-Type"].startswith("text/html")
    assert answer.headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in answer.headers["Content-Security-Policy"]
    assert "<h1>" in answer.text and "try again" in answer.text
    for internal in ("Traceback", "per hour", "limit", SECRETS["BRIDGE_SERVE_SECRET_KEY"], "127.0.0.1"):
        assert internal not in answer.text
    return wait


def test_a_ticket_confirmed_over_its_limit_gets_429_and_reads_and_writes_nothing(sandbox, bridge_env, caplog):
    """Each of a ticket's links (one per message) was planned on its first confirmation: a
    ticket's links confirmed in a row read the ticket and the Bug every time."""
    caplog.set_level(logging.WARNING, logger="bridge.service.button_limits")
    services = limited(sandbox, bridge_env, escalate_limit_per_ticket="1 per hour")
    with serving(services, workers=0) as running:
        assert press(running, services, "104").status_code == 202
        browser = requests.Session()
        # Opening the other link is no confirmation: the page still shows.
        action, fields = form_of(browser.get(on(running, earlier_link("104")), timeout=10))
        forget_reads(sandbox)
        audit_before = len(services.store.audit.entries(target="zendesk:104"))
        over = browser.post(running.url + action, data=fields, timeout=10)
        assert_refused_politely(over)
        assert service_reads(sandbox) == []
        assert len(button_items(services)) == 1
        assert len(services.store.audit.entries(target="zendesk:104")) == audit_before
        assert metric(running.url, THROTTLED, limit="ticket") == 1
        # Operators see it in the log too: once, naming the ticket, not the link.
        assert browser.post(running.url + action, data=fields, timeout=10).status_code == 429
        warned = [r.getMessage() for r in caplog.records if r.name == "bridge.service.button_limits"]
        assert len(warned) == 1 and "zendesk ticket 104" in warned[0] and fields["t"] not in warned[0]
        # Another customer's ticket is not held back by this one's.
        assert press(running, services, "101").status_code == 202
        # Once the window has passed, the same confirmation goes through.
        reset_windows(running)
        assert browser.post(running.url + action, data=fields, timeout=10).status_code == 202
    assert sorted(json.loads(i.subject)["ticket"] for i in button_items(services)) == ["101", "104", "104"]


def test_the_process_ceiling_counts_only_presses_that_read_the_services(sandbox, bridge_env):
    """A replayed confirmation costs one store read and does not use up the ceiling; a new
    press over the ceiling is refused before anything is read."""
    services = limited(sandbox, bridge_env, escalate_limit_total="2 per hour")
    with serving(services, workers=0) as running:
        browser = requests.Session()
        first = confirm(browser, on(running, escalate_link("zendesk", "101", config=services.config)))
        assert first.status_code == 202
        replays = [browser.post(first.request.url, data=first.request.body, timeout=10,
                                headers={"Content-Type": "application/x-www-form-urlencoded"}) for _ in range(3)]
        assert [r.status_code for r in replays] == [202] * 3
        assert press(running, services, "104").status_code == 202
        forget_reads(sandbox)
        over = press(running, services, "105")
        assert_refused_politely(over)
        assert service_reads(sandbox) == []
        assert metric(running.url, THROTTLED, limit="all") == 1
        # Repeating a press already accepted reads no service, so the ceiling does not refuse it.
        again = browser.post(first.request.url, data=first.request.body, timeout=10,
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert again.status_code == 202
    assert sorted(json.loads(i.subject)["ticket"] for i in button_items(services)) == ["101", "104"]


def test_one_client_address_over_its_limit_does_not_hold_back_another(sandbox, bridge_env):
    """Behind one reverse proxy (proxy_hops = 1), each customer is the address the proxy
    appended to X-Forwarded-For; what a client writes before it is not believed."""
    services = limited(sandbox, bridge_env, escalate_limit_per_client="3 per hour", proxy_hops="1")
    with serving(services, workers=0) as running:
        flooder = requests.Session()
        flooder.headers["X-Forwarded-For"] = "203.0.113.7"
        link = on(running, escalate_link("zendesk", "104", config=services.config))
        assert [flooder.get(link, timeout=10).status_code for _ in range(3)] == [200] * 3
        assert_refused_politely(flooder.get(link, timeout=10))  # the page too: it is the same client
        forget_reads(sandbox)
        # A forged first hop does not make a new client.
        flooder.headers["X-Forwarded-For"] = "198.51.100.99, 203.0.113.7"
        assert_refused_politely(confirm_unchecked(flooder, link))
        assert service_reads(sandbox) == [] and button_items(services) == []
        customer = requests.Session()
        customer.headers["X-Forwarded-For"] = "198.51.100.9"
        assert confirm(customer, link).status_code == 202
        assert metric(running.url, THROTTLED, limit="client") == 2


def test_an_ipv6_client_is_its_64_not_each_of_its_addresses(sandbox, bridge_env):
    services = limited(sandbox, bridge_env, escalate_limit_per_client="2 per hour", proxy_hops="1")
    with serving(services, workers=0) as running:
        link = on(running, escalate_link("zendesk", "104", config=services.config))

        def get(address: str) -> int:
            return requests.get(link, headers={"X-Forwarded-For": address}, timeout=10).status_code

        answers = [get("2001:db8:1:2::1"), get("2001:db8:1:2:ffff::9"), get("2001:db8:1:2::3")]
        assert answers == [200, 200, 429]
        assert get("2001:db8:1:3::1") == 200  # the next /64 is someone else


def test_without_a_proxy_setting_x_forwarded_for_is_not_believed(sandbox, bridge_env):
    services = limited(sandbox, bridge_env, escalate_limit_per_client="2 per hour")
    with serving(services, workers=0) as running:
        link = on(running, escalate_link("zendesk", "104", config=services.config))
        answers = [requests.get(link, headers={"X-Forwarded-For": f"198.51.100.{n}"}, timeout=10).status_code
                   for n in range(3)]
    assert answers == [200, 200, 429]


def confirm_unchecked(session: requests.Session, url: str) -> requests.Response:
    """Submit a confirmation without opening the page first (a replaying client)."""
    token = url.split("t=")[1]
    return session.post(url.split("?")[0], data={"t": token, "csrf_token": "x"}, timeout=10)


def test_webhooks_the_board_health_and_metrics_are_never_limited(sandbox, bridge_env):
    services = limited(sandbox, bridge_env, escalate_limit_per_client="2 per hour",
                       escalate_limit_per_ticket="1 per hour", escalate_limit_total="1 per hour")
    with serving(services, workers=0) as running:
        assert press(running, services, "104").status_code == 202
        assert_refused_politely(requests.get(on(running, escalate_link("zendesk", "101", config=services.config)),
                                             timeout=10))
        hooks = [post_zendesk(running.url, {"type": "zen:event-type:ticket.status_changed", "id": f"d-{n}",
                                            "detail": {"id": "101"}, "event": {}}).status_code for n in range(6)]
        assert hooks == [202] * 6
        others = [requests.get(f"{running.url}{path}", timeout=10, allow_redirects=False).status_code
                  for path in ["/healthz", "/readyz", "/metrics", "/", "/login"] * 3]
        assert 429 not in others and others.count(200) >= 9, others
    assert len([i for i in services.store.inbox.items() if i.source == "zendesk"]) == 6


@pytest.mark.parametrize("value", ["lots", "0 per minute", "5 per fortnight", "5 per 2 days", ""])
def test_a_malformed_limit_is_a_config_error_naming_it(bridge_env, value):
    env = {**bridge_env, **SECRETS, "BRIDGE_SERVE_ESCALATE_LIMIT_PER_TICKET": value or " "}
    with pytest.raises(ConfigError) as refused:
        load_config(None, env=env)
    assert "BRIDGE_SERVE_ESCALATE_LIMIT_PER_TICKET" in str(refused.value)
    assert "unknown setting" not in str(refused.value)


def test_the_defaults_are_valid_limits(bridge_env):
    serve = load_config(None, env=bridge_env).serve
    assert (serve.escalate_limit_per_client, serve.escalate_limit_per_ticket, serve.escalate_limit_total,
            serve.proxy_hops) == ("30 per minute", "10 per minute", "20 per minute", 0)


def test_bridge_serve_with_a_malformed_limit_exits_2_at_start(bridge_env, tmp_path):
    (tmp_path / "bridge.toml").write_text('[serve]\nescalate_limit_per_client = "often"\n', encoding="utf-8")
    env = {**bridge_env, **SECRETS, "BRIDGE_CONFIG": str(tmp_path / "bridge.toml")}
    done = subprocess.run([sys.executable, "-m", "bridge", "serve", "--port", "0"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "serve.escalate_limit_per_client" in done.stderr and "rate limit" in done.stderr
    assert "Traceback" not in done.stderr
