"""One escalation per ticket across threads and processes, on SQLite and on PostgreSQL:
``record_intent`` hands the claim on creating the Bug to exactly one caller, the others get
the winner's row (never an exception), and a claim whose holder died or expired is taken
over."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from bridge.store.repository import Store
from tests.integration.test_store import count_rows, intent, race, separate_stores

NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)

# One escalating process: opens the store, says "ready", waits for "go", records the
# intent, prints "<claimed> <escalation id>", and stays alive until stdin closes (a winner
# that exited would look like a crashed one, whose claim the next caller takes over).
ESCALATOR = r"""
import sys
from datetime import datetime, timezone
from bridge.store.db import open_store

store = open_store(sys.argv[1])
print("ready", flush=True)
sys.stdin.readline()
row, claimed = store.escalations.record_intent(
    label="bridge-zendesk-382", origin_helpdesk="zendesk", origin_ticket_id="382", severity="S2",
    priority="High", profile="default", escalated_by="em@example.com",
    opened_at=datetime(2024, 3, 1, tzinfo=timezone.utc))
print(claimed, row.id, flush=True)
sys.stdin.read()
"""


@pytest.fixture
def escalators(store: Store) -> Iterator[list[subprocess.Popen[str]]]:
    """Escalating processes on the (migrated) store; all are ended at the end."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


def start(started: list[subprocess.Popen[str]], url: str) -> subprocess.Popen[str]:
    process = subprocess.Popen([sys.executable, "-c", ESCALATOR, url],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    started.append(process)
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    return process


def go(processes: list[subprocess.Popen[str]]) -> list[tuple[bool, int]]:
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    answers = []
    for process in processes:
        assert process.stdout is not None
        claimed, escalation_id = process.stdout.readline().split()
        answers.append((claimed == "True", int(escalation_id)))
    return answers


def test_the_claim_is_the_holders_alone_until_the_bug_is_recorded(store: Store) -> None:
    first, claimed = intent(store, holder="run-1")
    assert claimed and first.claim_holder == "run-1" and first.claim_expires_at is not None
    again, claimed_again = intent(store, holder="run-2")
    assert (again.id, claimed_again) == (first.id, False)
    same, reclaimed = intent(store, holder="run-1")  # the holder itself, e.g. a retry in its run
    assert (same.id, reclaimed) == (first.id, True)
    created = store.escalations.mark_created(first.id, jira_issue_id="10001", jira_key="OPS-1")
    assert created.claim_holder is None and created.claim_expires_at is None
    for holder in ("run-1", "run-2"):
        row, claimed = intent(store, holder=holder)
        assert (row.id, row.state, claimed) == (first.id, "created", False)


def test_a_released_claim_passes_to_the_next_caller_at_once(store: Store) -> None:
    first, _ = intent(store, holder="run-1")
    assert not store.escalations.release_claim(first.id, holder="run-2")
    assert store.escalations.release_claim(first.id, holder="run-1")
    row, claimed = intent(store, holder="run-2")
    assert (row.id, claimed, row.claim_holder) == (first.id, True, "run-2")


def test_a_claim_held_elsewhere_is_waited_for_until_it_expires(store: Store) -> None:
    first, _ = intent(store, holder="far-away", now=NOW, claim_ttl=timedelta(minutes=15))
    with store.engine.begin() as connection:  # a holder on another host: its pid means nothing here
        connection.execute(sa.text("UPDATE escalation SET claim_host = 'elsewhere', claim_pid = 1"))
    assert intent(store, holder="here", now=NOW + timedelta(minutes=14))[1] is False
    row, claimed = intent(store, holder="here", now=NOW + timedelta(minutes=15))
    assert (row.id, claimed, row.claim_holder) == (first.id, True, "here")


def test_eight_threads_one_claim(store_url: str, store: Store) -> None:
    racers = separate_stores(store_url, 8)
    try:
        results = race(len(racers), lambda i: intent(racers[i]))  # a thread is a holder of its own
    finally:
        for racer in racers:
            racer.close()
    assert sorted(claimed for _, claimed in results) == [False] * 7 + [True]
    assert len({escalation.id for escalation, _ in results}) == 1
    assert count_rows(store, "escalation") == 1
    assert count_rows(store, "linked_ticket") == 1


def test_four_processes_one_claim(store_url: str, escalators: list[subprocess.Popen[str]]) -> None:
    processes = [start(escalators, store_url) for _ in range(4)]
    answers = go(processes)
    assert sorted(claimed for claimed, _ in answers) == [False, False, False, True]
    assert len({escalation_id for _, escalation_id in answers}) == 1


def test_a_killed_claim_holder_is_taken_over_at_once(
    store_url: str, store: Store, escalators: list[subprocess.Popen[str]]
) -> None:
    winner = start(escalators, store_url)
    [(claimed, escalation_id)] = go([winner])
    assert claimed
    row, claimed = intent(store, ticket="382")
    assert (row.id, claimed) == (escalation_id, False)  # alive: it is creating the Bug
    winner.send_signal(signal.SIGKILL)
    winner.wait()
    row, claimed = intent(store, ticket="382")  # long before the expiry
    assert (row.id, claimed, row.state) == (escalation_id, True, "intent")
