"""The board inside `bridge serve` (cheroot, inbox workers): a JIRA webhook, not a sync,
brings the customer's message onto the open escalation page."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from jira import JIRA

from bridge.config import load_config
from bridge.sandbox.jira import DEMO_LOGINS
from bridge.services import Services
from tests.board.conftest import MANAGER, Board
from tests.browser.conftest import Browser
from tests.browser.test_board_browser import escalate
from tests.fixtures.serve import SECRETS, inbox_settled, jira_issue_event, post_jira, serving, wait_until


@pytest.fixture
def served(sandbox, bridge_env, password_hash) -> Iterator[Board]:
    services = Services(load_config(None, env={**bridge_env, **SECRETS}))
    services.store.users.add(MANAGER, "manager", password_hash=password_hash)
    with serving(services, workers=1) as running:
        yield Board(url=running.url, services=services, standings=running.app.extensions["bridge.board.standings"],
                    app=running.app)


def test_a_jira_webhook_brings_the_customers_message_onto_the_open_page(driver, served, sandbox, request):
    driver.delete_all_cookies()
    browser = Browser(driver, served, request.node.name)
    browser.sign_in(MANAGER)
    escalation_id = escalate(browser, "101")
    escalation = served.services.store.escalations.get(escalation_id)
    assert "Customer saw: Status announced" not in browser.text()
    driver.execute_script("window.notReloaded = true;")

    dev = JIRA(server=sandbox.jira.url, basic_auth=DEMO_LOGINS["dev"].basic_auth("cloud"), max_retries=0)
    dev.transition_issue(escalation.jira_key, "In Progress")
    assert post_jira(served.url, jira_issue_event(dev.issue(escalation.jira_key)), delivery="board-1").status_code == 202
    wait_until(lambda: inbox_settled(served.services.store), what="the inbox to settle")

    browser.wait(lambda d: "Customer saw: Status announced" in browser.text_of("#timeline"))
    assert driver.execute_script("return window.notReloaded === true;")
    browser.shot("told-by-webhook")
    driver.delete_all_cookies()
