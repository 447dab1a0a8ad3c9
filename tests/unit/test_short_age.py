"""`short_age`: what `bridge status` says of a backlog, a last delivery, a waiting job."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from bridge.policy.durations import short_age

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def test_examples():
    assert [short_age(s) for s in (-3, 0, 59.9, 60, 3599, 3600, 86399, 86400, 200000)] == \
        ["0s", "0s", "59s", "1m", "59m", "1h", "23h", "1d", "2d"]


@given(st.floats(min_value=0, max_value=10**9, allow_nan=False))
def test_the_age_is_the_largest_whole_unit_rounded_down(seconds):
    number, unit = re.fullmatch(r"(\d+)([smhd])", short_age(seconds)).groups()
    size = UNITS[unit]
    assert int(number) * size <= seconds < (int(number) + 1) * size
    # Never a smaller unit than the age allows (no "90m" for an hour and a half).
    larger = [s for s in UNITS.values() if s > size]
    assert unit == "d" or seconds < min(larger)
