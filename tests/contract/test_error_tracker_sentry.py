"""The error-tracker contract against the Sentry emulator (real ``sentry-sdk`` events)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from bridge.connectors.sentry import SentryErrorTracker
from bridge.sandbox.sentry import DEMO_CREDENTIALS
from tests.contract.error_tracker_contract import ErrorTrackerContract, Raised
from tests.fixtures.sentry_sandbox import SentrySandbox, sentry, sentry_service  # noqa: F401


@dataclass
class SentryBackend:
    sandbox: SentrySandbox
    project_slug: str = "backend"

    def __post_init__(self) -> None:
        self.tracker = self.with_token(DEMO_CREDENTIALS["token"])
        self.foreign_url = "https://globex.sentry.io/issues/4505/"

    def with_token(self, token: str) -> SentryErrorTracker:
        return SentryErrorTracker(self.sandbox.url, org=self.sandbox.org, token=token,
                                  self_hosted_base=self.sandbox.url, retries=0)

    def raise_into(self, raise_error, *, fingerprint=None) -> Raised:
        event_id = self.sandbox.capture(self.project_slug, raise_error, fingerprint=fingerprint)
        issue = self.sandbox.state.issue(self.sandbox.state.events[event_id]["issue_id"])
        short_id = self.sandbox.state.short_id(issue)
        return Raised(id=str(issue["id"]), short_id=short_id,
                      url=f"{self.sandbox.url}/organizations/{self.sandbox.org}/issues/{issue['id']}/")

    def resolve(self, issue_id: str) -> None:
        answer = self.sandbox.session().put(self.sandbox.api(f"issues/{issue_id}/"), json={"status": "resolved"})
        assert answer.status_code == 200, answer.text

    def mute(self, issue_id: str) -> None:
        answer = self.sandbox.session().put(self.sandbox.api(f"issues/{issue_id}/"), json={"status": "ignored"})
        assert answer.status_code == 200, answer.text

    def unknown_id(self) -> str:
        return "987654321"


class TestSentryEmulator(ErrorTrackerContract):
    @pytest.fixture
    def backend(self, sentry) -> SentryBackend:
        return SentryBackend(sentry)
