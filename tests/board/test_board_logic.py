"""Property tests of the board's pure pieces: redirects after sign-in, filters from the
query string, time-left wording and the SLA attainment table."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from flask import Flask
from hypothesis import example, given
from hypothesis import strategies as st

from bridge.board import _left
from bridge.board.auth import _safe_next
from bridge.board.listing import STANDINGS, BadFilter, Filters
from bridge.board.report import attainment_rows

_app = Flask("logic")
_app.add_url_rule("/", "board.board", lambda: "")

NOW = datetime(2026, 12, 1, 12, tzinfo=timezone.utc)


@example("/\\evil.example/")
@example("/\t/evil.example/")
@example("//evil.example")
@example("https://evil.example")
@given(st.text(alphabet=st.sampled_from("/\\:.\tahttps"), max_size=20) | st.text(max_size=200))
def test_after_sign_in_the_browser_never_leaves_the_board(target):
    with _app.test_request_context("/login"):
        where = _safe_next(target)
    assert where.startswith("/") and where[1:2] not in ("/", "\\")
    assert not any(c in where for c in "\\\t\r\n")
    assert where == target or where == "/"


@example({"q": "101\x00"})
@example({"organization": "x" * 150 + "\x00"})  # past the 100 characters kept: refused all the same
@example({"page": "\x00", "x": "\x00"})  # not text filters: nothing to refuse
@given(st.dictionaries(st.sampled_from(["severity", "tier", "organization", "standing", "q", "page", "x"]),
                       st.text(max_size=300)))
def test_any_query_string_makes_valid_filters_or_names_a_nul(args):
    if any("\x00" in args.get(k, "") for k in ("severity", "tier", "organization", "standing", "q")):
        # PostgreSQL cannot compare a NUL: the page answers 400 instead of a 500.
        with pytest.raises(BadFilter, match="cannot contain a NUL"):
            Filters.from_args(args)
        return
    f = Filters.from_args(args)
    assert f.page >= 1
    assert all(len(getattr(f, k)) <= 100 for k in ("severity", "tier", "organization", "standing", "q"))
    again = Filters.from_args({k: str(v) for k, v in f.args().items()})
    assert again == f


@given(st.integers(min_value=-10**7, max_value=10**7))
def test_time_left_says_left_or_over(seconds):
    text = _left(NOW + timedelta(seconds=seconds), NOW)
    assert text.endswith(" left") if seconds >= 0 else text.endswith(" over")


_clock = st.fixed_dictionaries({
    "best_effort": st.booleans(),
    "first_response_due": st.one_of(st.none(), st.just("2026-11-30T10:00:00+00:00")),
    "first_response_breached": st.booleans(),
    "first_response_at": st.one_of(st.none(), st.just("2026-11-30T09:00:00+00:00")),
    "status_update_every": st.one_of(st.none(), st.just("PT4H")),
    "update_breached": st.booleans(),
})
_row = st.fixed_dictionaries({
    "opened_at": st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 1),
                              timezones=st.just(timezone.utc)).map(datetime.isoformat),
    "severity": st.sampled_from(["urgent", "high", "low"]),
    "tier": st.sampled_from(["premium", "standard", None]),
    "standing": st.sampled_from(STANDINGS),
    "sla": st.one_of(st.none(), _clock),
})


@given(st.lists(_row, max_size=60))
def test_attainment_counts_each_clocked_escalation_once(rows):
    table = attainment_rows(rows)
    clocked = [r for r in rows if r["sla"] and not r["sla"]["best_effort"]]
    # A first response counts once decided: made, or overdue; one still running in neither.
    decided = [r for r in clocked if r["sla"]["first_response_due"]
               and (r["sla"]["first_response_at"] or r["sla"]["first_response_breached"])]
    assert sum(t[4] for t in table) == len(decided)
    assert sum(t[6] for t in table) == sum(1 for r in clocked if r["sla"]["status_update_every"])
    assert sum(t[3] for t in table) == sum(1 for r in decided if not r["sla"]["first_response_breached"])
    for _, _, _, met, total, on_time, updates in table:
        assert 0 <= met <= total and 0 <= on_time <= updates
