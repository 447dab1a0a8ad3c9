"""Leases on SQLite and on a real PostgreSQL server: one holder at a time, fencing tokens
that grow with every acquisition, a killed holder taken over at once, and a holder paused
past its lease that never passes ``check()`` beside the new holder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bridge.errors import LeaseLost
from bridge.store.holders import Holder, this_process
from bridge.store.lease_group import EscalationLeases, escalation_lease
from bridge.store.leases import LeaseKeeper
from bridge.store.repository import Store
from bridge.store.tables import utcnow
from tests.integration.test_store import race, separate_stores

NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
#: How long a test waits for a subprocess or a lease to reach the state it waits for.
PATIENCE_S = 60

# A lease holder in a process of its own: takes the lease, says so, then answers each
# "check" line on stdin with "ok <token>" or "lost", until stdin closes.
HOLDER = r"""
import sys
from datetime import timedelta
from bridge.errors import LeaseLost
from bridge.store.db import open_store

store = open_store(sys.argv[1])
keeper = store.leases.keeper("sync", timedelta(seconds=float(sys.argv[2])),
                             renew_every=timedelta(seconds=float(sys.argv[3])))
print("acquired" if keeper.acquire() else "refused", keeper.token, flush=True)
for line in sys.stdin:
    try:
        keeper.check()
        print("ok", keeper.token, flush=True)
    except LeaseLost as exc:
        print("lost", exc, flush=True)
"""


@pytest.fixture
def holder_process(store_url: str, store: Store) -> Iterator[list[subprocess.Popen[str]]]:
    """Start lease holders in processes of their own; all are killed at the end."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGCONT)
            process.kill()
        process.wait()


def start_holder(started: list[subprocess.Popen[str]], url: str, ttl_s: float, renew_s: float) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url, str(ttl_s), str(renew_s)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    started.append(process)
    return process


def ask(process: subprocess.Popen[str]) -> str:
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write("check\n")
    process.stdin.flush()
    return process.stdout.readline().strip()


def dead_pid() -> int:
    """The id of a process of this host that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_lease_excludes_a_second_holder_until_it_expires(store: Store) -> None:
    ttl = timedelta(minutes=5)
    first = store.leases.acquire("sync", "host-a:1", ttl, now=NOW)
    assert first is not None and first.token == 1
    assert not store.leases.acquire("sync", "host-b:2", ttl, now=NOW + timedelta(minutes=1))
    assert not store.leases.acquire("sync", "host-b:2", ttl, now=NOW + ttl - timedelta(microseconds=1))
    again = store.leases.acquire("sync", "host-a:1", ttl, now=NOW + timedelta(minutes=2))  # re-acquire renews
    assert again is not None and again.token == 2
    held = store.leases.get("sync")
    assert held is not None and held.expires_at == NOW + timedelta(minutes=7) and held.expires_at.tzinfo == UTC
    assert (held.host, held.pid) == (this_process().host, os.getpid())
    assert not store.leases.acquire("sync", "host-b:2", ttl, now=NOW + timedelta(minutes=6))
    # host-a stopped renewing; its lease expires and host-b takes over under a new token.
    taken = store.leases.acquire("sync", "host-b:2", ttl, now=NOW + timedelta(minutes=7))
    assert taken is not None and taken.token == 3
    assert not store.leases.renew("sync", "host-a:1", ttl)
    assert not store.leases.release("sync", "host-a:1")
    assert not store.leases.renew("sync", "host-b:2", ttl, token=2)  # an older acquisition's token
    assert store.leases.renew("sync", "host-b:2", ttl, now=NOW + timedelta(minutes=8), token=3)
    assert store.leases.release("sync", "host-b:2", token=3)
    assert store.leases.get("sync") is None
    # The row outlives its holders: the token still grows after a release.
    after = store.leases.acquire("sync", "host-a:1", ttl, now=NOW + timedelta(minutes=9))
    assert after is not None and after.token == 4


def test_lease_acquisition_is_race_safe_across_engines(store_url: str, store: Store) -> None:
    store.leases.acquire("sync", "dead-host", timedelta(minutes=1), now=NOW - timedelta(hours=1))  # expired
    racers = separate_stores(store_url, 6)
    try:
        granted = race(
            len(racers), lambda i: racers[i].leases.acquire("sync", f"host-{i}", timedelta(minutes=5), now=NOW)
        )
    finally:
        for racer in racers:
            racer.close()
    winners = [i for i, lease in enumerate(granted) if lease is not None]
    assert len(winners) == 1
    held = store.leases.get("sync")
    assert held is not None and held.holder == f"host-{winners[0]}" and held.token == 2


def test_a_killed_holder_on_this_host_is_taken_over_at_once(
    store_url: str, store: Store, holder_process: list[subprocess.Popen[str]]
) -> None:
    holder = start_holder(holder_process, store_url, ttl_s=3600, renew_s=600)
    assert holder.stdout is not None
    assert holder.stdout.readline().split() == ["acquired", "1"]
    assert store.leases.acquire("sync", "next-sync", timedelta(minutes=10)) is None  # alive: it waits
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    taken = store.leases.acquire("sync", "next-sync", timedelta(minutes=10))  # an hour before the expiry
    assert taken is not None and taken.holder == "next-sync" and taken.token == 2


def test_a_dead_holder_elsewhere_is_waited_for_until_its_lease_expires(store: Store) -> None:
    me = this_process()
    gone = dead_pid()
    ttl = timedelta(minutes=5)
    for elsewhere in (
        Holder("other-host", "other-host", gone, me.process_scope),  # the pid means nothing here
        Holder("container", me.host, gone, "another-boot/pid:[1]"),  # same name, other pid space
    ):
        store.leases.acquire("sync", elsewhere.name, ttl, now=NOW, process=elsewhere)
        assert store.leases.acquire("sync", "next-sync", ttl, now=NOW + timedelta(minutes=1)) is None
        assert store.leases.acquire("sync", "next-sync", ttl, now=NOW + ttl) is not None
        assert store.leases.release("sync", "next-sync")
    # The same dead pid on this host and in this scope: provably dead, taken over at once.
    here = Holder("crashed", me.host, gone, me.process_scope)
    store.leases.acquire("sync", here.name, ttl, now=NOW, process=here)
    assert store.leases.acquire("sync", "next-sync", ttl, now=NOW + timedelta(minutes=1)) is not None


def test_a_holder_paused_past_its_lease_never_passes_check_beside_the_new_holder(
    store_url: str, store: Store, holder_process: list[subprocess.Popen[str]]
) -> None:
    first = start_holder(holder_process, store_url, ttl_s=5, renew_s=0.2)
    assert first.stdout is not None
    assert first.stdout.readline().split() == ["acquired", "1"]
    assert ask(first) == "ok 1"
    first.send_signal(signal.SIGSTOP)  # paused: its renewal thread stops with it
    second = store.leases.keeper("sync", timedelta(minutes=5))
    give_up = time.monotonic() + PATIENCE_S
    while not second.acquire():  # the paused holder is alive: the lease lapses by its time only
        assert time.monotonic() < give_up, "the paused holder's lease never expired"
        time.sleep(0.05)
    with second:
        assert second.token == 2
        second.check()
        first.send_signal(signal.SIGCONT)
        assert ask(first).startswith("lost")
        assert ask(first).startswith("lost")  # and stays lost
        second.check()
    assert store.leases.get("sync") is None  # released on leaving the block


def test_of_two_keepers_only_one_passes_check_at_any_moment(store: Store) -> None:
    """Two keepers in threads check in turn under one lock, so the log is the true order of
    their passes; the first stops renewing (as if paused) and the second waits for it."""
    turn = threading.Lock()
    log: list[tuple[str, str]] = []
    first = store.leases.keeper("sync", timedelta(seconds=2), holder="first", renew_every=timedelta(seconds=0.1))
    second = store.leases.keeper("sync", timedelta(seconds=2), holder="second",
                                 renew_every=timedelta(seconds=0.1))
    assert first.acquire()
    first.stop_renewing()

    def checks(keeper: LeaseKeeper, until: threading.Event) -> None:
        while not until.is_set():
            with turn:
                try:
                    keeper.check()
                    log.append((keeper.holder, "ok"))
                except LeaseLost:
                    log.append((keeper.holder, "lost"))
            time.sleep(0.005)

    done = threading.Event()
    checker = threading.Thread(target=checks, args=(first, done))
    checker.start()
    try:
        give_up = time.monotonic() + PATIENCE_S
        while True:
            with turn:
                if second.acquire():
                    break
            assert time.monotonic() < give_up, "the first keeper's lease never expired"
            time.sleep(0.02)
        with second:
            for _ in range(20):
                with turn:
                    second.check()
                    log.append(("second", "ok"))
                time.sleep(0.005)
    finally:
        done.set()
        checker.join()
    first_pass_of_second = log.index(("second", "ok"))
    assert ("first", "ok") in log[:first_pass_of_second]  # the first did hold it ...
    assert ("first", "ok") not in log[first_pass_of_second:]  # ... and never again beside the second
    assert first.lost


def test_a_keeper_that_cannot_acquire_says_who_holds_the_lease(store: Store) -> None:
    assert store.leases.acquire("sync", "busy-elsewhere", timedelta(minutes=5))
    keeper = store.leases.keeper("sync", timedelta(minutes=5))
    assert not keeper.acquire()
    assert keeper.current is not None and keeper.current.holder == "busy-elsewhere"
    with pytest.raises(LeaseLost, match="busy-elsewhere"):
        keeper.__enter__()
    with pytest.raises(LeaseLost, match="never acquired"):
        keeper.check()


def test_a_keeper_renews_while_work_goes_on(store: Store) -> None:
    keeper = store.leases.keeper("sync", timedelta(seconds=3), renew_every=timedelta(seconds=0.05))
    with keeper:
        first_expiry = store.leases.get("sync").expires_at  # type: ignore[union-attr]
        give_up = time.monotonic() + PATIENCE_S
        while store.leases.get("sync").expires_at == first_expiry:  # type: ignore[union-attr]
            assert time.monotonic() < give_up, "the keeper never renewed its lease"
            time.sleep(0.02)
        keeper.check()
    assert keeper.lost and store.leases.get("sync") is None
    # A renewal refused (someone took the lease over) marks the keeper lost.
    stolen = store.leases.keeper("sync", timedelta(seconds=3), holder="victim", renew_every=timedelta(seconds=0.05))
    assert stolen.acquire()
    store.leases.acquire("sync", "thief", timedelta(minutes=5), now=utcnow() + timedelta(hours=1))
    give_up = time.monotonic() + PATIENCE_S
    while not stolen.lost:
        assert time.monotonic() < give_up, "a refused renewal did not mark the keeper lost"
        time.sleep(0.02)
    with pytest.raises(LeaseLost, match="renewal refused"):
        stolen.check()
    stolen.release()
    assert store.leases.get("sync").holder == "thief"  # type: ignore[union-attr]


# -- a pass's escalation leases, taken in bulk -------------------------------------------------


def test_escalation_leases_are_taken_in_bulk_only_where_free(store: Store) -> None:
    ttl = timedelta(minutes=5)
    held = store.leases.acquire(escalation_lease(2), "other-pass", ttl, now=NOW)
    assert held is not None
    expired = store.leases.acquire(escalation_lease(3), "gone-pass", ttl, now=NOW - timedelta(hours=1))
    assert expired is not None and expired.token == 1

    taken = store.leases.acquire_many([escalation_lease(i) for i in (1, 2, 3, 4)], "this-pass", ttl, now=NOW)

    assert taken == {escalation_lease(1): 1, escalation_lease(3): 2, escalation_lease(4): 1}
    assert store.leases.get(escalation_lease(2)).holder == "other-pass"  # untouched
    # Renewing tells which are no longer ours; release frees ours and nobody else's.
    assert store.leases.renew_many(taken, "this-pass", ttl, now=NOW + timedelta(minutes=1)) == set()
    assert store.leases.get(escalation_lease(1)).expires_at == NOW + timedelta(minutes=6)
    stolen = store.leases.acquire(escalation_lease(4), "thief", ttl, now=NOW + timedelta(hours=1))
    assert stolen is not None and stolen.token == 2
    assert store.leases.renew_many(taken, "this-pass", ttl) == {escalation_lease(4)}
    store.leases.release_many(taken, "this-pass")
    assert store.leases.get(escalation_lease(1)) is None and store.leases.get(escalation_lease(3)) is None
    assert store.leases.get(escalation_lease(4)).holder == "thief"
    assert store.leases.get(escalation_lease(2)).holder == "other-pass"


def test_racing_passes_split_the_escalations_between_them(store_url: str, store: Store) -> None:
    """Six passes (each with its own engine, as processes have) grab the same 1,200 leases at
    once: every lease goes to exactly one pass."""
    names = [escalation_lease(i) for i in range(1200)]
    racers = separate_stores(store_url, 6)
    try:
        taken = race(len(racers), lambda i: racers[i].leases.acquire_many(names, f"pass-{i}", timedelta(minutes=5)))
    finally:
        for racer in racers:
            racer.close()
    owners: dict[str, list[int]] = {}
    for i, mine in enumerate(taken):
        for name in mine:
            owners.setdefault(name, []).append(i)
    assert sorted(owners) == sorted(names)
    assert all(len(who) == 1 for who in owners.values())
    for name, [i] in list(owners.items())[:50]:
        assert store.leases.get(name).holder == f"pass-{i}"


def test_a_pass_paused_past_its_escalation_leases_never_passes_check(store: Store) -> None:
    # 3 s, not 1 s: the first pass must still hold its leases while the second tries to
    # take them, and a loaded CI machine once let more than a second go by before that.
    ttl = timedelta(seconds=3)
    first = EscalationLeases(store.leases, ttl, holder="first")
    assert first.take([7, 8]) == {7, 8}
    first.check()
    second = EscalationLeases(store.leases, ttl, holder="second")
    assert second.take([8, 9]) == {9}  # 8 is the first pass's
    first.stop_renewing()  # the first process is paused: nothing renews its leases
    deadline = time.monotonic() + PATIENCE_S
    while second.take([8]) != {8}:
        assert time.monotonic() < deadline, "the paused pass's lease never expired"
        time.sleep(0.1)
    with pytest.raises(LeaseLost):
        first.check()
    second.check()
    first.release()  # gives up nothing that is now the second pass's
    assert store.leases.get(escalation_lease(8)).holder == second.holder
    second.release()
    assert store.leases.get(escalation_lease(9)) is None


def test_escalation_leases_renew_while_the_pass_goes_on(store: Store) -> None:
    # Renewed every second for a 3 s time to live: a renewal may come up to 2 s late (a
    # loaded machine not scheduling the thread) before the leases are rightly lost. With a
    # 0.6 s lease, 0.4 s late was enough, and a busy CI run once failed here.
    ttl = timedelta(seconds=3)
    leases = EscalationLeases(store.leases, ttl, holder="long-pass")
    assert leases.take([1]) == {1}
    assert leases.take([2]) == {2}  # taken later in the pass, renewed with the first
    assert leases.take([1, 3]) == {1, 3}  # held before or taken now, and nothing else held
    assert leases.held == {1, 2, 3}
    first_expiry = store.leases.get(escalation_lease(1)).expires_at
    ends = time.monotonic() + ttl.total_seconds() * 1.3
    while time.monotonic() < ends:  # longer than the leases' time to live: only renewal keeps them
        leases.check()
        time.sleep(0.05)
    assert store.leases.get(escalation_lease(1)).expires_at > first_expiry  # renewed in the store too
    assert {store.leases.get(escalation_lease(i)).holder for i in (1, 2)} == {leases.holder}
    leases.release()
    assert leases.held == set()


class _GivesBackDuringRenewal:
    """The store's leases, but the pass gives escalation 2 back at the moment its
    renewal has copied what it holds and not yet renewed it: the interleaving a batch
    finishing beside the renewal thread can produce."""

    def __init__(self, leases) -> None:
        self._leases = leases
        self.group: EscalationLeases | None = None
        self.renewed = threading.Event()

    def __getattr__(self, name):
        return getattr(self._leases, name)

    def renew_many(self, tokens, holder, ttl, *, now=None):
        if not self.renewed.is_set() and self.group is not None:
            self.group.give_back([2])
        try:
            return self._leases.renew_many(tokens, holder, ttl, now=now)
        finally:
            self.renewed.set()


def test_leases_given_back_are_free_at_once_and_the_rest_stay_held(store: Store) -> None:
    ttl = timedelta(seconds=3)
    watched = _GivesBackDuringRenewal(store.leases)
    leases = EscalationLeases(watched, ttl, holder="long-pass")
    watched.group = leases
    assert leases.take([1, 2, 3]) == {1, 2, 3}
    leases.give_back([3, 99])  # 99 was never held: nothing to give
    assert leases.held == {1, 2}
    other = EscalationLeases(store.leases, ttl, holder="webhook-pass")
    assert other.take([1, 3]) == {3}  # 3 is free now; 1 is still the long pass's
    assert watched.renewed.wait(PATIENCE_S), "the leases were never renewed"
    leases.check()  # 2 given back while the renewal ran is not a lease lost
    assert leases.held == {1}
    assert other.take([2]) == {2}
    assert store.leases.get(escalation_lease(1)).holder == leases.holder
    leases.release()
    other.release()
    assert all(store.leases.get(escalation_lease(i)) is None for i in (1, 2, 3))
