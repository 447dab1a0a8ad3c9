"""A paged search through the JIRA emulators over loopback (Cloud pages with
``nextPageToken``, Data Center with ``startAt``): every issue once, one request a page, and a
caller that stops early leaves the read-ahead (bridge.in_flight.ahead) no further than
:data:`bridge.connectors.jira.PAGES_AHEAD` pages past where it stopped."""

from __future__ import annotations

import time

from bridge.connectors.jira import PAGES_AHEAD, JiraTracker
from tests.fixtures.jira_sandbox import DEMO_LOGINS, jira_any, jira_cloud, jira_services  # noqa: F401

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


def _seed(tracker: JiraTracker, label: str, count: int) -> None:
    for n in range(count):
        tracker.create_issue({"project": {"key": "SUP"}, "issuetype": {"name": "Bug"},
                              "summary": f"Paging {n}", "labels": [label]})


def test_cloud_reads_the_pages_past_the_first_several_at_a_time_each_issue_once_in_order(jira_cloud):  # noqa: F811
    tracker = _tracker(jira_cloud)
    _seed(tracker, "paging-test", ISSUES)
    jql = "labels = paging-test ORDER BY created ASC"
    one_by_one = [issue.id for issue, _ in tracker.search_with_comments(jql, page_size=PAGE)]

    jira_cloud.service.knobs.update({"latency_ms": 200})  # so requests sent together overlap
    jira_cloud.service.knobs.reset_counters()
    together = [(issue, comments) for issue, comments in
                tracker.search_with_comments(jql, page_size=PAGE, concurrency=4)]
    assert [issue.id for issue, _ in together] == one_by_one  # every issue once, the search's order
    assert all(issue.summary.startswith("Paging") and issue.status for issue, _ in together)  # read in full

    searches = [e for e in jira_cloud.service.knobs.received() if "/search" in e.path]
    # The first page in full, then the ids of the rest (one page: up to 5,000), then the
    # rest in full by id: ⌈13/2⌉ + 1 requests, not ⌈13/2⌉ one after another.
    assert len(searches) == -(-ISSUES // PAGE) + 1
    by_id = [e for e in searches if "id+in+%28" in e.query or "id%20in%20(" in e.query]
    assert len(by_id) == -(-(ISSUES - PAGE) // PAGE)
    assert jira_cloud.service.knobs.peak_in_flight >= 2  # sent together, not one after another


def test_cloud_with_concurrency_one_pages_by_token_as_before(jira_cloud):  # noqa: F811
    tracker = _tracker(jira_cloud)
    _seed(tracker, "paging-test", 5)
    jira_cloud.service.knobs.reset_counters()
    found = list(tracker.search_with_comments("labels = paging-test ORDER BY created ASC", page_size=2,
                                              concurrency=1))
    assert len(found) == 5
    assert len([e for e in jira_cloud.service.knobs.received() if "/search" in e.path]) == 3
    assert jira_cloud.service.knobs.peak_in_flight == 1


def test_a_search_that_fits_in_its_first_page_costs_one_request_at_any_concurrency(jira_cloud):  # noqa: F811
    tracker = _tracker(jira_cloud)
    _seed(tracker, "paging-test", 3)
    jira_cloud.service.knobs.reset_counters()
    found = list(tracker.search_with_comments("labels = paging-test", page_size=PAGE * 2, concurrency=8))
    assert len(found) == 3
    assert len([e for e in jira_cloud.service.knobs.received() if "/search" in e.path]) == 1
