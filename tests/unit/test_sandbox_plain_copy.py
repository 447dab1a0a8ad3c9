"""The Zendesk emulator's copy of a record shares nothing an answer's reader could change."""

from __future__ import annotations

import copy
from datetime import datetime, timezone

from hypothesis import given
from hypothesis import strategies as st

from bridge.sandbox.zendesk_format import plain_copy

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=30,
)


def containers(value: object) -> list[object]:
    """Every dict and list inside ``value`` (itself included)."""
    found: list[object] = []
    if isinstance(value, dict):
        found.append(value)
        for item in value.values():
            found.extend(containers(item))
    elif isinstance(value, list):
        found.append(value)
        for item in value:
            found.extend(containers(item))
    return found


@given(JSON)
def test_a_copy_equals_the_record_and_shares_no_container(record: object) -> None:
    copied = plain_copy(record)
    assert copied == record == copy.deepcopy(record)
    originals = {id(c) for c in containers(record)}
    assert not originals & {id(c) for c in containers(copied)}


def test_anything_else_in_a_record_is_deep_copied() -> None:
    odd = {"at": datetime(2026, 12, 2, tzinfo=timezone.utc), "pair": (1, [2]), "seen": {3}}
    copied = plain_copy(odd)
    assert copied == odd
    assert copied["pair"][1] is not odd["pair"][1] and copied["seen"] is not odd["seen"]
