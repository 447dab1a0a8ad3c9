"""A paged search through the JIRA emulators over loopback (Cloud pages with
``nextPageToken``, Data Center with ``startAt``): every issue once, one request a page, and a
caller that stops early leaves the read-ahead (bridge.in_flight.ahead) no further than
:data:`bridge.connectors.jira.PAGES_AHEAD` pages past where it stopped."""

from __future__ import annotations

import time

from bridge.connectors.jira import PAGES_AHEAD, JiraTracker
from tests.fixtures.jira_sandbox import DEMO_LOGINS, jira_any, jira_services  # noqa: F401

ISSUES = 13
PAGE = 2  # seven pages: more than the read-ahead's depth plus the page being read


def _tracker(sandbox) -> JiraTracker:  # noqa: F811
    user, token = DEMO_LOGINS["bridge"].basic_auth(sandbox.mode)
    return JiraTracker(sandbox.url, user=user, token=token, retries=0)


def _searches(sandbox) -> int:  # noqa: F811
    return sum(1 for e in sandbox.service.knobs.received() if "/search" in e.path)


def test_a_paged_search_reads_each_page_once_and_stopping_early_ends_the_reading(jira_any):  # noqa: F811
    tracker = _tracker(jira_any)
    keys = {tracker.create_issue({"project": {"key": "SUP"}, "issuetype": {"name": "Bug"},
                                  "summary": f"Paging {n}", "labels": ["paging-test"]}).key for n in range(ISSUES)}
    jql = "labels = paging-test ORDER BY created ASC"
    jira_any.service.knobs.reset_counters()
    found = [issue.key for issue, _ in tracker.search_with_comments(jql, page_size=PAGE)]
    assert sorted(found) == sorted(keys)  # each issue once
    pages = -(-ISSUES // PAGE)
    assert _searches(jira_any) == pages

    # A caller busy with the first issue: the read-ahead fills up to its depth and stops.
    jira_any.service.knobs.reset_counters()
    walk = tracker.search_with_comments(jql, page_size=PAGE)
    next(walk)
    deadline = time.monotonic() + 10
    while _searches(jira_any) < 1 + PAGES_AHEAD and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)  # room for a fetch beyond the depth, were there one
    assert _searches(jira_any) == 1 + PAGES_AHEAD < pages
    walk.close()  # stopping starts no further page
    assert _searches(jira_any) <= 2 + PAGES_AHEAD
