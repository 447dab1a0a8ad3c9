"""JIRA's timestamps (``2021-01-17T12:34:00.000+0000``) read as the instants they name."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.connectors.jira import parse_jira_time

offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
moments = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=offsets)


def as_jira_writes(moment: datetime) -> str:
    """The way JIRA (Cloud and Data Center) writes a time: milliseconds, ``+hhmm``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}" + moment.strftime("%z")


@given(moments)
def test_a_jira_time_is_read_as_strptime_reads_it(moment):
    text = as_jira_writes(moment)
    parsed = parse_jira_time(text)
    assert parsed == datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")
    assert parsed.utcoffset() == moment.utcoffset()


def test_examples_and_refusals():
    assert parse_jira_time("2021-01-17T12:34:00.000+0000") == datetime(2021, 1, 17, 12, 34, tzinfo=timezone.utc)
    assert parse_jira_time("2021-01-17T12:34:00.250-0530") == datetime(2021, 1, 17, 18, 4, 0, 250000,
                                                                        tzinfo=timezone.utc)
    assert parse_jira_time(None) is None and parse_jira_time("") is None
    with pytest.raises(ValueError):
        parse_jira_time("2021-01-17T12:34:00.000")  # no offset: which instant is unknown
    with pytest.raises(ValueError):
        parse_jira_time("yesterday")
