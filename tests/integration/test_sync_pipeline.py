"""A sync pass plans its next batch while the batch before is being written, and writes
two batches at once (bridge/sync/pipeline.py), and still tells each customer once. Real
HTTP against the sandbox, a real store on each backend.

The Zendesk emulator holds the pass's first bulk write until the store shows the leases of
the second batch's escalations, which the pass takes when it plans that batch: a pass that
planned only after writing would leave the write held until the test gives up (and fails).
Likewise it holds the first bulk write until a second one arrives: a pass that applied one
batch at a time would never send it. And it notes, at each bulk write, which escalations'
leases the store shows held: a batch done gives its leases back while the pass goes on."""

from __future__ import annotations

import threading

from jira import JIRA

from bridge.config import load_config
from bridge.sandbox.jira import DEMO_LOGINS
from bridge.services import Services
from bridge.store.db import open_store
from bridge.store.lease_group import escalation_lease
from tests.fixtures.bridge_comments import bridge_comments, escalate_together

#: How long the held write waits for the next batch to be planned before it lets go.
GIVE_UP_S = 20  # less than the HTTP time-out (30 s), so a failure says what went wrong
WORKING = ("actively working", "arbeitet jetzt")


class HoldFirstBulkWrite:
    """WSGI middleware on the Zendesk emulator: the first ``update_many`` waits until
    ``ready(self)`` holds (or ``GIVE_UP_S`` passed), and notes whether it did."""

    def __init__(self, app, ready) -> None:
        self.app, self.ready = app, ready
        self.held = threading.Event()
        self.saw_ready: bool | None = None
        self._lock = threading.Lock()
        #: Bulk writes that reached the emulator so far (the held one included).
        self.bulk_writes = 0

    def __call__(self, environ, start_response):
        if environ["REQUEST_METHOD"] == "PUT" and environ["PATH_INFO"].endswith("/tickets/update_many.json"):
            with self._lock:
                first = not self.held.is_set()
                self.held.set()
                self.bulk_writes += 1
            if first:
                self.saw_ready = _wait_for(lambda: self.ready(self), GIVE_UP_S)
        return self.app(environ, start_response)


def _wait_for(condition, limit_s: float) -> bool:
    stop = threading.Event()
    for _ in range(int(limit_s / 0.02)):
        if condition():
            return True
        stop.wait(0.02)
    return condition()


def _escalated_and_moved(sandbox, bridge_env, store_url, count: int):
    """``count`` tickets escalated one Bug each, synced, then every Bug moved In Progress
    (the search lists them in that order): the services, the tickets, the Bug keys."""
    open_store(store_url, auto_upgrade=True).close()
    services = Services(load_config(None, env={**bridge_env, "BRIDGE_STORE_URL": store_url}))
    customer = sandbox.zendesk_state.ticket(101)["requester_id"]
    tickets = [sandbox.zendesk_state.create_ticket({"subject": f"Sync {n} stalls", "comment": {"body": "stuck"}},
                                                   customer)[0]["id"] for n in range(count)]
    keys = [escalate_together(services, sandbox, [ticket]) for ticket in tickets]
    assert services.sync_engine().run().exit_code == 0
    dev = JIRA(server=sandbox.jira.url, basic_auth=DEMO_LOGINS["dev"].basic_auth("cloud"), max_retries=0)
    for key in keys:
        dev.transition_issue(key, "In Progress")
    return services, tickets, keys


def _told_once(sandbox, tickets) -> None:
    for ticket in tickets:
        told = [body for body in bridge_comments(sandbox, ticket) if any(w in body for w in WORKING)]
        assert len(told) == 1, (ticket, told)


def _run_in_batches_of_two(services, sandbox, ready=None, *, wrap=None):
    """One sync pass in batches of two, the Zendesk emulator behind ``wrap(app)`` (by
    default :class:`HoldFirstBulkWrite` holding the first bulk write until ``ready(hold)``);
    the pass must succeed. Returns the middleware."""
    zendesk = sandbox.zendesk.app
    inner = zendesk.wsgi_app
    middleware = wrap(inner) if wrap is not None else HoldFirstBulkWrite(inner, ready)
    zendesk.wsgi_app = middleware
    engine = services.sync_engine()
    engine.pass_batch = 2
    try:
        report = engine.run()
    finally:
        zendesk.wsgi_app = inner
    assert report.exit_code == 0, report.failures
    return middleware


def test_the_next_batch_is_planned_while_the_one_before_is_written(sandbox, bridge_env, store_url):
    services, tickets, keys = _escalated_and_moved(sandbox, bridge_env, store_url, 4)  # two batches of two
    rows = {e.jira_key: e.id for e in services.store.escalations.list(states=["complete"])}
    second_batch = [escalation_lease(rows[key]) for key in keys[2:]]

    def second_batch_planned() -> bool:
        return all(services.store.leases.get(name) is not None for name in second_batch)

    hold = _run_in_batches_of_two(services, sandbox, lambda _: second_batch_planned())
    assert hold.saw_ready is True, "the first batch's write was not in flight while the second was planned"
    _told_once(sandbox, tickets)
    assert services.store.leases.get(second_batch[0]) is None  # released with the pass
    assert services.sync_engine().run().outcomes == []  # nothing left to do


def test_two_batches_are_written_at_once_and_each_customer_is_told_once(sandbox, bridge_env, store_url):
    services, tickets, _ = _escalated_and_moved(sandbox, bridge_env, store_url, 6)  # three batches of two
    hold = _run_in_batches_of_two(services, sandbox, lambda hold: hold.bulk_writes >= 2)
    assert hold.saw_ready is True, "the second batch's write waited for the first batch's"
    _told_once(sandbox, tickets)
    assert services.sync_engine().run().outcomes == []  # nothing left to do


def test_a_batch_applied_gives_its_leases_back_while_the_pass_goes_on(sandbox, bridge_env, store_url):
    services, tickets, keys = _escalated_and_moved(sandbox, bridge_env, store_url, 6)  # three batches of two
    rows = {e.jira_key: e.id for e in services.store.escalations.list(states=["complete"])}
    batches = [[escalation_lease(rows[key]) for key in keys[start:start + 2]] for start in (0, 2, 4)]
    held_at_writes: list[set[int]] = []

    def watching(app):
        def note_leases(environ, start_response):
            if environ["REQUEST_METHOD"] == "PUT" and environ["PATH_INFO"].endswith("/tickets/update_many.json"):
                held_at_writes.append({n for n, names in enumerate(batches)
                                       if any(services.store.leases.get(name) is not None for name in names)})
            return app(environ, start_response)
        return note_leases

    _run_in_batches_of_two(services, sandbox, wrap=watching)
    assert len(held_at_writes) == 3, held_at_writes
    # Two batches are applied at once: the third is applied once the first is done, whose
    # leases are back by then; the third batch's own are held while it is written.
    assert 0 not in held_at_writes[2] and 2 in held_at_writes[2], held_at_writes
    _told_once(sandbox, tickets)
    assert all(services.store.leases.get(name) is None for names in batches for name in names)
