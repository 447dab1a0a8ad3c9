"""Bugsink's issue JSON becomes an ErrorIssue with Sentry's status words (pure mapping)."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from hypothesis import given
from hypothesis import strategies as st

from bridge.connectors.bugsink import issue_from_json, status_of

BASE = "https://errors.example.com"


@given(resolved=st.booleans(), unconditionally=st.booleans(), next_release=st.booleans(), muted=st.booleans())
def test_every_flag_combination_has_one_sentry_status(resolved, unconditionally, next_release, muted):
    body = {"is_resolved": resolved, "is_resolved_unconditionally": unconditionally,
            "is_resolved_by_next_release": next_release, "is_muted": muted}
    status = status_of(body)
    assert status in ("unresolved", "resolved", "ignored", "resolvedInNextRelease")
    # Sync's regression check needs exactly this: open is "unresolved", nothing else is.
    assert (status == "unresolved") == (not resolved and not muted and not (next_release and not unconditionally))


@given(issue_id=st.uuids(), number=st.integers(1, 10**6), count=st.integers(0, 10**9),
       kind=st.sampled_from(["", "KeyError", "django.http.Http404"]),
       value=st.text(max_size=40), seen=st.datetimes(timezones=st.just(timezone.utc)))
def test_an_issue_body_maps_onto_the_model(issue_id: uuid.UUID, number, count, kind, value, seen: datetime):
    body = {"id": str(issue_id).upper(), "friendly_id": f"BACKEND-{number}", "project": 1,
            "first_seen": seen.isoformat().replace("+00:00", "Z"), "last_seen": seen.isoformat(),
            "digested_event_count": count, "calculated_type": kind, "calculated_value": value,
            "transaction": "", "is_resolved": False, "is_muted": False}
    issue = issue_from_json(body, base_url=BASE, project_slug="backend")
    assert issue.id == str(issue_id) and issue.short_id == f"BACKEND-{number}"
    assert issue.permalink == f"{BASE}/issues/issue/{issue_id}/"
    assert issue.first_seen == issue.last_seen == seen
    assert (issue.count, issue.project, issue.tracker, issue.culprit) == (count, "backend", "bugsink", None)
    assert issue.title == (f"{kind}: {value}" if kind and value else kind or value or f"BACKEND-{number}")
