"""How a sync pass keeps Python's cyclic garbage collector from walking the whole heap.

A pass allocates millions of short-lived objects (rows, tickets, plans, JSON), and with the
interpreter's default thresholds the collector runs every 700 allocations and, every
hundred of those runs, walks every object the process holds: the imported modules, the
ORM's metadata, the templates, the policy. Measured on a pass of 10,000 changes
(`bench/sync_requests.py`), that was 1.7 of its 9.2 CPU seconds.

:func:`fewer_collections` is the remedy Python documents for it (``gc.freeze``): for the
length of a pass, the objects that existed before it are left out of collections, and the
youngest generation is collected every 10,000 allocations instead of 700. Cycles the pass
creates are still collected, a little later; reference counting frees everything else at
once, as always.

The collector's settings belong to the process, and `bridge serve` and `bridge worker` run
several passes at once on threads: the first pass to enter changes them, the last to leave
restores them.

The C heap, too (:func:`few_malloc_arenas`): glibc's malloc gives each new thread an arena
of its own, up to eight per core, and what a thread frees stays in its arena for it alone.
A pass's reader and writer threads each parse pages of JSON, so each kept its own
high-water mark: two arenas hold the peak resident memory of a 10,000-change pass at
100,000 escalations about 10 MB lower (`bench/sync_requests.py` on PostgreSQL: 151 → 141
MB), at no cost in wall time, since CPython serves most allocations from its own
small-object allocator under the interpreter lock anyway. The first pass of a process sets
it, unless ``MALLOC_ARENA_MAX`` in the environment says what the operator wants.
"""

from __future__ import annotations

import ctypes
import gc
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["MALLOC_ARENAS", "PASS_GEN0_THRESHOLD", "few_malloc_arenas", "fewer_collections", "passes_inside"]

#: Allocations between two collections of the youngest generation during a pass.
PASS_GEN0_THRESHOLD = 10_000

_lock = threading.Lock()
_inside = 0
_saved: tuple[int, int, int] | None = None
_froze = False  # whether this module froze the heap (not when the program had frozen it itself)

#: glibc malloc arenas a process keeps (see the module docstring).
MALLOC_ARENAS = 2
#: glibc's mallopt parameter for the most arenas (malloc.h).
_M_ARENA_MAX = -8
_arenas_set: bool | None = None


def few_malloc_arenas() -> bool:
    """Limit glibc's malloc to :data:`MALLOC_ARENAS` arenas for this process, once; True
    when it is limited by this call or an earlier one. Does nothing (False) where the C
    library is not glibc, and when ``MALLOC_ARENA_MAX`` is set: glibc read the operator's
    own value at start."""
    global _arenas_set
    with _lock:
        if _arenas_set is None:
            _arenas_set = False
            if sys.platform.startswith("linux") and not os.environ.get("MALLOC_ARENA_MAX"):
                try:
                    mallopt = ctypes.CDLL(None).mallopt
                except (OSError, AttributeError):
                    mallopt = None
                # glibc answers 1 when it took the value (musl has no such parameter: 0).
                _arenas_set = bool(mallopt and mallopt(_M_ARENA_MAX, MALLOC_ARENAS) == 1)
        return _arenas_set


@contextmanager
def fewer_collections() -> Iterator[None]:
    """For the block: objects older than it are frozen out of collections (``gc.freeze``)
    and the youngest generation is collected every :data:`PASS_GEN0_THRESHOLD`
    allocations. Nested and concurrent blocks share one change, undone when the last ends."""
    global _inside, _saved, _froze
    few_malloc_arenas()  # before the pass starts its threads: they then share two arenas
    with _lock:
        if _inside == 0:
            _saved = gc.get_threshold()
            # A program that froze its heap itself keeps it frozen; unfreezing would undo that.
            _froze = gc.get_freeze_count() == 0
            if _froze:
                gc.freeze()
            gc.set_threshold(max(PASS_GEN0_THRESHOLD, _saved[0]), *_saved[1:])
        _inside += 1
    try:
        yield
    finally:
        with _lock:
            _inside -= 1
            if _inside == 0 and _saved is not None:
                gc.set_threshold(*_saved)
                if _froze:
                    gc.unfreeze()
                _saved, _froze = None, False


def passes_inside() -> int:
    """How many blocks are inside :func:`fewer_collections` in this process right now."""
    with _lock:
        return _inside
