"""One contract every :class:`~bridge.connectors.base.ErrorTracker` passes, over real HTTP.

A backend's test module subclasses :class:`ErrorTrackerContract` and provides the
``backend`` fixture: an :class:`ErrorTrackerBackend` whose errors are raised in this process
and reported with the real ``sentry-sdk`` to the service (the Sentry emulator, a real
Bugsink), so every test starts from an exception, as production does.

What the contract pins is what the linker, the outbound gate and sync's regression check
rely on: every shape of reference names the same issue; unknown and malformed references
are ``InvalidValue``; a refused token is ``CredentialsRefused`` without the token in the
message; listings follow every page; statuses use Sentry's words and a resolved issue that
sees a new event reads ``unresolved`` again (a regression).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Callable, Protocol

import pytest

from bridge.connectors.base import ErrorTracker
from bridge.errors import CredentialsRefused, InvalidValue
from bridge.models import ErrorIssue, SentryIssue

CANARY = "0123456789abcdef0123456789abcdef01234567"


@dataclass(frozen=True)
class Raised:
    """An issue the service made from a raised exception, as the service itself reports it."""

    id: str
    short_id: str
    url: str


class ErrorTrackerBackend(Protocol):
    """What a backend's test module hands the contract."""

    tracker: ErrorTracker
    #: The project the errors are reported to (its slug; short ids start with it upper-cased).
    project_slug: str
    #: An issue URL of the same kind that names an issue this tracker does not own.
    foreign_url: str

    def raise_into(self, raise_error: Callable[[], object], *, fingerprint: list[str] | None = None) -> Raised:
        """Report the exception ``raise_error`` raises; the issue it landed in."""

    def resolve(self, issue_id: str) -> None:
        """Mark the issue resolved, as a developer does in the service's UI."""

    def mute(self, issue_id: str) -> None:
        """Ignore (Sentry) or mute (Bugsink) the issue."""

    def with_token(self, token: str) -> ErrorTracker:
        """The same tracker with another token."""

    def unknown_id(self) -> str:
        """An id of the tracker's shape that names no issue."""


def _crash(message: str) -> Callable[[], object]:
    def raise_error() -> object:
        raise KeyError(message)
    return raise_error


class ErrorTrackerContract:
    """Subclass and provide a ``backend`` fixture (see the module docstring)."""

    @pytest.fixture
    def backend(self) -> ErrorTrackerBackend:  # pragma: no cover - overridden
        raise NotImplementedError

    def test_it_is_an_error_tracker_and_doctor_can_reach_it(self, backend):
        assert isinstance(backend.tracker, ErrorTracker)
        assert SentryIssue is ErrorIssue  # the older name keeps working
        said = backend.tracker.check()
        assert isinstance(said, str) and said

    def test_a_raised_exception_is_read_by_url_short_id_and_id(self, backend):
        raised = backend.raise_into(_crash(f"order-{uuid.uuid4().hex[:8]}"))
        seen = [backend.tracker.resolve(ref) for ref in (raised.url, raised.short_id, raised.id)]
        assert {issue.id for issue in seen} == {raised.id}
        issue = seen[0]
        assert issue == backend.tracker.issue(raised.id)
        assert issue.short_id == raised.short_id
        assert issue.short_id.upper().startswith(backend.project_slug.upper() + "-")
        assert "KeyError" in issue.title
        assert issue.status == "unresolved" and issue.count >= 1
        assert issue.first_seen is not None and issue.first_seen.tzinfo is not None
        assert issue.last_seen is not None and issue.last_seen >= issue.first_seen
        assert backend.tracker.status(raised.id) == "unresolved"
        # The permalink is the page people paste: it names the same issue again.
        assert backend.tracker.resolve(issue.permalink).id == raised.id

    def test_an_unknown_or_malformed_reference_is_invalid_not_a_crash(self, backend):
        assert backend.tracker.issue(backend.unknown_id()) is None
        assert backend.tracker.status(backend.unknown_id()) is None
        with pytest.raises(InvalidValue):
            backend.tracker.resolve(backend.unknown_id())
        for bad in ("", "not a reference", "https://example.com/issues/1/", backend.foreign_url):
            with pytest.raises(InvalidValue):
                backend.tracker.resolve(bad)

    def test_a_refused_token_names_the_service_and_never_the_token(self, backend):
        with pytest.raises(CredentialsRefused) as refused:
            backend.with_token(CANARY).check()
        assert backend.tracker.service in str(refused.value)
        assert CANARY not in str(refused.value) and CANARY not in repr(refused.value)

    def test_project_slugs_are_the_short_id_prefixes(self, backend):
        raised = backend.raise_into(_crash("prefix check"))
        slugs = [s.upper() for s in backend.tracker.project_slugs()]
        assert raised.short_id.rsplit("-", 1)[0].upper() in slugs

    def test_references_in_a_conversation_are_found_once_each(self, backend):
        raised = backend.raise_into(_crash("found in a conversation"))
        prefix = raised.short_id.rsplit("-", 1)[0]
        texts = [f"Crash again, see {raised.url} (also {raised.short_id}).",
                 f"Same as {raised.short_id}; not {backend.foreign_url}; version UTF-8 COVID-19."]
        refs, _ = backend.tracker.references(texts, short_id_prefixes=[prefix], known_ids=[])
        assert refs, "nothing found"
        assert {backend.tracker.resolve(r).id for r in refs} == {raised.id}
        assert len(refs) == len(set(refs)) == 2  # the URL and the short id, each once
        refs, _ = backend.tracker.references([f"id {raised.id} only"], short_id_prefixes=[],
                                             known_ids=[raised.id])
        assert [backend.tracker.resolve(r).id for r in refs] == [raised.id]

    def test_listing_follows_every_page(self, backend):
        fingerprints = [f"contract-page-{uuid.uuid4().hex[:8]}-{n}" for n in range(12)]
        raised = {backend.raise_into(_crash(f"page {n}"), fingerprint=[fp]).id
                  for n, fp in enumerate(fingerprints)}
        assert len(raised) == 12
        listed = {issue.id for issue in backend.tracker.issues()}
        assert raised <= listed

    def test_a_resolved_issue_seen_again_is_unresolved_again(self, backend):
        fingerprint = [f"contract-regression-{uuid.uuid4().hex[:8]}"]
        raised = backend.raise_into(_crash("regression"), fingerprint=fingerprint)
        backend.resolve(raised.id)
        assert backend.tracker.status(raised.id) == "resolved"
        again = backend.raise_into(_crash("regression"), fingerprint=fingerprint)
        assert again.id == raised.id
        issue = backend.tracker.issue(raised.id)
        assert issue.status == "unresolved" and issue.count >= 2

    def test_an_ignored_or_muted_issue_reads_ignored(self, backend):
        raised = backend.raise_into(_crash("muted"), fingerprint=[f"contract-mute-{uuid.uuid4().hex[:8]}"])
        backend.mute(raised.id)
        assert backend.tracker.status(raised.id) == "ignored"
