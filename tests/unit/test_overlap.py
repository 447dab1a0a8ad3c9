"""bridge.sync.overlap: a batch applied behind the planning of the next, its results taken
in on the caller's thread in the order the batches were handed over."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.sync.overlap import BatchApplier, batches


@given(st.lists(st.integers(), max_size=40), st.integers(min_value=1, max_value=7))
def test_batches_keep_every_value_in_order_in_lists_of_at_most_size(values, size):
    got = list(batches(iter(values), size))
    assert [v for batch in got for v in batch] == values
    assert all(1 <= len(batch) <= size for batch in got)
    assert all(len(batch) == size for batch in got[:-1])


def _run(behind: bool, plan: list[int | str]) -> list:
    """Hand over one batch per entry (an int: its result; a str: the error it raises) and
    return what was taken in, and where an error stopped the caller."""
    taken: list = []
    caller = threading.current_thread()
    try:
        with BatchApplier(behind=behind) as applier:
            for n, entry in enumerate(plan):
                applier.wait()
                taken.append(("planned", n))

                def apply(entry=entry):
                    if isinstance(entry, str):
                        raise ValueError(entry)
                    return entry

                def take_in(result, n=n):
                    assert threading.current_thread() is caller
                    taken.append(("took", n, result))

                applier.submit(apply, take_in)
    except ValueError as exc:
        taken.append(("stopped", str(exc)))
    return taken


@given(st.lists(st.integers() | st.sampled_from(["lease lost", "store down"]), max_size=8))
def test_behind_or_not_the_caller_sees_the_same_results_in_the_same_order(plan):
    assert _run(True, plan) == _run(False, plan)


def test_a_batch_is_applied_while_the_caller_plans_the_next():
    planned_next = threading.Event()
    seen: list[bool] = []
    with BatchApplier(behind=True) as applier:
        applier.submit(lambda: seen.append(planned_next.wait(10)), lambda _: None)
        planned_next.set()  # the caller goes on while the batch is still being applied
        applier.wait()
    assert seen == [True]


def test_handing_over_a_batch_before_the_last_was_taken_in_is_refused():
    with BatchApplier(behind=False) as applier:
        applier.submit(lambda: 1, lambda _: None)
        with pytest.raises(RuntimeError, match="wait"):
            applier.submit(lambda: 2, lambda _: None)
        applier.wait()


def test_a_caller_that_fails_waits_for_the_batch_under_way_and_takes_nothing_in():
    release, ended = threading.Event(), threading.Event()
    taken: list = []

    def apply():
        release.wait(10)
        ended.set()

    with pytest.raises(KeyError):
        with BatchApplier(behind=True) as applier:
            applier.submit(apply, taken.append)
            threading.Timer(0.2, release.set).start()
            raise KeyError("planning the next batch failed")
    assert ended.is_set()  # the pass gives up its leases only after this
    assert taken == []
    assert not [t for t in threading.enumerate() if t.name.startswith("bridge-apply")]
