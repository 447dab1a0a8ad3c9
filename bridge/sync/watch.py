"""``bridge sync --watch``: one sync pass after another, backing off while they fail."""

from __future__ import annotations

import time
from typing import Callable

from bridge.errors import BridgeError
from bridge.sync.items import SyncReport

def watch(run_once: Callable[[], SyncReport], *, every: float, sleep: Callable[[float], None] = time.sleep,
          on_report: Callable[[SyncReport], None] = lambda r: None, max_backoff: float = 10.0,
          stop: Callable[[], bool] = lambda: False) -> None:
    """Run ``run_once`` every ``every`` seconds; after failing runs wait longer (doubling,
    up to ``max_backoff`` times the period), so a broken service is not hammered."""
    factor = 1.0
    while not stop():
        try:
            report = run_once()
            on_report(report)
            factor = 1.0 if report.exit_code == 0 else min(factor * 2, max_backoff)
        except BridgeError as exc:
            on_report(SyncReport(failures=[("run", str(exc))]))
            factor = min(factor * 2, max_backoff)
        if stop():
            break
        sleep(every * factor)
