"""Review of what an Escalate press does under the support policy, through `bridge serve` on
loopback: a press the policy refuses (a solved ticket) is refused on the page and never
reaches the inbox, where it failed the other customers' presses worked in the same batch;
a press on an escalation already at the highest severity says so instead of promising a
page; two different links pressed at once raise once and page once."""

from __future__ import annotations

import threading

import requests

from bridge.escalate_links import escalate_link
from bridge.escalation import EscalationRequest
from tests.conftest import ACTOR
from tests.fixtures.bridge_comments import bridge_comments
from tests.fixtures.button import button_items, form_of, on, pages, press, services  # noqa: F401 - a fixture
from tests.fixtures.serve import (
    inbox_settled,
    post_zendesk,
    serving,
    wait_until,
)

BUTTON_ACTOR = "customer:escalate-button"


def test_a_press_on_a_solved_ticket_is_refused_on_the_page_and_audited(sandbox, services):
    """Ticket 103 is solved and the mappings refuse closed tickets: the page thanked the
    customer and promised a page and a confirmation, and the press then failed in the inbox."""
    with serving(services, workers=0) as running:
        answer = press(running, services, "103")
    assert answer.status_code == 409, answer.text
    assert "being moved" not in answer.text and "paged" not in answer.text
    assert button_items(services) == []
    denied = [e for e in services.store.audit.entries(target="zendesk:103") if e.result == "denied"]
    assert [(e.actor, e.action) for e in denied] == [(BUTTON_ACTOR, "escalate-button")]
    assert "@" not in denied[0].detail  # names the customer action, not the customer


def test_a_refused_press_does_not_fail_another_customers_press(sandbox, services):
    """Both presses accepted before a worker runs are worked in one batch: the refusal of the
    solved ticket's failed the batch, so ticket 104's customer (worked after 103) was never escalated."""
    services.escalator().escalate(EscalationRequest(ticket="104", actor=ACTOR))
    with serving(services, workers=0) as running:
        press(running, services, "103")
        assert press(running, services, "104").status_code == 202
    with serving(services, workers=1):
        wait_until(lambda: inbox_settled(services.store))
    escalation = services.store.escalations.by_ticket("zendesk", "104")
    assert (escalation.severity, escalation.pages_sent) == ("emergency", 1)
    assert sandbox.jira_state.issue(escalation.jira_key)["fields"]["priority"]["name"] == "Highest"


def test_a_press_at_the_highest_severity_says_so_and_promises_no_page(sandbox, services):
    """Ticket 102 was escalated at Emergency (its subject) and paged: a link minted before
    still works, and its press promised a move and a page that never come."""
    services.escalator().escalate(EscalationRequest(ticket="102", actor=ACTOR))
    assert services.store.escalations.by_ticket("zendesk", "102").pages_sent == 1
    with serving(services, workers=1) as running:
        answer = press(running, services, "102")
        wait_until(lambda: inbox_settled(services.store))
    assert answer.status_code == 202, answer.text  # received; test_serve_button pins 202 for it
    assert "already" in answer.text and "Emergency" in answer.text
    assert "paged" not in answer.text and "being moved" not in answer.text
    assert button_items(services) == [] and len(pages(sandbox)) == 1


def test_two_links_pressed_at_once_raise_once_and_page_once(sandbox, services):
    services.escalator().escalate(EscalationRequest(ticket="101", actor=ACTOR))
    before = len(bridge_comments(sandbox, 101))
    answers: list[int] = []
    with serving(services, workers=2) as running:
        threads = [threading.Thread(target=lambda: answers.append(press(running, services, "101").status_code))
                   for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wait_until(lambda: inbox_settled(services.store))
    assert answers == [202] * 4
    escalation = services.store.escalations.by_ticket("zendesk", "101")
    assert (escalation.severity, escalation.pages_sent) == ("emergency", 1)
    assert len(pages(sandbox)) == 1
    assert len(bridge_comments(sandbox, 101)) == before + 1
    raised = [e for e in services.store.audit.entries(target="zendesk:101") if e.action == "escalate-emergency"]
    assert [e.actor for e in raised] == [BUTTON_ACTOR] and "@" not in raised[0].detail


def test_a_tag_press_the_policy_refuses_does_not_fail_a_link_press_in_the_same_batch(sandbox, services):
    """The same batch failure through the Escalate tag, which the button cannot refuse up front."""
    services.escalator().escalate(EscalationRequest(ticket="104", actor=ACTOR))
    with serving(services, workers=0) as running:
        customer = sandbox.zendesk_state.ticket(103)["requester_id"]
        sandbox.zendesk_state.update_ticket(103, {"additional_tags": ["escalate"]}, customer)
        event = {"type": "zen:event-type:ticket.tags_changed", "id": "tag-103", "detail": {"id": "103"}, "event": {}}
        assert post_zendesk(running.url, event).status_code == 202
        assert press(running, services, "104").status_code == 202
    with serving(services, workers=1):
        wait_until(lambda: inbox_settled(services.store))
    assert services.store.escalations.by_ticket("zendesk", "104").severity == "emergency"


def test_a_refused_link_confirmed_again_is_answered_without_asking_the_services(sandbox, services):
    """Each refusal read the ticket and the Bug and wrote an audit row: a refused link
    confirmed over and over cost requests and audit rows on every click."""
    link = escalate_link("zendesk", "103", config=services.config)
    browser = requests.Session()
    with serving(services, workers=0) as running:
        path, fields = form_of(browser.get(on(running, link), timeout=10))
        action = running.url + path
        assert browser.post(action, data=fields, timeout=10).status_code == 409
        sandbox.zendesk.knobs.reset_counters()
        again = [browser.post(action, data=fields, timeout=10) for _ in range(3)]
    assert [a.status_code for a in again] == [409] * 3 and all("cannot be escalated" in a.text for a in again)
    assert sandbox.zendesk.knobs.received() == []
    assert len([e for e in services.store.audit.entries(target="zendesk:103") if e.result == "denied"]) == 1
