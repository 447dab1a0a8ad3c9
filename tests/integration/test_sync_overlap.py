"""A sync pass applies one batch while it plans the next (bridge.sync.overlap), through
real HTTP against the sandbox and a store on disk: the next batch's escalations are leased
and planned while Zendesk still works the last batch's bulk job, and every customer is
told once all the same."""

from __future__ import annotations

import threading
import time

from jira import JIRA

from bridge.sandbox.jira import DEMO_LOGINS
from bridge.store.lease_group import escalation_lease
from tests.fixtures.bridge_comments import bridge_comments, escalate_together


def _held(services, escalation_ids) -> bool:
    return all(services.store.leases.get(escalation_lease(i)) is not None for i in escalation_ids)


def test_the_next_batch_is_planned_while_zendesk_works_the_last_ones_job_and_each_customer_is_told_once(
        sandbox, services):
    # Two Bugs of two tickets each: each batch writes two tickets, in one bulk job.
    customer = sandbox.zendesk_state.ticket(101)["requester_id"]
    tickets = [sandbox.zendesk_state.create_ticket({"subject": f"Export {n} fails", "comment": {"body": "broken"}},
                                                   customer)[0]["id"] for n in range(4)]
    keys = [escalate_together(services, sandbox, tickets[:2]), escalate_together(services, sandbox, tickets[2:])]
    ids = [services.store.escalations.by_key(key).id for key in keys]
    first = services.sync_engine().run()
    assert first.exit_code == 0, first.failures
    dev = JIRA(server=sandbox.jira.url, basic_auth=DEMO_LOGINS["dev"].basic_auth("cloud"), max_retries=0)
    for key in keys:
        dev.transition_issue(key, "In Progress")
    before = {t: len(bridge_comments(sandbox, t)) for t in tickets}

    engine = services.sync_engine()
    engine.pass_batch = 1  # one Bug a batch
    assert services.store.concurrent_sessions  # a store on disk: batches are applied behind
    runner = sandbox.zendesk_state.job_runner
    runner.pause()  # no bulk job finishes: the first batch's apply cannot end
    result: dict = {}
    sync = threading.Thread(target=lambda: result.setdefault("report", engine.run()), daemon=True)
    sync.start()
    try:
        deadline = time.monotonic() + 20
        while not _held(services, ids) and time.monotonic() < deadline:
            time.sleep(0.01)
        overlapped = _held(services, ids)
    finally:
        runner.resume()
        sync.join(60)
    # The second batch was leased (and planned) while the first batch's job was held.
    assert overlapped, "the next batch waited for the last one's bulk job"
    assert not sync.is_alive()
    report = result["report"]
    assert report.exit_code == 0, report.failures
    assert {t: len(bridge_comments(sandbox, t)) for t in tickets} == {t: before[t] + 1 for t in tickets}
    for ticket in tickets:
        assert "bridge_state_in_progress" in sandbox.zendesk_state.ticket(ticket)["tags"]
    # Nothing left to say, and nothing said twice.
    again = services.sync_engine().run()
    assert again.exit_code == 0, again.failures
    assert {t: len(bridge_comments(sandbox, t)) for t in tickets} == {t: before[t] + 1 for t in tickets}
    assert not any(_held(services, [i]) for i in ids)  # every lease given back

