"""Resident memory of the benchmark's sync process: its peak, and its growth over a run.

* :class:`RunPeak` — the growth of the resident set over a stretch of code. On Linux the
  kernel tracks the peak exactly: writing ``5`` to ``/proc/self/clear_refs`` resets
  ``VmHWM`` to the current size, so reading it after the run gives the run's own peak with
  nothing running beside the measured code. Where that file cannot be written, a thread
  samples the resident size every 5 ms instead (that thread costs the run CPU and turns of
  the interpreter lock, about 4 % of a 10,000-change sync: the reason it is the fallback).
* :func:`peak_rss_mb` — the process's peak resident memory, start-up (imports) included:
  what the machine must give a cron-started ``bridge sync``.

Not ``ru_maxrss`` for either: the interpreter's start-up usually sets the process's peak
already (memory freed then is reused by the run without raising it), and Linux keeps
``ru_maxrss`` across ``execve``, so a child started by multiprocessing's spawn (fork, then
exec) reports at least its parent's size at the fork.
"""

from __future__ import annotations

import resource
import threading

_STATUS = "/proc/self/status"


def _status_kb(field: str) -> int | None:
    """A ``kB`` field of ``/proc/self/status`` (``VmHWM``, ``VmRSS``); None off Linux."""
    try:
        with open(_STATUS) as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class RunPeak:
    """How far the resident set grew over a stretch of code (:meth:`start` … :meth:`stop`)."""

    def __init__(self, every_s: float = 0.005) -> None:
        self._every = every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: The process's peak before the stretch (the kernel's figure is reset for it).
        self.before_kb = _status_kb("VmHWM")
        self._start_kb = _status_kb("VmRSS") or 0
        self._peak_kb = self._start_kb
        self.kernel = False  # True: the kernel's own peak (no sampling thread)

    def start(self) -> "RunPeak":
        try:
            with open("/proc/self/clear_refs", "w") as clear:
                clear.write("5")  # VmHWM := VmRSS now
            self.kernel = _status_kb("VmHWM") is not None
        except OSError:
            self.kernel = False
        if not self.kernel:
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self._every):
            self._peak_kb = max(self._peak_kb, _status_kb("VmRSS") or 0)

    def stop(self) -> float:
        """Stop measuring; the peak growth in MB."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
        now = _status_kb("VmHWM" if self.kernel else "VmRSS") or 0
        self._peak_kb = max(self._peak_kb, now)
        return (self._peak_kb - self._start_kb) / 1024

    def process_peak_mb(self) -> float:
        """The process's peak resident memory in MB, before the stretch and during it."""
        if not self.kernel or self.before_kb is None:
            return peak_rss_mb()  # the kernel's figure was not reset: it covers both
        return max(self.before_kb, _status_kb("VmHWM") or 0) / 1024


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB: ``VmHWM`` where Linux has it."""
    peak = _status_kb("VmHWM")
    if peak is not None:
        return peak / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
