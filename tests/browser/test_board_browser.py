"""The board in a real browser: escalate through the form, watch the timeline update
without reloading, roles, inert ticket text, sign-out, throttling, accessibility."""

from __future__ import annotations

import requests
from jira import JIRA
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from bridge.board import accounts
from bridge.sandbox.jira import DEMO_LOGINS
from tests.board.conftest import ADMIN, MANAGER, VIEWER

XSS = '<script>window.pwned=1</script> {{ 7*7 }} <img src=x onerror="window.pwned=1">'


def escalate(browser, ticket: str) -> int:
    """Through the form: dry run, plan, confirm; returns the escalation's id."""
    browser.go("/")
    browser.driver.find_element(By.ID, "escalate-link").click()
    browser.wait(lambda d: d.find_elements(By.ID, "ticket"))
    browser.driver.find_element(By.ID, "ticket").send_keys(ticket)
    browser.shot("form")
    browser.driver.find_element(By.ID, "plan-button").click()
    browser.wait(lambda d: d.find_elements(By.ID, "confirm-button"))
    browser.shot("plan")
    assert browser.board.services.store.escalations.by_ticket("zendesk", ticket) is None  # the plan wrote nothing
    browser.driver.find_element(By.ID, "confirm-button").click()
    browser.wait(lambda d: "/escalations/" in d.current_url)
    browser.shot("escalated")
    return int(browser.driver.current_url.rsplit("/", 1)[-1])


def test_a_manager_escalates_and_sees_the_customer_told_without_reloading(browser, sandbox):
    browser.sign_in(MANAGER)
    escalation_id = escalate(browser, "101")
    escalation = browser.board.services.store.escalations.get(escalation_id)
    assert escalation.escalated_by == MANAGER

    browser.board.standings.refresh()
    browser.go("/")
    assert escalation.jira_key in browser.text() and "zendesk #101" in browser.text()

    browser.go(f"/escalations/{escalation_id}")
    assert "Customer saw: Acknowledgement" in browser.text()
    assert "Customer saw: Status announced" not in browser.text()
    browser.driver.execute_script("window.notReloaded = true;")

    dev = JIRA(server=sandbox.jira.url, basic_auth=DEMO_LOGINS["dev"].basic_auth("cloud"), max_retries=0)
    dev.transition_issue(escalation.jira_key, "In Progress")
    sandbox.zendesk_state.export_skips_last_minute = False
    assert browser.board.services.sync_engine().run().exit_code == 0

    browser.wait(lambda d: "Customer saw: Status announced" in browser.text_of("#timeline"))
    assert browser.driver.execute_script("return window.notReloaded === true;")
    browser.shot("told")


def test_a_viewer_has_no_escalate_button_and_is_refused_posting_the_form(browser):
    browser.sign_in(VIEWER)
    assert browser.driver.find_elements(By.ID, "escalate-link") == []
    status = browser.driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "const token = document.querySelector('input[name=csrf_token]').value;"
        "fetch('/escalations/new/confirm', {method: 'POST', credentials: 'same-origin',"
        " body: new URLSearchParams({ticket: '101', csrf_token: token})}).then(r => done(r.status));")
    assert status == 403
    browser.go("/escalations/new")
    assert "403" in browser.text()
    assert browser.board.services.store.escalations.list() == []


def test_ticket_text_is_inert_in_the_browser(browser, sandbox):
    alice = sandbox.zendesk_state.user_by_email("alice.adams@acme.example")
    created, _ = sandbox.zendesk_state.create_ticket(
        {"subject": f"Crash {XSS}", "requester_id": alice["id"], "comment": {"body": f"It breaks: {XSS}"}},
        alice["id"])
    browser.sign_in(MANAGER)
    # The plan shows the customer's words as text, braces and all.
    browser.go("/escalations/new")
    browser.driver.find_element(By.ID, "ticket").send_keys(str(created["id"]))
    browser.driver.find_element(By.ID, "plan-button").click()
    browser.wait(lambda d: d.find_elements(By.ID, "confirm-button"))
    browser.shot("plan-with-markup")
    assert browser.driver.execute_script("return window.pwned === undefined;")
    assert "{{ 7*7 }}" in browser.text() and "<script>" in browser.text()

    escalation_id = escalate(browser, str(created["id"]))
    browser.board.standings.refresh()
    for path in (f"/escalations/{escalation_id}", "/", "/failures", "/report"):
        browser.go(path)
        assert browser.driver.execute_script("return window.pwned === undefined;"), path
        assert browser.driver.execute_script("return document.querySelectorAll('script:not([src])').length;") == 0


def test_a_copied_cookie_dies_when_its_owner_signs_out(browser):
    browser.sign_in(MANAGER)
    stolen = requests.Session()
    stolen.cookies.set("bridge_board", browser.driver.get_cookie("bridge_board")["value"])
    assert stolen.get(f"{browser.board.url}/", allow_redirects=False, timeout=10).status_code == 200
    browser.driver.find_element(By.CSS_SELECTOR, "form.signout button").click()
    browser.wait(lambda d: "/login" in d.current_url)
    browser.shot("signed-out")
    assert stolen.get(f"{browser.board.url}/", allow_redirects=False, timeout=10).status_code == 302


def test_ten_wrong_passwords_throttle_sign_in(browser):
    for i in range(accounts.THROTTLE_AFTER):
        browser.sign_in(ADMIN, password=f"wrong {i}")
    assert "Too many wrong passwords" in browser.text()
    browser.sign_in(ADMIN)
    assert "Too many wrong passwords" in browser.text() and "/login" in browser.driver.current_url


def test_every_page_passes_axe_without_serious_violations(browser):
    browser.go("/login")
    found = {"/login": browser.axe()}
    browser.sign_in(ADMIN)
    escalation_id = escalate(browser, "101")
    found["/escalations/<id>"] = browser.axe()
    browser.board.standings.refresh()
    for path in ("/", "/failures", "/report", "/escalations/new", "/accounts"):
        browser.go(path)
        found[path] = browser.axe()
    browser.go("/escalations/new")
    browser.driver.find_element(By.ID, "ticket").send_keys("102")
    Select(browser.driver.find_element(By.ID, "severity")).select_by_index(1)
    browser.driver.find_element(By.ID, "plan-button").click()
    browser.wait(lambda d: d.find_elements(By.ID, "confirm-button") or "Not escalated" in d.page_source)
    found["plan"] = browser.axe()
    assert escalation_id and {page: v for page, v in found.items() if v} == {}


def test_the_accessibility_check_does_find_violations(browser):
    # Guards the check above: a page with an unlabelled image and input must fail it.
    browser.driver.get("data:text/html,<html><body><img src='x.png'><input></body></html>")
    assert {v["id"] for v in browser.axe()} >= {"image-alt"}
