"""The ticket as the store last knew it (bridge.ticket_views): valid only at its version."""

from __future__ import annotations

from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st

from bridge.models import Ticket
from bridge.ticket_views import ticket_from_view, view_of

TEXT = st.text(max_size=40)
TAGS = st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=20), max_size=8)


def _ticket(version, subject="Exports fail", tags=("bridge_state_open",), status="open") -> Ticket:
    return Ticket(id="104", helpdesk="zendesk", subject=subject, description="long text", status=status,
                  priority="high", requester="Anna", requester_email="anna@example.com", organization="Acme",
                  tags=tuple(tags), version=version, locale="de")


def _link(view, known_version, *, locale="de-DE", last_status="pending"):
    return SimpleNamespace(ticket_id="104", helpdesk="zendesk", known_view=view, known_version=known_version,
                           locale=locale, last_status=last_status)


def test_a_view_gives_back_what_a_marked_write_needs_and_nothing_personal():
    view = view_of(_ticket("2026-12-01T10:00:00Z"))
    ticket = ticket_from_view(_link(view, "2026-12-01T10:00:00Z"))
    assert (ticket.id, ticket.helpdesk, ticket.version) == ("104", "zendesk", "2026-12-01T10:00:00Z")
    assert (ticket.subject, ticket.status, ticket.tags, ticket.locale) == ("Exports fail", "open",
                                                                           ("bridge_state_open",), "de-DE")
    assert "anna" not in view.lower() and "long text" not in view


def test_a_view_of_another_version_or_none_at_all_counts_for_nothing():
    view = view_of(_ticket("v1"))
    assert ticket_from_view(_link(view, "v2")) is None
    assert ticket_from_view(_link(view, None)) is None
    assert ticket_from_view(_link(None, "v1")) is None
    assert view_of(_ticket(None)) is None


def test_a_malformed_view_counts_for_nothing():
    for raw in ("{", "[]", '"v1"', '{"version": "v1", "tags": "bridge_state_open"}',
                '{"version": "v1", "tags": [1]}', '{"version": "v1"}'):
        assert ticket_from_view(_link(raw, "v1")) is None, raw


@given(version=st.text(min_size=1, max_size=30), other=st.text(max_size=30), subject=TEXT, tags=TAGS,
       status=st.sampled_from(["new", "open", "pending", "hold", "solved", "closed"]))
def test_a_view_holds_exactly_at_its_own_version(version, other, subject, tags, status):
    view = view_of(_ticket(version, subject=subject, tags=tags, status=status))
    back = ticket_from_view(_link(view, version))
    assert (back.version, back.subject, back.tags, back.status) == (version, subject, tuple(tags), status)
    assert (ticket_from_view(_link(view, other)) is None) == (other != version)
