"""Freshdesk's Rails (ActiveSupport) zone names -> IANA zones (bridge.connectors.rails_zones).

The table must stay usable on every machine the bridge runs on: each of its IANA zones has
to load with ``zoneinfo`` (system zone files or the ``tzdata`` package the bridge depends
on), or a customer in that zone would silently get the profile's fallback.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import given, settings, strategies as st

from bridge.connectors.rails_zones import RAILS_TO_IANA, RENAMED, iana_zone

ALL_NAMES = sorted({**RAILS_TO_IANA, **RENAMED})


def test_every_zone_of_the_table_loads_with_zoneinfo():
    for name, zone in {**RAILS_TO_IANA, **RENAMED}.items():
        assert ZoneInfo(zone).key == zone, name


def test_the_table_is_rails_whole_mapping():
    # ActiveSupport::TimeZone::MAPPING has 154 names (its own comment: "a meaningful subset
    # of 154 zones"); the ones Freshdesk's documentation and users show map as Rails maps them.
    assert len(RAILS_TO_IANA) == 154
    assert RAILS_TO_IANA["Chennai"] == "Asia/Kolkata"
    assert RAILS_TO_IANA["Eastern Time (US & Canada)"] == "America/New_York"
    assert RAILS_TO_IANA["Pacific Time (US & Canada)"] == "America/Los_Angeles"
    assert RAILS_TO_IANA["London"] == RAILS_TO_IANA["Edinburgh"] == "Europe/London"
    assert RAILS_TO_IANA["Amsterdam"] == "Europe/Amsterdam"
    assert RAILS_TO_IANA["International Date Line West"] == "Etc/GMT+12"
    assert RAILS_TO_IANA["Nuku'alofa"] == "Pacific/Tongatapu"
    assert RAILS_TO_IANA["UTC"] == "Etc/UTC"
    assert not set(RENAMED) & set(RAILS_TO_IANA)


@pytest.mark.parametrize("name, zone", [
    ("Chennai", "Asia/Kolkata"), ("Kolkata", "Asia/Kolkata"), ("Warsaw", "Europe/Warsaw"),
    ("Kyev", "Europe/Kyiv"), ("Ulaan Bataar", "Asia/Ulaanbaatar"),
    ("chennai", "Asia/Kolkata"), ("  London ", "Europe/London"),          # Freshdesk's apps show lower case
    ("Asia/Kolkata", "Asia/Kolkata"), ("America/Sao_Paulo", "America/Sao_Paulo"),  # IANA passes through
    ("Olympus Mons (Mars)", None), ("Mars/Olympus_Mons", None), ("", None), ("America", None),
    ("../../etc/passwd", None), (None, None), (330, None), (["Chennai"], None),
])
def test_names(name, zone):
    assert iana_zone(name) == zone


@settings(max_examples=300)
@given(st.sampled_from(ALL_NAMES), st.sampled_from([str, str.lower, str.upper, lambda n: f" {n}\t"]))
def test_any_name_of_the_table_maps_to_a_zone_zoneinfo_accepts(name, spelling):
    zone = iana_zone(spelling(name))
    assert zone == {**RAILS_TO_IANA, **RENAMED}[name]
    ZoneInfo(zone)


@settings(max_examples=150)
@given(st.sampled_from(sorted(available_timezones())))
def test_an_iana_name_passes_through_as_it_is(zone):
    # Two IANA names are Rails names as well ("UTC", "Singapore"): those read as the table
    # says (the same zone under its canonical name), which the table's own test pins.
    assert iana_zone(zone) == RAILS_TO_IANA.get(zone, zone)


@settings(max_examples=500)
@given(st.one_of(st.text(), st.text(alphabet="AaEeSsTt/_-+().& 0123456789"), st.none(), st.integers(),
                 st.binary(), st.lists(st.text())))
def test_arbitrary_values_never_raise(value):
    zone = iana_zone(value)
    assert zone is None or ZoneInfo(zone).key == zone
