"""The sync retry list's arithmetic (pure): what a pass leaves on it for the next full pass."""

from __future__ import annotations

import json
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from bridge.sync.items import retry_list, retry_list_after

ids = st.lists(st.sampled_from(["10000", "10001", "10002", "10010", "2"]), max_size=8)


@given(stored=ids, failed=ids, data=st.data())
def test_a_full_pass_takes_out_what_it_read_and_nothing_another_pass_added(stored, failed, data):
    read = data.draw(st.lists(st.sampled_from(stored), max_size=len(stored), unique=True)) if stored else []
    after = Counter(retry_list(retry_list_after(json.dumps(stored), failed, read)))
    # Every Bug this pass failed on is on the list, and so is every entry it did not read.
    assert set(failed) <= set(after)
    assert after - Counter(set(failed)) == Counter(stored) - Counter(read)


@given(stored=ids, failed=ids)
def test_a_partial_pass_only_adds(stored, failed):
    after = Counter(retry_list(retry_list_after(json.dumps(stored), failed)))
    assert after == Counter(stored) + Counter(set(failed))


def test_nothing_failed_and_everything_read_leaves_an_empty_list_as_before():
    assert retry_list_after(None, []) == "[]"
    assert retry_list_after('["10", "9"]', [], ["10", "9"]) == "[]"
    assert retry_list(retry_list_after("[]", ["10", "9", "10"])) == ["9", "10"]
