"""bridge.in_flight.ahead: the next item fetched while the caller works on this one."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.in_flight import ahead


@given(st.lists(st.integers(), max_size=30), st.integers(min_value=0, max_value=8))
def test_the_items_come_in_order_and_all_of_them(items, depth):
    assert list(ahead(iter(items), depth)) == items


@pytest.mark.parametrize("depth", [1, 3])
def test_the_next_items_are_fetched_while_the_caller_works_on_this_one_and_no_more(depth):
    fetched: list[int] = []
    last_asked = threading.Event()

    def pages():
        for n in range(10):
            fetched.append(n)
            if n == depth:
                last_asked.set()
            yield n

    walk = ahead(pages(), depth)
    assert next(walk) == 0
    assert last_asked.wait(10)  # fetched before the caller asked for them
    assert fetched == list(range(depth + 1))  # and no further: depth fetches ahead at most
    assert list(walk) == list(range(1, 10))


def test_a_failing_fetch_raises_where_its_item_would_have_come():
    def pages():
        yield "first"
        raise ValueError("page 2 was malformed")

    walk = ahead(pages())
    assert next(walk) == "first"
    with pytest.raises(ValueError, match="page 2"):
        next(walk)


def test_a_caller_that_stops_early_leaves_no_fetch_running():
    started = []

    def pages():
        for n in range(100):
            started.append(n)
            yield n

    walk = ahead(pages())
    assert next(walk) == 0
    walk.close()
    assert len(started) <= 2
    assert not [t for t in threading.enumerate() if t.name.startswith("bridge-ahead")]


def test_a_caller_that_stops_early_on_a_deep_read_ahead_starts_no_further_fetch():
    started = []
    second_started, release = threading.Event(), threading.Event()

    def pages():
        for n in range(100):
            started.append(n)
            if n == 1:
                second_started.set()
                release.wait(10)  # the second fetch is under way when the caller stops
            yield n

    walk = ahead(pages(), depth=5)
    assert next(walk) == 0
    assert second_started.wait(10)
    threading.Timer(0.2, release.set).start()
    walk.close()
    assert started == [0, 1]  # the fetch under way ended; the queued ones never ran
    assert not [t for t in threading.enumerate() if t.name.startswith("bridge-ahead")]
