"""Keeping the board's SLA standings current in the background.

:class:`Standings` recomputes every open escalation's clock (``services.sla_rows``, the
same code as ``bridge sla``) at most every ``every`` seconds, writes ``board_standing``
for the board's SQL paging, and keeps the rows for the SLA report. A page never waits for
it: until the first pass finishes, rows show "not computed yet".
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from bridge.board import listing
from bridge.errors import BridgeError

log = logging.getLogger(__name__)


class Standings:
    """Background recomputation of SLA standings for one store."""

    def __init__(self, services, *, every: float = 30.0) -> None:
        self.services = services
        self.every = every
        self._rows: list[dict[str, Any]] = []
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one pass at a time
        self._starting = threading.Lock()
        self._thread: threading.Thread | None = None

    def rows(self) -> list[dict[str, Any]]:
        """The SLA rows of the last pass."""
        return self._rows

    def refresh(self) -> int:
        """One pass now (also what the background thread runs); how many standings were written."""
        with self._lock:
            rows = self.services.sla_rows(None)
            written = listing.refresh_standings(self.services.store.engine, rows)
            self._rows = rows
            return written

    def poke(self) -> None:
        """Ask for a pass soon (after an escalation or a retry)."""
        self._wake.set()

    def start(self) -> None:
        """Run passes in a daemon thread until :meth:`stop` (a no-op once started)."""
        if self._thread is not None:
            return
        with self._starting:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._loop, name="board-standings", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.refresh()
            except BridgeError as exc:
                log.warning("board: SLA standings not refreshed: %s", exc)
            except Exception:  # keep the thread alive; the next pass may succeed
                log.exception("board: SLA standings not refreshed")
            self._wake.wait(self.every)
            self._wake.clear()
