"""A sync report's outcomes: in memory up to a point, spilled to a private temporary file
beyond it, and read back in the order they happened, each action summarised."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bridge.actions import ActionSummary, InternalNote
from bridge.executor import Outcome
from bridge.sync.items import OutcomeLog


def _outcome(n: int, result: str = "done") -> Outcome:
    return Outcome(InternalNote(key=f"note:zendesk:{n}", helpdesk="zendesk", ticket_id=str(n), body=f"Büg {n} \u2028"),
                   result, "" if result == "done" else f"answered 503 \"busy\" {n}")


@given(st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(["done", "failed", "skipped"])), max_size=40),
       st.integers(0, 10))
def test_outcomes_read_back_in_order_as_summaries_whatever_was_spilled(made, keep):
    outcomes = [_outcome(n, result) for n, result in made]
    log = OutcomeLog(keep=keep)
    log.extend(outcomes[: len(outcomes) // 2])
    halfway = list(log)  # reading in the middle leaves the log to go on growing at its end
    log.extend(outcomes[len(outcomes) // 2:])

    expected = [(ActionSummary.of(o.action), o.result, o.detail) for o in outcomes]
    assert [(o.action, o.result, o.detail) for o in log] == expected
    assert [(o.action, o.result, o.detail) for o in halfway] == expected[: len(outcomes) // 2]
    assert len(log) == len(outcomes) and bool(log) == bool(outcomes)
    assert all(o.action.describe() == e[0].text and o.action.kind == "InternalNote" for o, e in zip(log, expected))


def test_a_report_of_many_outcomes_keeps_only_the_first_in_memory():
    log = OutcomeLog((_outcome(n) for n in range(1200)), keep=500)
    assert len(log._kept) == 500 and len(log) == 1200
    assert [o.action.key for o in log][-1] == "note:zendesk:1199"
    assert log == [o for o in log] and log != [] and OutcomeLog() == []


def test_batches_applied_on_threads_of_their_own_append_whole_and_together():
    """A pass's batches are applied on threads of their own (bridge/sync/pipeline.py) and
    report into one log: each batch's outcomes stay whole and together, spilled or not."""
    import sys
    import threading

    log = OutcomeLog(keep=3)
    batches = [[_outcome(b * 10_000 + n) for n in range(2000)] for b in range(4)]
    go = threading.Barrier(len(batches))

    def report(batch):
        go.wait()
        log.extend(iter(batch))

    threads = [threading.Thread(target=report, args=(batch,)) for batch in batches]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # the threads take turns every few bytecodes, not every 5 ms
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)

    read = [o.action.key for o in log]
    assert len(log) == len(read) == 8000
    runs = [read[start:start + 2000] for start in range(0, 8000, 2000)]
    assert sorted(runs) == sorted([[o.action.key for o in batch] for batch in batches])
