"""Services builds what BRIDGE_ERRORS_KIND chooses: the Bugsink connector, and a gate that
removes Bugsink's URLs and ids before any helpdesk write (no Bugsink server needed: building
reads the configuration and the store, nothing else)."""

from __future__ import annotations

from bridge.config import load_config
from bridge.connectors.base import ErrorTracker
from bridge.connectors.bugsink import BugsinkErrorTracker
from bridge.connectors.sentry import SentryErrorTracker
from bridge.services import Services

BUGSINK = "https://errors.acme.example"
ISSUE = "6f1b7c32-1d4e-4c1a-9a57-0f1f5c2a9b10"


def services(tmp_path, **env: str) -> Services:
    return Services(load_config(None, env={"BRIDGE_STORE_URL": f"sqlite:///{tmp_path / 'bridge.db'}", **env}))


def test_the_kind_chooses_the_connector_and_the_old_names_still_work(tmp_path):
    bugsink = services(tmp_path, BRIDGE_ERRORS_KIND="bugsink", BRIDGE_ERRORS_URL=BUGSINK,
                       BRIDGE_ERRORS_TOKEN="t" * 40)
    assert bugsink.sentry_configured and isinstance(bugsink.sentry, BugsinkErrorTracker)
    assert bugsink.error_tracker is bugsink.sentry and isinstance(bugsink.sentry, ErrorTracker)
    assert bugsink.sentry.base_url == BUGSINK
    sentry = services(tmp_path, BRIDGE_SENTRY_URL="https://sentry.io", BRIDGE_SENTRY_ORG="acme",
                      BRIDGE_SENTRY_TOKEN="old")
    assert isinstance(sentry.sentry, SentryErrorTracker) and sentry.sentry.org == "acme"
    assert not services(tmp_path).sentry_configured


def test_the_gate_removes_bugsink_urls_and_a_mapped_self_hosted_sentry_too(tmp_path):
    mappings = tmp_path / "mappings"
    mappings.mkdir()  # overrides only: the rest comes from the packaged mappings
    (mappings / "default.yaml").write_text("sentry:\n  self_hosted_base: https://sentry.acme.example\n")
    built = services(tmp_path, BRIDGE_ERRORS_KIND="bugsink", BRIDGE_ERRORS_URL=BUGSINK,
                     BRIDGE_ERRORS_TOKEN="t" * 40, BRIDGE_MAPPINGS_DIR=str(mappings))
    text = (f"Fixed: see {BUGSINK}/issues/issue/{ISSUE}/ and "
            "https://sentry.acme.example/organizations/acme/issues/4505/ and https://acme.sentry.io/issues/7/ ok")
    assert built.gate.check(text) == "Fixed: see and and ok"
    # Once a Task is filed for a Bugsink issue, its bare UUID and friendly id go too.
    untouched = f"Order {ISSUE} and BACKEND-7 shipped."
    assert built.gate.check(untouched) == untouched
    built.store.tasks.record_intent(sentry_issue_id=ISSUE, label=f"bridge-bugsink-{ISSUE}",
                                    sentry_short_id="BACKEND-7", sentry_permalink=f"{BUGSINK}/issues/issue/{ISSUE}/")
    assert built.gate.check(untouched) == "Order and shipped."
