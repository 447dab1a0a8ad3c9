"""The sync pass's batches applied on a thread of their own (bridge/sync/pipeline.py): in the
order they were planned, one at a time, each batch's bookkeeping on the planning thread, and
no batch applied after one before it failed. Threads are driven by events, not by time."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.sync.pipeline import AppliedInTurn


def test_a_batch_is_applied_while_the_next_is_planned_and_its_bookkeeping_runs_on_the_planning_thread():
    applying = AppliedInTurn(parallel=True)
    started, release = threading.Event(), threading.Event()
    threads: dict[str, threading.Thread] = {}

    def apply_first():
        threads["apply"] = threading.current_thread()
        started.set()
        assert release.wait(30)

    applying.submit(apply_first, ["101", "102"], then=lambda: threads.setdefault("then", threading.current_thread()))
    assert started.wait(30)
    # The first batch is still being applied, and the caller is free: it plans the next.
    assert applying.working(["102", "200"]) and not applying.working(["200"])
    release.set()
    applying.wait()
    applying.close()
    assert threads["apply"] is not threading.current_thread()
    assert threads["then"] is threading.current_thread()
    assert not applying.working(["101"])


def test_the_next_batch_waits_for_the_one_being_applied():
    applying = AppliedInTurn(parallel=True)
    order: list[str] = []
    release = threading.Event()

    def first():
        assert release.wait(30)
        order.append("first applied")

    applying.submit(first, ["1"], then=lambda: order.append("first done"))
    # submit() of the second returns only once the first is applied and its bookkeeping done.
    releaser = threading.Timer(0, release.set)
    releaser.start()
    applying.submit(lambda: order.append("second applied"), ["2"], then=lambda: order.append("second done"))
    applying.wait()
    applying.close()
    releaser.join()
    assert order == ["first applied", "first done", "second applied", "second done"]


@settings(max_examples=30, deadline=None)
@given(outcomes=st.lists(st.booleans(), min_size=1, max_size=8), parallel=st.booleans())
def test_batches_are_applied_in_order_and_none_after_one_that_failed(outcomes, parallel):
    """``outcomes``: per batch, whether applying it succeeds."""
    applying = AppliedInTurn(parallel=parallel)
    applied: list[int] = []
    done: list[int] = []

    def apply(n: int, ok: bool):
        def run():
            applied.append(n)
            if not ok:
                raise RuntimeError(f"batch {n} failed")
        return run

    first_failure = next((n for n, ok in enumerate(outcomes) if not ok), None)
    try:
        for n, ok in enumerate(outcomes):
            applying.submit(apply(n, ok), [str(n)], then=lambda n=n: done.append(n))
        applying.wait()
    except RuntimeError as exc:
        assert str(exc) == f"batch {first_failure} failed"
        applying.abandon()
    else:
        assert first_failure is None
        applying.close()
    last = len(outcomes) - 1 if first_failure is None else first_failure
    # In order, and nothing after the failed one (which its successor's submit reported).
    assert applied == list(range(last + 1))
    assert done == list(range(last if first_failure is not None else last + 1))


def test_abandon_waits_for_the_batch_being_applied():
    applying = AppliedInTurn(parallel=True)
    release, finished = threading.Event(), threading.Event()

    def apply():
        assert release.wait(30)
        finished.set()

    applying.submit(apply, ["1"], then=lambda: None)
    threading.Timer(0, release.set).start()
    applying.abandon()  # the pass failed elsewhere: its writes in flight still land first
    assert finished.is_set()


def test_without_parallel_sessions_each_batch_is_applied_on_the_callers_thread():
    applying = AppliedInTurn(parallel=False)
    seen: list[threading.Thread] = []
    applying.submit(lambda: seen.append(threading.current_thread()), ["1"],
                    then=lambda: seen.append(threading.current_thread()))
    assert seen == [threading.current_thread()] * 2
    assert not applying.working(["1"])
    applying.close()


def test_an_error_of_a_batch_is_raised_at_the_next_submit():
    applying = AppliedInTurn(parallel=True)

    def fail():
        raise LookupError("lease lost")

    applying.submit(fail, ["1"], then=lambda: None)
    with pytest.raises(LookupError, match="lease lost"):
        applying.submit(lambda: pytest.fail("applied after a failed batch"), ["2"], then=lambda: None)
    applying.abandon()


def test_leaving_the_block_waits_for_the_batch_in_flight_and_the_pass_error_stands():
    release, finished = threading.Event(), threading.Event()

    def apply():
        assert release.wait(30)
        finished.set()

    with pytest.raises(KeyError, match="planning failed"):
        with AppliedInTurn(parallel=True) as applying:
            applying.submit(apply, ["1"], then=lambda: None)
            threading.Timer(0, release.set).start()
            raise KeyError("planning failed")  # the pass fails while batch 1 is written
    assert finished.is_set()

    done: list[str] = []
    with AppliedInTurn(parallel=True) as applying:
        applying.submit(lambda: done.append("applied"), ["2"], then=lambda: done.append("then"))
    assert done == ["applied", "then"]  # leaving the block waited for it
