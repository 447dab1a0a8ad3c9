"""A long-running command stops on SIGTERM whichever of its threads the kernel hands the
signal to (``bridge/stop_signal.py``).

Each case runs a fresh interpreter whose main thread waits while another thread takes
the signal (``signal.pthread_kill``), which is what Linux does when the main thread
already has a signal pending: the C handler runs there and only sets a flag for the main
thread's next bytecode.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.stop_signal import StopSignal

#: Generous: the waits below end within StopSignal's 0.2 s slice, or never.
PATIENCE_S = 30

SIGNAL_ON_ANOTHER_THREAD = """
import signal, sys, threading, time
{setup}
waiting = threading.Event()
def elsewhere():
    # Once the main thread is blocked in the wait under test: a signal it is still running
    # code for is handled at its next bytecode, whichever thread took it. It is about to
    # wait once it says so, and blocked there once its wchan shows a futex on five looks in
    # a row with this thread asleep in between (a wait for the interpreter lock would end).
    waiting.wait()
    main = f"/proc/self/task/{{threading.main_thread().native_id}}/wchan"
    deadline, seen = time.monotonic() + 10, 0
    while seen < 5 and time.monotonic() < deadline:
        seen = seen + 1 if "futex" in open(main).read() else 0
        time.sleep(0.01)
    signal.pthread_kill(threading.get_ident(), signal.SIGTERM)  # this thread, not the main one
threading.Thread(target=elsewhere).start()
waiting.set()
{wait}
print("stopped", flush=True)
"""


def run(setup: str, wait: str, timeout: float) -> subprocess.CompletedProcess:
    script = SIGNAL_ON_ANOTHER_THREAD.format(setup=textwrap.dedent(setup), wait=textwrap.dedent(wait))
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout)


needs_proc = pytest.mark.skipif(not Path("/proc/self/wchan").exists(),
                                reason="needs Linux's /proc to see the main thread blocked")


@needs_proc
def test_a_signal_taken_by_another_thread_stops_the_wait() -> None:
    done = run("from bridge.stop_signal import StopSignal\nstop = StopSignal().install()", "stop.wait()",
               timeout=PATIENCE_S)
    assert done.returncode == 0 and done.stdout == "stopped\n", done.stderr


@needs_proc
def test_an_event_wait_without_timeout_misses_that_signal() -> None:
    """The failure the class exists for (so the test above can fail): the handler is
    pending, but the main thread never runs another bytecode to call it."""
    stop_setup = "stop = threading.Event()\nfor s in (signal.SIGINT, signal.SIGTERM):\n    signal.signal(s, lambda *_: stop.set())"
    with pytest.raises(subprocess.TimeoutExpired):
        run(stop_setup, "stop.wait()", timeout=3)


def test_set_stops_the_wait_from_another_thread() -> None:
    stop = StopSignal()
    threading.Timer(0.05, stop.set).start()
    assert stop.wait(PATIENCE_S) is True and stop.is_set()


@settings(max_examples=20, deadline=None)
@given(st.floats(min_value=0, max_value=0.05))
def test_a_wait_with_a_timeout_ends_unset_when_nothing_asks(timeout: float) -> None:
    stop = StopSignal()
    assert stop.wait(timeout) is False and not stop.is_set()
