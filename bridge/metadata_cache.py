"""Service metadata that rarely changes, kept in the store with an expiry.

JIRA's serverInfo (Cloud or Data Center, its version), JIRA's field list and the error
tracker's project list change with an administrator's work, not with a ticket's. Read by
every process, they cost three requests a run on a quiet sync that needs one to three.
Cached in the store's named values (``sync_cursor``, ``cache:…`` names) with the time they
were read, so a fresh process with a warm cache does not ask again until they expire.

A cache that cannot be read or written (a read-only store of a dry run, a store that is
down) is no reason to fail: the value is then asked of the service, as without a cache.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

log = logging.getLogger(__name__)

#: How long a cached value is used before it is read again: long enough that a sync every
#: minute asks once an hour, short enough that a new custom field or error-tracker project
#: is seen the same hour (short ids of linked projects are recognised without it).
DEFAULT_TTL = timedelta(hours=1)
PREFIX = "cache:"


class MetadataCache:
    """``remember(name, fetch)``: the stored value if younger than the expiry, else
    ``fetch()``'s answer, stored (JSON) for the next process."""

    def __init__(self, store: Callable[[], Any], *, writable: bool = True, ttl: timedelta = DEFAULT_TTL,
                 clock: Callable[[], datetime] | None = None) -> None:
        self._store = store
        self.writable = writable
        self.ttl = ttl
        self.clock = clock or (lambda: datetime.now(timezone.utc))

    def remember(self, name: str, fetch: Callable[[], Any]) -> Any:
        """The value named ``name`` (any JSON value), from the store while fresh."""
        key = PREFIX + name
        stored = self._read(key)
        if stored is not None:
            value, at = stored
            if timedelta(0) <= self.clock() - at < self.ttl:
                try:
                    return json.loads(value)
                except ValueError:
                    pass  # not ours any more: read it again
        value = fetch()
        if self.writable:
            try:
                self._store().cursors.set(key, json.dumps(value, sort_keys=True))
            except Exception as exc:  # noqa: BLE001 - a cache write never fails the command
                log.info("metadata cache: %s not stored (%s)", name, type(exc).__name__)
        return value

    def _read(self, key: str) -> tuple[str, datetime] | None:
        try:
            return self._store().cursors.get_with_time(key)
        except Exception as exc:  # noqa: BLE001 - no store, no cache: ask the service
            log.info("metadata cache: not read (%s)", type(exc).__name__)
            return None
