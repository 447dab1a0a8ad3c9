"""Long and deep JQL over real HTTP, and JIRA's own texts for invalid create input.

Jira answers 200 to a JQL of thousands of ``OR`` clauses or hundreds of nested parentheses
(the emulator used to answer 500 from a recursion error), and such queries are sent by POST:
``POST /rest/api/2/search`` on Data Center, ``POST /rest/api/{2,3}/search/jql`` on Cloud.
"""

from __future__ import annotations

import pytest

from tests.fixtures.jira_sandbox import *  # noqa: F401,F403 - fixtures jira_cloud, jira_server, jira_any


def _labelled(sandbox, *labels: str) -> dict[str, str]:
    """Create one SUP Bug per label; answers label -> key."""
    keys = {}
    session = sandbox.http()
    for label in labels:
        response = session.post("issue", json={"fields": {
            "project": {"key": "SUP"}, "issuetype": {"name": "Bug"}, "summary": f"issue {label}", "labels": [label]}})
        assert response.status_code == 201, response.text
        keys[label] = response.json()["key"]
    return keys


def _search(sandbox, jql: str, api: str = "2") -> list[str]:
    """POST the query to the deployment's search API, page through, answer the keys found."""
    session = sandbox.http(api=api)
    found: list[str] = []
    if sandbox.cloud:
        body = {"jql": jql, "fields": ["summary"], "maxResults": 100}
        while True:
            response = session.post("search/jql", json=body)
            assert response.status_code == 200, response.text[:300]
            page = response.json()
            found += [issue["key"] for issue in page["issues"]]
            if page["isLast"]:
                return sorted(found)
            body["nextPageToken"] = page["nextPageToken"]
    response = session.post("search", json={"jql": jql, "fields": ["summary"], "maxResults": 1000})
    assert response.status_code == 200, response.text[:300]
    assert response.json()["total"] == len(response.json()["issues"])
    return sorted(issue["key"] for issue in response.json()["issues"])


@pytest.mark.parametrize("api", ["2", "3"])
def test_two_thousand_or_clauses_by_post_answer_200_with_the_right_issues(jira_any, api):
    if api == "3" and not jira_any.cloud:
        pytest.skip("Data Center has no REST v3")
    keys = _labelled(jira_any, "l7", "l1500", "l1999", "elsewhere")
    jql = " OR ".join(f"labels = l{i}" for i in range(2000))
    assert _search(jira_any, jql, api) == sorted([keys["l7"], keys["l1500"], keys["l1999"]])


def test_a_query_naming_ids_answers_what_the_whole_index_would(jira_any):
    """``id in (...)`` and ranges of ids are answered by looking those issues up, not by
    reading every issue (a sync pass reads its changed Bugs a range of a hundred ids a
    request): the same issues as the query's other clauses over the whole index, restricted
    to those ids."""
    keys = _labelled(jira_any, "named-a", "named-b", "named-c")
    session = jira_any.http()
    ids = {label: session.get(f"issue/{key}").json()["id"] for label, key in keys.items()}
    wanted = f"{ids['named-a']}, {ids['named-c']}"
    assert _search(jira_any, f"id in ({wanted}) ORDER BY key") == sorted([keys["named-a"], keys["named-c"]])
    assert _search(jira_any, f"labels = named-c AND id in ({wanted})") == [keys["named-c"]]
    assert _search(jira_any, f"id in ({wanted}) AND id = {ids['named-b']}") == []
    assert _search(jira_any, f"id in ({wanted}) OR labels = named-b") == sorted(keys.values())
    assert _search(jira_any, f"labels in (named-a, named-b, named-c) AND NOT id in ({wanted})") == [keys["named-b"]]
    low, high = min(ids.values(), key=int), max(ids.values(), key=int)
    assert _search(jira_any, f"id >= {low} AND id <= {high}") == sorted(keys.values())
    assert _search(jira_any, f"(labels = named-a OR labels = named-b) AND id > {low} AND id <= {high}") == [
        keys["named-b"]]
    assert _search(jira_any, f"id >= {low} AND id < {low}") == []


def test_four_hundred_nested_parentheses_answer_200_with_the_right_issues(jira_any):
    keys = _labelled(jira_any, "a0", "a1", "a398", "a399", "deep", "elsewhere")
    # (labels = a399 OR (project = SUP AND (labels = a398 OR (project = SUP AND ... (labels = deep)))))
    jql = "labels = deep"
    for level in range(400):
        jql = f"(labels = a{level} OR {jql})" if level % 2 == 0 else f"(project = SUP AND {jql})"
        # even levels add a label alternative, odd levels an AND that every SUP issue passes
    expected = sorted(keys[label] for label in ("a0", "a398", "deep"))
    assert _search(jira_any, jql) == expected
    # The same depth of bare parentheses around one clause, as a GET on Data Center.
    wrapped = "(" * 400 + "labels = a1" + ")" * 400
    assert _search(jira_any, wrapped) == [keys["a1"]]
    if not jira_any.cloud:
        response = jira_any.http().get("search", params={"jql": wrapped})
        assert response.status_code == 200 and [i["key"] for i in response.json()["issues"]] == [keys["a1"]]


def test_unbalanced_deep_jql_answers_400_with_jiras_message(jira_any):
    path = "search/jql" if jira_any.cloud else "search"
    response = jira_any.http().post(path, json={"jql": "(" * 400 + "labels = a" + ")" * 399})
    assert response.status_code == 400
    assert response.json() == {"errorMessages": [
        "Error in the JQL Query: Expecting ')' before the end of the query."], "errors": {}}


@pytest.mark.parametrize("issuetype, cloud_text, server_text", [
    ({"name": "InvalidIssueType"}, "Specify a valid issue type", "issue type is required"),
    ({"name": "Epic"}, "Specify a valid issue type", "issue type is required"),  # exists, not in SUP's scheme
    ({"id": "99999"}, "Specify a valid issue type", "valid issue type is required"),
    (None, "Specify an issue type", "issue type is required"),
])
def test_invalid_issue_type_on_create_answers_jiras_text(jira_any, issuetype, cloud_text, server_text):
    fields = {"project": {"key": "SUP"}, "summary": "x"}
    if issuetype is not None:
        fields["issuetype"] = issuetype
    response = jira_any.http().post("issue", json={"fields": fields})
    assert response.status_code == 400
    expected = cloud_text if jira_any.cloud else server_text
    assert response.json() == {"errorMessages": [], "errors": {"issuetype": expected}}
    assert jira_any.state.all_issues() == []


@pytest.mark.parametrize("project, cloud_text, server_text", [
    ({"key": "NOPE"}, "Specify a valid project ID or key", "valid project is required"),
    (None, "Specify a valid project ID or key", "project is required"),
])
def test_invalid_project_on_create_answers_jiras_text(jira_any, project, cloud_text, server_text):
    fields = {"issuetype": {"name": "Bug"}, "summary": "x"}
    if project is not None:
        fields["project"] = project
    response = jira_any.http().post("issue", json={"fields": fields})
    assert response.status_code == 400
    assert response.json()["errors"]["project"] == (cloud_text if jira_any.cloud else server_text)


def test_bulk_create_reports_the_invalid_issue_type_per_element(jira_server):
    client = jira_server.client()
    results = client.create_issues(field_list=[
        {"project": {"key": "SUP"}, "summary": "fine", "issuetype": {"name": "Bug"}},
        {"project": {"key": "SUP"}, "summary": "wrong type", "issuetype": {"name": "InvalidIssueType"}},
    ])
    assert results[0]["error"] is None and results[0]["issue"].fields.summary == "fine"
    assert results[1]["issue"] is None and results[1]["error"] == {"issuetype": "issue type is required"}
