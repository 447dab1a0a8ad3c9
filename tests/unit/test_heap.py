"""bridge.heap: a pass collects its own garbage, not the whole heap, and leaves the
collector as it found it, however many passes overlap on threads."""

from __future__ import annotations

import gc
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.heap import PASS_GEN0_THRESHOLD, fewer_collections
from tests.fixtures.collector import wait_until_no_pass_runs


@pytest.fixture(autouse=True)
def no_other_pass():
    wait_until_no_pass_runs()


class Cycle:
    def __init__(self) -> None:
        self.me = self


def test_inside_a_pass_older_objects_are_frozen_and_young_ones_collected_less_often():
    before = gc.get_threshold()
    old = Cycle()
    with fewer_collections():
        assert gc.get_threshold() == (max(PASS_GEN0_THRESHOLD, before[0]), *before[1:])
        assert gc.get_freeze_count() > 0  # `old` and everything else alive at the start
        young = Cycle()
        del young
        assert gc.collect() >= 1  # the pass's own cycles are still collected
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
    del old


def test_an_error_inside_restores_the_collector():
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), fewer_collections():
        raise RuntimeError("the pass failed")
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


@settings(max_examples=30, deadline=None)
@given(st.lists(st.booleans(), min_size=2, max_size=12))
def test_overlapping_passes_on_threads_restore_only_when_the_last_ends(order):
    """Threads enter and leave in an order hypothesis picks (True: the next thread enters,
    False: the longest-running one leaves); the collector is changed while any is inside."""
    before = gc.get_threshold()
    inside: list[tuple[threading.Event, threading.Thread]] = []
    entered = threading.Semaphore(0)

    def one_pass(leave: threading.Event) -> None:
        with fewer_collections():
            entered.release()
            leave.wait()

    try:
        for enter in order:
            if enter or not inside:
                leave = threading.Event()
                thread = threading.Thread(target=one_pass, args=(leave,), daemon=True)
                thread.start()
                entered.acquire()
                inside.append((leave, thread))
            else:
                leave, thread = inside.pop(0)
                leave.set()
                thread.join()
            assert (gc.get_threshold() != before) == bool(inside) or before[0] >= PASS_GEN0_THRESHOLD
            assert (gc.get_freeze_count() > 0) == bool(inside)
    finally:  # a failed check still lets every pass end
        for leave, thread in inside:
            leave.set()
            thread.join()
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_a_heap_the_program_froze_itself_stays_frozen():
    kept = Cycle()
    gc.freeze()
    try:
        with fewer_collections():
            pass
        # Unfreezing empties the permanent generation (objects freed meanwhile leave it too,
        # so its size is not compared).
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
    del kept


def _arenas(mode: str, **env: str) -> int:
    import os
    import subprocess
    import sys
    from pathlib import Path

    probe = Path(__file__).resolve().parents[1] / "fixtures" / "arena_probe.py"
    env = {**{k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}, **env}
    done = subprocess.run([sys.executable, str(probe), mode], capture_output=True, text=True, env=env, timeout=60,
                          check=True)
    return int(done.stdout.strip())


@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="glibc's malloc arenas")
def test_a_pass_keeps_the_c_heap_to_two_malloc_arenas_unless_the_operator_says_otherwise():
    # Without: glibc gives each of the eight threads an arena of its own.
    assert _arenas("plain") > 4
    assert _arenas("pass") <= 2
    assert _arenas("pass", MALLOC_ARENA_MAX="4") == 4  # the operator's value stands
