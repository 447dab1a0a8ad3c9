"""The executor applies a round's helpdesk writes through real HTTP against the sandbox and
records the round's results in one go: what each ticket was told and the status the write
set land together with the outbox entries, before any later step of a sync pass."""

from __future__ import annotations

from bridge.actions import Announce, state_tag
from bridge.executor import Executor, Item
from tests.fixtures.bridge_comments import escalate_together

TICKETS = (101, 104, 105)


def announce(ticket: int, state: str, status: str | None) -> Announce:
    return Announce(key=f"announce:zendesk:{ticket}:test:{state}", helpdesk="zendesk", ticket_id=str(ticket),
                    state=state, template="in_progress", locale=None, helpdesk_status=status,
                    context={"status": state, "ticket_id": str(ticket), "subject": ""})


def executor(services) -> Executor:
    return Executor(store=services.store, tracker=services.tracker, helpdesk=services.helpdesk,
                    messages=services.messages, concurrency=3)


def test_a_round_records_what_each_ticket_was_told_and_the_status_it_set(sandbox, services):
    key = escalate_together(services, sandbox, TICKETS)
    escalation = services.store.escalations.by_key(key)
    actions = [announce(t, "resolved", "solved") for t in TICKETS]

    outcomes = executor(services).apply([Item(escalation=escalation, actions=actions)])

    assert [o.result for o in outcomes] == ["done"] * 3
    for ticket in TICKETS:
        assert sandbox.zendesk_state.ticket(ticket)["status"] == "solved"
        assert state_tag("resolved") in sandbox.zendesk_state.ticket(ticket)["tags"]
        link = services.store.links.get("zendesk", str(ticket))
        # Recorded by the executor itself: a pass killed before its seen positions are
        # recorded still knows the bridge solved the ticket.
        assert link is not None and (link.last_announced_state, link.last_status) == ("resolved", "solved")
        entry = services.store.outbox.get(f"announce:zendesk:{ticket}:test:resolved")
        assert entry is not None and entry.state == "sent"
        assert services.store.outbox.payload(entry)["public"] is True
    assert {e.target for e in services.store.audit.entries() if e.action == "Announce"} == {
        f"zendesk:{t}" for t in TICKETS}


def test_an_announcement_already_sent_is_skipped_and_one_already_on_the_ticket_is_not_written_again(
        sandbox, services):
    key = escalate_together(services, sandbox, TICKETS)
    escalation = services.store.escalations.by_key(key)
    first = [announce(t, "in_progress", None) for t in TICKETS]
    executor(services).apply([Item(escalation=escalation, actions=first)])
    replies = {t: len(sandbox.zendesk_state.comments(t)) for t in TICKETS}

    # The same keys again: sent, skipped without a request to the ticket.
    again = executor(services).apply([Item(escalation=escalation, actions=first)])
    assert [(o.result, o.detail) for o in again] == [("skipped", "already sent")] * 3

    # A claim left pending by a run that died after its write (an orphan): the marker on
    # the ticket says it landed, so nothing is written twice.
    orphan = announce(101, "in_progress", None)
    orphan = Announce(**{**orphan.__dict__, "key": "announce:zendesk:101:test:in_progress:retry"})
    services.store.outbox.claim_many([{"key": orphan.key, "target": orphan.target, "kind": "Announce"}])
    [outcome] = executor(services).apply([Item(escalation=escalation, actions=[orphan])])
    assert (outcome.result, outcome.detail) == ("skipped", "the ticket already carries its marker")
    assert {t: len(sandbox.zendesk_state.comments(t)) for t in TICKETS} == replies
