"""The job journal on PostgreSQL: a row covers exactly the time its pass held the lease. A
pass that stalls past its lease's expiry (and so cannot write any more) held it only until
then, so the pass that takes the lease over does not show as working the escalation at the
same time, however late the stalled one gets to give it back."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from bridge.errors import LeaseLost
from bridge.jobs.journal import JournalingLeases
from bridge.store.db import open_store
from bridge.store.lease_group import EscalationLeases
from tests.fixtures.jobs import journal, jobs_store_url, overlaps  # noqa: F401 - the fixture

pytestmark = pytest.mark.postgres
TTL = timedelta(seconds=0.5)


#: A pass that must keep its lease: renewed every ttl/3, so a renewal may come up to 1.3 s
#: late (a loaded machine) before the lease is rightly lost (0.33 s was not always enough).
RENEWED_TTL = timedelta(seconds=2)


def _pass(store, holder: str, ttl: timedelta = TTL) -> tuple[EscalationLeases, JournalingLeases]:
    recording = JournalingLeases(store.leases, store.engine, job_id=None, worker=holder, task="sync_escalation")
    return EscalationLeases(recording, ttl, holder=holder), recording


@pytest.mark.parametrize("noticed", [True, False], ids=["noticed-by-a-write", "given-back-unnoticed"])
def test_a_pass_that_stalled_past_its_lease_held_it_only_until_it_expired(jobs_store_url, noticed):
    with open_store(jobs_store_url) as store:
        stalled, stalled_journal = _pass(store, "stalled")
        assert stalled.take([7]) == {7}
        stalled.stop_renewing()  # the process stops being scheduled: no renewal goes out
        time.sleep(TTL.total_seconds() * 1.5)
        if noticed:
            with pytest.raises(LeaseLost):
                stalled.check()  # the executor's check before a write: it may not write any more

        taker, taker_journal = _pass(store, "taker")
        assert taker.take([7]) == {7}  # expired: free to take
        taker.release()
        taker_journal.finish("ok")
        stalled.release()  # it comes back to give back what it no longer holds
        stalled_journal.finish("ok")

        rows = journal(store.engine)
        assert len(rows) == 2 and all(end is not None for *_, end in rows)
        assert overlaps(rows, {}) == []


def test_a_pass_that_renews_in_time_holds_its_lease_until_it_gives_it_back(jobs_store_url):
    with open_store(jobs_store_url) as store:
        working, working_journal = _pass(store, "working", RENEWED_TTL)
        assert working.take([8]) == {8}
        time.sleep(RENEWED_TTL.total_seconds() * 1.25)  # past its first expiry: renewed meanwhile
        working.check()
        before_release = time.time()
        working.release()
        working_journal.finish("ok")
        [(escalation_id, _, started, ended)] = journal(store.engine)
        assert escalation_id == 8 and ended.timestamp() >= before_release - 0.05
        assert ended - started >= RENEWED_TTL * 1.25
