"""The JIRA emulator's search cache answers exactly what a fresh evaluation would.

Search keeps the ordered result of a query so that the pages of one ``search/jql`` walk
evaluate the JQL once (issue #15). These tests check that nothing a search depends on —
a write, a lagging write reaching the index, the issues to reconcile — can leave a stale
answer in the cache: a hypothesis property over random writes, clock moves and searches,
and a paged walk over real HTTP with a write between its pages.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import example, given, settings
from hypothesis import strategies as st

from bridge.sandbox.jira_state import JiraState
from tests.fixtures.jira_sandbox import *  # noqa: F401,F403 - fixture jira_cloud

START = datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc)
START_MS = int(START.timestamp() * 1000)
QUERIES = (
    'labels = "a"',
    'labels = "a" ORDER BY updated ASC',
    f'labels = "b" AND (updated >= {START_MS + 30_000}) ORDER BY updated ASC',
    'project = SUP AND status = "In Progress"',
    "project = SUP ORDER BY summary DESC",
)
START_PROGRESS = "21"  # To Do -> In Progress in the emulator's workflow

searches = st.tuples(st.just("search"), st.sampled_from(QUERIES), st.lists(st.integers(0, 30), max_size=3))
operations = st.lists(st.one_of(
    searches, searches,  # as likely as all writes together: a stale answer shows on the search after a change
    st.tuples(st.just("create"), st.sampled_from(["a", "b"]), st.booleans()),
    st.tuples(st.just("relabel"), st.integers(0, 30), st.sampled_from(["a", "b"])),
    st.tuples(st.just("start"), st.integers(0, 30)),
    st.tuples(st.just("comment"), st.integers(0, 30)),
    st.tuples(st.just("advance"), st.sampled_from([1, 4, 10, 40])),
    st.tuples(st.just("lag"), st.sampled_from([0.0, 5.0, 20.0])),
), min_size=1, max_size=40)


def _fresh(state: JiraState, jql_text: str, user, reconcile: list[int]) -> list[int]:
    """The ids a search returns when nothing is cached."""
    state._search_cache.clear()
    return [r.id for r in state.search(jql_text, user, reconcile=reconcile)[0]]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([0.0, 5.0]), operations)
# A lagging write reaching the index between two searches, with no write in between.
@example(5.0, [("create", "a", True), ("search", QUERIES[0], []), ("advance", 10), ("search", QUERIES[0], [])])
# The same query with and without issues to reconcile (these see the live issue).
@example(5.0, [("create", "a", True), ("search", QUERIES[0], [0]), ("search", QUERIES[0], [])])
def test_cached_search_equals_a_fresh_evaluation(lag, ops):
    clock = {"now": START}
    state = JiraState("cloud", clock=lambda: clock["now"])
    state.seed_demo()
    state.search_lag_s = lag
    bridge, dev = state.user_by(name="bridge"), state.user_by(name="dev")
    created: list[int] = []

    def issue(n: int):
        return state.issues[created[n % len(created)]] if created else None

    for op in ops:
        kind = op[0]
        if kind == "create":
            record = state.create_issue({"fields": {
                "project": {"key": "SUP"}, "issuetype": {"name": "Bug"},
                "summary": f"issue {len(created)} {'z' if op[2] else 'a'}", "labels": [op[1]]}}, bridge, adf=False)
            created.append(record.id)
        elif kind == "relabel" and issue(op[1]) is not None:
            state.edit_issue(issue(op[1]), {"fields": {"labels": [op[2]]}}, bridge, adf=False)
        elif kind == "start" and issue(op[1]) is not None:
            record = issue(op[1])
            if any(t.id == START_PROGRESS for t in state.transitions_for(record)):
                state.transition(record, {"transition": {"id": START_PROGRESS}}, dev, adf=False)
        elif kind == "comment" and issue(op[1]) is not None:
            state.add_comment(issue(op[1]), {"body": "seen"}, dev, adf=False)
        elif kind == "advance":
            clock["now"] += timedelta(seconds=op[1])
        elif kind == "lag":
            state.search_lag_s = op[1]
        elif kind == "search":
            reconcile = [created[n % len(created)] for n in op[2]] if created else []
            # Twice from the cache (a second page reads it), then against a fresh evaluation.
            first = [r.id for r in state.search(op[1], bridge, reconcile=reconcile)[0]]
            again = [r.id for r in state.search(op[1], bridge, reconcile=reconcile)[0]]
            assert first == again == _fresh(state, op[1], bridge, reconcile), op


def test_pages_of_a_reconciled_search_see_a_write_between_them(jira_cloud):
    """Page 1 of a search with ``reconcileIssues`` is cached for page 2; a write in between
    must reach page 2 (the walk then sees the newly labelled issue, as Jira would)."""
    http = jira_cloud.http(api="3")
    client = jira_cloud.client()
    bugs = [client.create_issue(project="SUP", summary=f"bug {n}", issuetype={"name": "Bug"}, labels=["walk"])
            for n in range(3)]
    body = {"jql": 'labels = "walk" ORDER BY created ASC', "fields": ["summary"], "maxResults": 2,
            "reconcileIssues": [int(bugs[0].id)]}
    first = http.post("search/jql", json=body).json()
    assert [i["fields"]["summary"] for i in first["issues"]] == ["bug 0", "bug 1"] and not first["isLast"]
    same = http.post("search/jql", json={**body, "nextPageToken": first["nextPageToken"]}).json()
    assert [i["fields"]["summary"] for i in same["issues"]] == ["bug 2"] and same["isLast"]
    client.create_issue(project="SUP", summary="bug 3", issuetype={"name": "Bug"}, labels=["walk"])
    second = http.post("search/jql", json={**body, "nextPageToken": first["nextPageToken"]}).json()
    assert [i["fields"]["summary"] for i in second["issues"]] == ["bug 2", "bug 3"] and second["isLast"]
