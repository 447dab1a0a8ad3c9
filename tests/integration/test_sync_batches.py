"""A sync pass works its escalations in batches (leased, planned, applied and recorded
together): a pass killed between batches, through real HTTP against the sandbox and a
store on disk, leaves the next runs to tell each customer once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from jira import JIRA

from bridge.sandbox.jira import DEMO_LOGINS
from tests.fixtures.bridge_comments import bridge_comments, escalate_together


#: A sync pass in its own process, one Bug a batch, configured from the environment.
SYNC_IN_BATCHES_OF_ONE = """
import os
from bridge.config import load_config
from bridge.services import Services
engine = Services(load_config(None, env=dict(os.environ))).sync_engine()
engine.pass_batch = 1
engine.run()
"""


@pytest.mark.parametrize("after_writes", [1, 2, 3])  # each batch is one bulk write
def test_a_pass_killed_between_its_batches_tells_each_customer_once(
        sandbox, services, bridge_env, tmp_path, after_writes):
    customer = sandbox.zendesk_state.ticket(101)["requester_id"]
    tickets = [sandbox.zendesk_state.create_ticket({"subject": f"Import {n} hangs", "comment": {"body": "stuck"}},
                                                   customer)[0]["id"] for n in range(6)]
    keys = [escalate_together(services, sandbox, tickets[n:n + 2]) for n in range(0, 6, 2)]
    first = services.sync_engine().run()
    assert first.exit_code == 0, first.failures
    dev = JIRA(server=sandbox.jira.url, basic_auth=DEMO_LOGINS["dev"].basic_auth("cloud"), max_retries=0)
    for key in keys:
        dev.transition_issue(key, "In Progress")
    before = {t: len(bridge_comments(sandbox, t)) for t in tickets}

    zendesk = sandbox.zendesk.knobs
    zendesk.reset_counters()
    zendesk.update({"latency_ms": 60})  # a write in flight when the process dies still lands
    process = subprocess.Popen([sys.executable, "-c", SYNC_IN_BATCHES_OF_ONE], env={**os.environ, **bridge_env},
                               cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        give_up = time.monotonic() + 120
        while process.poll() is None and time.monotonic() < give_up:
            if len([e for e in zendesk.received() if e.method != "GET"]) >= after_writes:
                process.send_signal(signal.SIGKILL)
                break
            time.sleep(0.002)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
        time.sleep(0.2)  # the write that was in flight lands
        zendesk.update({"latency_ms": 0})
    if after_writes < 3:  # batches were left to write: killed mid-pass, not finished
        assert process.returncode == -signal.SIGKILL
    else:  # after the last bulk write only a little is left; a loaded machine may finish it
        assert process.returncode in (-signal.SIGKILL, 0)

    for _ in range(2):  # the next runs converge: each message once, none lost
        report = services.sync_engine().run()
        assert report.exit_code == 0, report.failures
    assert {t: len(bridge_comments(sandbox, t)) for t in tickets} == {t: before[t] + 1 for t in tickets}
    for ticket in tickets:
        assert "bridge_state_in_progress" in sandbox.zendesk_state.ticket(ticket)["tags"]
