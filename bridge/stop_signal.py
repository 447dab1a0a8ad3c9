"""Stopping a long-running command (``bridge serve``, ``bridge sandbox``, ``bridge sync
--every``) on SIGINT or SIGTERM, every time.

Python runs a signal's handler on the main thread, at its next bytecode. The kernel may
deliver a signal sent to the process to any of its threads (Linux picks another thread
when the main one already has a signal pending), and then nothing interrupts the main
thread: one blocked in ``threading.Event().wait()`` without a timeout never reaches its
next bytecode, and the command ignores SIGTERM until it is killed. :class:`StopSignal`
waits in short slices instead, so a signal is acted on within :data:`SLICE_S`.

Its handler only sets a flag. Setting a ``threading.Event`` there could deadlock: the
handler may run on the main thread while that thread holds the event's own lock, inside
``Event.wait``.
"""

from __future__ import annotations

import signal
import threading
import time

#: The longest a wait goes without looking for a signal, in seconds.
SLICE_S = 0.2


class StopSignal:
    """Set by SIGINT or SIGTERM once :meth:`install` has run, or by :meth:`set`.

    ::

        stop = StopSignal().install()
        start_serving()
        stop.wait()          # returns within SLICE_S of the signal, whichever thread got it
        stop_serving()
    """

    def __init__(self) -> None:
        self._signalled = False
        self._event = threading.Event()

    def install(self, signals: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)) -> "StopSignal":
        """Handle ``signals`` by setting this flag (call on the main thread)."""
        for sig in signals:
            signal.signal(sig, self._on_signal)
        return self

    def _on_signal(self, signum: int, frame: object) -> None:
        self._signalled = True  # no lock: see the module's docstring

    def set(self) -> None:
        """Ask the waiter to stop, as a signal would (from any thread)."""
        self._event.set()

    def is_set(self) -> bool:
        """Whether a signal or :meth:`set` asked to stop."""
        return self._signalled or self._event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until asked to stop or ``timeout`` seconds passed (None: no limit); whether
        asked to stop."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.is_set():
            remaining = SLICE_S if deadline is None else min(SLICE_S, deadline - time.monotonic())
            if remaining <= 0:
                return False
            self._event.wait(remaining)
        return True
