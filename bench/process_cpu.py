"""CPU seconds of the processes a benchmark run shares the machine with.

A sync run's wall time is its own CPU, plus the time it waits on the emulators and on the
store's server (which, on a two-core machine, also take turns with it for the cores), plus
the requests' latency. The benchmarks print the first three side by side so that a wall
time can be read: which process the seconds went to.

* :func:`own_cpu_s` — this process, every thread (the emulators' process reports it over
  its pipe);
* :func:`postgres_cpu_s` — every PostgreSQL server process on this machine, the backends
  that have exited since included: the postmaster's reaped children's time (Linux's
  ``cutime``/``cstime``) counts them, so a difference of two readings is the server's work
  in between even when the connections closed. None where ``/proc`` shows no server (not
  Linux, or the server runs elsewhere).
"""

from __future__ import annotations

import os
import time


def own_cpu_s() -> float:
    """CPU seconds this process has used, every thread."""
    return time.process_time()


def _stat(pid: str) -> tuple[str, int, list[str]] | None:
    """(command name, parent pid, the fields after the name) of ``/proc/<pid>/stat``."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None  # gone since the listing, or not ours to read
    # The name is in parentheses and may itself hold spaces or parentheses.
    name = text[text.index("(") + 1:text.rindex(")")]
    rest = text[text.rindex(")") + 2:].split()
    return name, int(rest[1]), rest


def postgres_cpu_s() -> float | None:
    """CPU seconds used so far by this machine's PostgreSQL servers (see the module
    docstring); None when there is none to read."""
    if not os.path.isdir("/proc"):
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    servers = {}
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            found = _stat(pid)
            if found is not None and found[0] in ("postgres", "postmaster"):
                servers[int(pid)] = found
    if not servers:
        return None
    total = 0
    for _, (_, parent, rest) in servers.items():
        # Fields 14-17 of stat (utime, stime, cutime, cstime) are 11-14 after the name.
        utime, stime, cutime, cstime = (int(v) for v in rest[11:15])
        total += utime + stime
        if parent not in servers:  # the postmaster: its exited backends' time too
            total += cutime + cstime
    return total / ticks
