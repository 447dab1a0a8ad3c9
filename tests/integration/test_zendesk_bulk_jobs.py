"""A round of bulk writes to Zendesk: ``update_many`` jobs of a hundred tickets, submitted
together, and their statuses read together (``job_statuses/show_many``) until every job has
finished — through the emulator over loopback, with its job worker held and released the
way Zendesk's background workers take their time."""

from __future__ import annotations

import threading
import time

import pytest

from bridge.connectors.base import Conflict, TicketWrite
from bridge.connectors.zendesk import ZendeskHelpdesk
from bridge.errors import ServiceRejected
from bridge.sandbox.zendesk import DEMO_CREDENTIALS
from tests.contract.helpdesk_contract import contract_gate
from tests.fixtures.zendesk_sandbox import ZendeskSandbox, zendesk, zendesk_service  # noqa: F401


def _helpdesk(zendesk: ZendeskSandbox) -> ZendeskHelpdesk:  # noqa: F811
    return ZendeskHelpdesk(zendesk.url, email=DEMO_CREDENTIALS["email"], token=DEMO_CREDENTIALS["token"],
                           gate=contract_gate(), retries=0)


def _tickets(zendesk: ZendeskSandbox, count: int) -> list[str]:  # noqa: F811
    customer = zendesk.state.ticket(101)["requester_id"]
    return [str(zendesk.state.create_ticket({"subject": f"t{n}", "comment": {"body": "broken"}}, customer)[0]["id"])
            for n in range(count)]


def _after_first_poll(zendesk: ZendeskSandbox, then) -> threading.Thread:  # noqa: F811
    """Run ``then`` on a thread once the emulator has answered the first job status poll."""

    def watch() -> None:
        deadline = time.monotonic() + 30
        while not zendesk.knobs.received("GET", "job_statuses/show_many") and time.monotonic() < deadline:
            time.sleep(0.005)
        then()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_show_many_lists_the_known_jobs_and_leaves_out_the_rest(zendesk: ZendeskSandbox):  # noqa: F811
    session = zendesk.session()
    jobs = [session.put(zendesk.api("tickets/update_many.json"), params={"ids": str(ticket)},
                        json={"ticket": {"additional_tags": ["x"]}}).json()["job_status"]["id"] for ticket in (101, 102)]
    answer = session.get(zendesk.api("job_statuses/show_many.json"), params={"ids": f"{jobs[0]},feedbeef,{jobs[1]}"})
    assert answer.status_code == 200
    assert [j["id"] for j in answer.json()["job_statuses"]] == jobs
    assert all(j["url"].endswith(f"job_statuses/{j['id']}.json") for j in answer.json()["job_statuses"])
    assert session.get(zendesk.api("job_statuses/show_many.json")).status_code == 400


def test_a_round_of_250_changes_is_three_jobs_whose_statuses_are_read_together(zendesk: ZendeskSandbox):  # noqa: F811
    tickets = _tickets(zendesk, 250)
    stale = zendesk.state.ticket(int(tickets[7]))["updated_at"]
    zendesk.state.update_ticket(int(tickets[7]), {"priority": "high"}, zendesk.state.ticket(101)["requester_id"])
    changes = [(t, TicketWrite(comment=f"fixed {t}", public=True, add_tags=("bridge_state_done",),
                               if_version=stale if t == tickets[7] else None)) for t in tickets]
    zendesk.knobs.reset_counters()
    zendesk.state.job_runner.pause()
    # The worker takes its time: the jobs are still queued at the first poll.
    release = _after_first_poll(zendesk, zendesk.state.job_runner.resume)
    try:
        results = _helpdesk(zendesk).write_many(changes, limit=4)
    finally:
        zendesk.state.job_runner.resume()
        release.join()
    assert isinstance(results.pop(tickets[7]), Conflict)  # its version moved: not written
    assert set(results) == set(tickets) - {tickets[7]} and all(r is None for r in results.values())
    counts = zendesk.knobs.counts()["by_route"]
    assert counts["PUT /api/v2/tickets/update_many.json"] == 3
    polls = counts["GET /api/v2/job_statuses/show_many.json"]
    assert polls >= 2  # at least one poll found the jobs unfinished
    assert not any(route.startswith("GET /api/v2/job_statuses/<") for route in counts)
    for entry in zendesk.knobs.received("GET", "job_statuses/show_many"):
        assert len(entry.query.split("ids=")[1].split("%2C")) <= 3
    assert "bridge_state_done" in zendesk.state.ticket(int(tickets[0]))["tags"]
    assert "bridge_state_done" not in zendesk.state.ticket(int(tickets[7]))["tags"]


def test_a_job_zendesk_no_longer_knows_fails_its_tickets_and_spares_the_others(zendesk: ZendeskSandbox):  # noqa: F811
    tickets = _tickets(zendesk, 150)
    zendesk.state.job_runner.pause()
    forgotten: list[int] = []

    def forget_the_first_job() -> None:
        with zendesk.state.lock:
            first = next(iter(zendesk.state.jobs))
            forgotten.append(zendesk.state.jobs[first]["total"])
            del zendesk.state.jobs[first]
        zendesk.state.job_runner.resume()

    timer = _after_first_poll(zendesk, forget_the_first_job)
    try:
        results = _helpdesk(zendesk).write_many([(t, TicketWrite(add_tags=("x",))) for t in tickets], limit=2)
    finally:
        timer.join()
        zendesk.state.job_runner.resume()
    failed = [t for t, r in results.items() if r is not None]
    assert forgotten and len(failed) == forgotten[0]  # the 100 or the 50 of the forgotten job
    assert all(isinstance(results[t], ServiceRejected) and "unknown to Zendesk" in str(results[t]) for t in failed)
    assert all(results[t] is None for t in set(tickets) - set(failed))


@pytest.mark.parametrize("count", [1, 100, 101])
def test_every_ticket_of_a_round_gets_its_own_result(zendesk: ZendeskSandbox, count: int):  # noqa: F811
    tickets = _tickets(zendesk, count)
    results = _helpdesk(zendesk).write_many([(t, TicketWrite(add_tags=("y",))) for t in tickets], limit=8)
    assert results == {t: None for t in tickets}
    assert all("y" in zendesk.state.ticket(int(t))["tags"] for t in tickets)


def _keeping_up(zendesk: ZendeskSandbox) -> ZendeskHelpdesk:  # noqa: F811
    """A connector whose every pause lasts until the emulator's worker is idle: Zendesk
    finishes each round's jobs by the first look."""
    return ZendeskHelpdesk(zendesk.url, email=DEMO_CREDENTIALS["email"], token=DEMO_CREDENTIALS["token"],
                           gate=contract_gate(), retries=0, sleep=lambda _: zendesk.state.job_runner.wait_idle())


def test_while_zendesk_keeps_up_a_marked_round_is_confirmed_by_reading_its_tickets_back(
        zendesk: ZendeskSandbox):  # noqa: F811
    tickets = _tickets(zendesk, 250)
    helpdesk = _keeping_up(zendesk)
    first = helpdesk.write_many([(t, TicketWrite(comment="one", add_tags=("bridge_state_a",))) for t in tickets],
                                limit=4)
    assert first == {t: None for t in tickets}  # polled: Zendesk's pace is not known yet
    zendesk.knobs.reset_counters()
    second = helpdesk.write_many([(t, TicketWrite(comment="two", add_tags=("bridge_state_b",),
                                                  remove_tags=("bridge_state_a",))) for t in tickets], limit=4)
    counts = zendesk.knobs.counts()["by_route"]
    assert "GET /api/v2/job_statuses/show_many.json" not in counts, counts
    assert counts["GET /api/v2/tickets/show_many.json"] == 3 and counts["PUT /api/v2/tickets/update_many.json"] == 3
    # Read back for tags and versions only: no requesters or organisations sideloaded, only
    # each ticket's last audit.
    assert all(read.query.endswith("include=last_audits") for read in zendesk.knobs.received("GET", "tickets/show_many"))
    for ticket_id in tickets:
        after, raw = second[ticket_id], zendesk.state.ticket(int(ticket_id))
        assert after.version == raw["updated_at"] and "bridge_state_b" in after.tags
        assert "bridge_state_a" not in raw["tags"] and zendesk.state.comments(int(ticket_id))[-1]["body"] == "two"


def test_a_ticket_that_does_not_show_its_change_is_polled_for_and_its_job_keeps_the_rest(
        zendesk: ZendeskSandbox):  # noqa: F811
    tickets = _tickets(zendesk, 150)
    helpdesk = _keeping_up(zendesk)
    helpdesk.write_many([(t, TicketWrite(add_tags=("warm",))) for t in tickets], limit=2)
    stale = zendesk.state.ticket(int(tickets[3]))["updated_at"]
    zendesk.state.update_ticket(int(tickets[3]), {"priority": "high"}, zendesk.state.ticket(101)["requester_id"])
    zendesk.knobs.reset_counters()
    results = helpdesk.write_many([(t, TicketWrite(add_tags=("bridge_state_c",),
                                                   if_version=stale if t == tickets[3] else None)) for t in tickets],
                                  limit=2)
    assert isinstance(results.pop(tickets[3]), Conflict)  # its job was polled for the answer
    # Every other ticket showed its change when read back, its job's included: each has
    # its version after the write, so none is read again.
    assert all(results[t].version == zendesk.state.ticket(int(t))["updated_at"] for t in results)
    assert all("bridge_state_c" in results[t].tags for t in results)
    counts = zendesk.knobs.counts()["by_route"]
    assert counts["GET /api/v2/job_statuses/show_many.json"] == 1 and counts["GET /api/v2/tickets/show_many.json"] == 2
    polled = zendesk.knobs.received("GET", "job_statuses/show_many")[0]
    assert len(polled.query.split("ids=")[1].split("%2C")) == 1  # only the job of the ticket not shown
    zendesk.knobs.reset_counters()
    unmarked = helpdesk.write_many([(t, TicketWrite(comment="note", public=False)) for t in tickets[:5]])
    assert unmarked == {t: None for t in tickets[:5]}  # no tag to show it: polled although Zendesk keeps up
    counts = zendesk.knobs.counts()["by_route"]
    assert counts["GET /api/v2/job_statuses/show_many.json"] == 1 and "GET /api/v2/tickets/show_many.json" not in counts


def test_once_zendesk_falls_behind_the_next_round_polls_first(zendesk: ZendeskSandbox):  # noqa: F811
    tickets = _tickets(zendesk, 120)
    keeping_up = {"now": True}
    helpdesk = ZendeskHelpdesk(zendesk.url, email=DEMO_CREDENTIALS["email"], token=DEMO_CREDENTIALS["token"],
                               gate=contract_gate(), retries=0,
                               sleep=lambda s: zendesk.state.job_runner.wait_idle() if keeping_up["now"] else time.sleep(s))
    helpdesk.write_many([(t, TicketWrite(add_tags=("warm",))) for t in tickets], limit=2)
    keeping_up["now"] = False
    zendesk.state.job_runner.pause()
    zendesk.knobs.reset_counters()
    release = _after_first_poll(zendesk, zendesk.state.job_runner.resume)
    try:
        late = helpdesk.write_many([(t, TicketWrite(add_tags=("bridge_state_e",))) for t in tickets], limit=2)
    finally:
        zendesk.state.job_runner.resume()
        release.join()
    assert late == {t: None for t in tickets}  # read back too early, then polled until done
    assert zendesk.knobs.counts()["by_route"]["GET /api/v2/tickets/show_many.json"] == 2  # the early look
    keeping_up["now"] = True
    zendesk.knobs.reset_counters()
    assert helpdesk.write_many([(t, TicketWrite(add_tags=("bridge_state_f",))) for t in tickets],
                               limit=2) == {t: None for t in tickets}
    counts = zendesk.knobs.counts()["by_route"]
    assert counts["GET /api/v2/job_statuses/show_many.json"] == 1 and "GET /api/v2/tickets/show_many.json" not in counts


def test_a_bulk_read_sideloads_the_people_unless_told_they_are_not_needed(zendesk: ZendeskSandbox):  # noqa: F811
    tickets = _tickets(zendesk, 3)
    requester = zendesk.state.users[zendesk.state.ticket(int(tickets[0]))["requester_id"]]
    helpdesk = _helpdesk(zendesk)
    zendesk.knobs.reset_counters()
    full = helpdesk.read_many(tickets)
    light = helpdesk.read_many(tickets, people=False)
    first, second = zendesk.knobs.received("GET", "tickets/show_many")
    assert "include=users%2Corganizations" in first.query and second.query.endswith("include=last_audits")
    assert set(full) == set(light) == set(tickets)
    # Their customer made them, and nobody has changed them since: not the bridge's last.
    assert {t.last_change_by_bridge for t in light.values()} == {False}
    for ticket_id in tickets:
        raw = zendesk.state.ticket(int(ticket_id))
        assert full[ticket_id].requester == requester["name"] and full[ticket_id].locale is not None
        # Without the people: no requester, locale or organisation, everything else the same.
        assert (light[ticket_id].requester, light[ticket_id].locale, light[ticket_id].organization) == (None, None, None)
        for ticket in (full[ticket_id], light[ticket_id]):
            assert (ticket.version, ticket.status, ticket.subject, set(ticket.tags)) == (
                raw["updated_at"], raw["status"], raw["subject"], set(raw["tags"]))
    # Once the bridge has written to them, it was the last to change them.
    helpdesk.write_many([(t, TicketWrite(comment="noted", public=False)) for t in tickets])
    assert {t.last_change_by_bridge for t in helpdesk.read_many(tickets, people=False).values()} == {True}


def test_the_read_backs_of_a_round_ask_for_the_bridges_own_user_once(zendesk: ZendeskSandbox):  # noqa: F811
    from bridge.in_flight import read_tickets

    tickets = _tickets(zendesk, 250)
    helpdesk = _helpdesk(zendesk)
    zendesk.knobs.reset_counters()
    for _ in range(2):  # three pages in flight at once, then a second round
        assert len(read_tickets(helpdesk, tickets, 3, people=False)) == 250
    counts = zendesk.knobs.counts()["by_route"]
    assert counts["GET /api/v2/tickets/show_many.json"] == 6 and counts["GET /api/v2/users/me.json"] == 1
