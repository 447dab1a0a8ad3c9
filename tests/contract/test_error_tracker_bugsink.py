"""The error-tracker contract against a real Bugsink (real ``sentry-sdk`` events into it)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from bridge.connectors.bugsink import BugsinkErrorTracker
from tests.contract.error_tracker_contract import ErrorTrackerContract, Raised
from tests.fixtures.bugsink import BugsinkProject, BugsinkServer, bugsink, bugsink_server  # noqa: F401

pytestmark = pytest.mark.slow


@dataclass
class BugsinkBackend:
    server: BugsinkServer
    project: BugsinkProject

    def __post_init__(self) -> None:
        self.tracker = self.with_token(self.server.token)
        self.project_slug = self.project.slug
        # An issue page of another Bugsink (another host) is not this tracker's.
        self.foreign_url = "https://bugsink.other.example/issues/issue/6f1b7c32-1d4e-4c1a-9a57-0f1f5c2a9b10/"

    def with_token(self, token: str) -> BugsinkErrorTracker:
        return BugsinkErrorTracker(self.server.url, token=token, retries=0)

    def raise_into(self, raise_error, *, fingerprint=None) -> Raised:
        event_id = self.server.capture(self.project, raise_error, fingerprint=fingerprint)
        issue = self.server.issue_of_event(self.project, event_id)
        return Raised(id=issue["id"], short_id=issue["friendly_id"],
                      url=f"{self.server.url}/issues/issue/{issue['id']}/")

    def resolve(self, issue_id: str) -> None:
        self.server.resolve(issue_id)

    def mute(self, issue_id: str) -> None:
        self.server.api("POST", f"issues/{issue_id}/mute/")

    def unknown_id(self) -> str:
        return "00000000-0000-4000-8000-000000000000"


class TestRealBugsink(ErrorTrackerContract):
    @pytest.fixture
    def backend(self, bugsink) -> BugsinkBackend:
        return BugsinkBackend(bugsink, bugsink.new_project("backend"))
