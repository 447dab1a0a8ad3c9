"""The sync pass's batches applied on threads of their own (bridge/sync/pipeline.py): up to
``depth`` at a time, each batch's bookkeeping on the planning thread in the order the
batches were planned, and no batch started once an earlier one is known to have failed.
Threads are driven by events, not by time."""

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


def test_at_depth_one_the_next_batch_waits_for_the_one_being_applied():
    applying = AppliedInTurn(parallel=True, depth=1)
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


def test_at_depth_two_a_second_batch_is_applied_beside_the_first_and_a_third_waits():
    applying = AppliedInTurn(parallel=True, depth=2)
    order: list[str] = []
    first_started, second_applied, release = threading.Event(), threading.Event(), threading.Event()

    def first():
        first_started.set()
        assert release.wait(30)
        order.append("first applied")

    def second():
        order.append("second applied")
        second_applied.set()

    applying.submit(first, ["1"], then=lambda: order.append("first done"))
    assert first_started.wait(30)
    applying.submit(second, ["2"], then=lambda: order.append("second done"))
    assert second_applied.wait(30)  # applied while the first is still being applied
    assert applying.working(["1"]) and applying.working(["2"])
    # The third waits for the oldest; bookkeeping follows the order of submission.
    release.set()
    applying.submit(lambda: order.append("third applied"), ["3"], then=lambda: order.append("third done"))
    assert order[:3] == ["second applied", "first applied", "first done"]
    applying.wait()
    applying.close()
    assert [o for o in order if o.endswith("done")] == ["first done", "second done", "third done"]
    assert order.index("third applied") < order.index("third done")


@settings(max_examples=40, deadline=None)
@given(outcomes=st.lists(st.booleans(), min_size=1, max_size=8), parallel=st.booleans(),
       depth=st.integers(1, 3))
def test_no_batch_starts_once_an_earlier_one_is_known_to_have_failed(outcomes, parallel, depth):
    """``outcomes``: per batch, whether applying it succeeds."""
    applying = AppliedInTurn(parallel=parallel, depth=depth)
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
    # Batch k + depth is submitted only once batch k is done: the failure of batch f is
    # known before batch f + depth starts (on the caller's thread, before f + 1 starts).
    at_once = depth if parallel else 1
    last = len(outcomes) - 1 if first_failure is None else min(len(outcomes) - 1, first_failure + at_once - 1)
    assert sorted(applied) == list(range(last + 1))
    if at_once == 1:
        assert applied == sorted(applied)  # one at a time: in order
    # Bookkeeping in order, for the batches before the failed one only.
    assert done == list(range(len(outcomes) if first_failure is None else first_failure))


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


@pytest.mark.parametrize("depth", [1, 2])
def test_an_error_of_a_batch_is_raised_at_the_submit_that_waits_for_it(depth):
    applying = AppliedInTurn(parallel=True, depth=depth)

    def fail():
        raise LookupError("lease lost")

    applying.submit(fail, ["1"], then=lambda: None)
    for n in range(2, depth + 1):  # room for these beside it
        applying.submit(lambda: None, [str(n)], then=lambda: None)
    with pytest.raises(LookupError, match="lease lost"):
        applying.submit(lambda: pytest.fail("applied after a failed batch"), ["9"], then=lambda: None)
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
