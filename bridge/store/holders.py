"""Who holds a lease or a claim: host, process, and whether that process provably died.

A lease or claim records the holder's host name, process id and *process scope* (the boot
and PID namespace the id belongs to). A holder is provably dead only when all three match
this process's host and scope and no process has that id: then nobody can still be working
under it, and its lease is taken over at once instead of after its expiry. Anything less
certain (another host, another container, a recycled id, no permission to ask) counts as
alive, and the lease lapses by its time.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

__all__ = ["Holder", "is_provably_dead", "this_process"]


@dataclass(frozen=True)
class Holder:
    """A lease holder's identity: its name and the process it runs in."""

    name: str
    host: str
    pid: int
    process_scope: str


@cache
def _process_scope() -> str:
    # A process id names a process only within one boot and one PID namespace (containers
    # sharing a host name may each have a process 42).
    return f"{_read(lambda: Path('/proc/sys/kernel/random/boot_id').read_text().strip())}/" \
           f"{_read(lambda: os.readlink('/proc/self/ns/pid'))}"


def _read(what: Callable[[], str]) -> str:
    try:
        return what()
    except OSError:  # not Linux, or /proc not mounted: the scope is the host alone
        return "?"


def this_process(name: str | None = None) -> Holder:
    """This process (and thread) as a holder; ``name`` defaults to host:pid:thread, unique
    among the threads of every process on the host."""
    host, pid = socket.gethostname(), os.getpid()
    return Holder(name or f"{host}:{pid}:{threading.get_ident()}", host, pid, _process_scope())


def is_provably_dead(host: str | None, pid: int | None, process_scope: str | None) -> bool:
    """True only if the process ``pid`` ran on this host in this scope and is gone."""
    me = this_process()
    if host != me.host or process_scope != me.process_scope or pid is None or pid <= 0:
        return False
    if pid == me.pid:
        return False
    try:
        os.kill(pid, 0)  # signal 0: existence check, nothing is delivered
    except ProcessLookupError:
        return True
    except PermissionError:  # exists, owned by someone else
        return False
    return False
