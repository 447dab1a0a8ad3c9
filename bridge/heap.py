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
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["PASS_GEN0_THRESHOLD", "fewer_collections", "passes_inside"]

#: Allocations between two collections of the youngest generation during a pass.
PASS_GEN0_THRESHOLD = 10_000

_lock = threading.Lock()
_inside = 0
_saved: tuple[int, int, int] | None = None
_froze = False  # whether this module froze the heap (not when the program had frozen it itself)


@contextmanager
def fewer_collections() -> Iterator[None]:
    """For the block: objects older than it are frozen out of collections (``gc.freeze``)
    and the youngest generation is collected every :data:`PASS_GEN0_THRESHOLD`
    allocations. Nested and concurrent blocks share one change, undone when the last ends."""
    global _inside, _saved, _froze
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
