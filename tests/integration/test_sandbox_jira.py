"""The JIRA emulator over real HTTP: the unmodified ``jira`` library against Cloud and Data Center.

Every test checks what the emulator ended up holding (through ``JiraState``) or what a
second, independent read returns — not only status codes. Raw ``requests`` calls cover what
the library never sends (v3 ADF bodies, malformed input, the removed search API).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jira import JIRAError

from bridge.sandbox.jira_adf import adf_to_text, text_to_adf
from tests.fixtures.jira_sandbox import *  # noqa: F401,F403 - fixtures jira_cloud, jira_server, jira_any

JIRA_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4}$")
ISSUE_GONE = {"errorMessages": ["Issue does not exist or you do not have permission to see it."], "errors": {}}


def _bug(client, summary="Login fails on iOS", **fields):
    return client.create_issue(project="SUP", summary=summary, issuetype={"name": "Bug"}, **fields)


def _jira_error(call) -> JIRAError:
    with pytest.raises(JIRAError) as caught:
        call()
    return caught.value


# -- connecting --------------------------------------------------------------------------------

def test_cloud_accepts_email_and_api_token_and_reports_cloud(jira_cloud):
    client = jira_cloud.client()
    me = client.myself()
    assert client.server_info()["deploymentType"] == "Cloud" and client._is_cloud
    assert me["accountId"] == DEMO_CREDENTIALS["account_id"] and me["emailAddress"] == "bridge@example.com"
    assert "name" not in me


@pytest.mark.parametrize("auth", ["basic", "token"])
def test_data_center_accepts_password_and_personal_access_token(jira_server, auth):
    client = jira_server.client(auth=auth)
    me = client.myself()
    assert client.server_info()["deploymentType"] == "Server" and not client._is_cloud
    assert (me["name"], me["key"]) == ("bridge", "JIRAUSER10000")


def test_bad_credentials_answer_401_with_jiras_body(jira_any):
    session = jira_any.http(None)
    session.auth = ("bridge@example.com" if jira_any.cloud else "bridge", "wrong")
    response = session.get("myself")
    assert response.status_code == 401
    assert response.json() == {"errorMessages": [
        "You are not authenticated. Authentication required to perform this operation."], "errors": {}}
    # The server's version is public, as in Jira, but not to wrong credentials.
    assert session.get("serverInfo").status_code == 401
    assert jira_any.http(None).get("serverInfo").status_code == 200
    assert jira_any.http(None).get("project").status_code == 401


def test_cloud_refuses_passwords_and_bearer_tokens(jira_cloud):
    session = jira_cloud.http(None)
    session.auth = ("bridge@example.com", DEMO_LOGINS["bridge"].password)
    assert session.get("myself").status_code == 401
    bearer = jira_cloud.http(None)
    bearer.headers["Authorization"] = f"Bearer {DEMO_LOGINS['bridge'].pat}"
    assert bearer.get("myself").status_code == 401


def test_site_configuration_is_the_demo_world(jira_any):
    client = jira_any.client()
    assert [(p.id, p.name) for p in client.priorities()] == [
        ("1", "Highest"), ("2", "High"), ("3", "Medium"), ("4", "Low"), ("5", "Lowest")]
    assert [s.name for s in client.statuses()] == ["To Do", "In Progress", "In QA", "Done"]
    assert {r.name for r in client.resolutions()} == {"Fixed", "Won't Fix", "Duplicate", "Cannot Reproduce", "Done"}
    assert [p.key for p in client.projects()] == ["SUP", "OPS"]
    sup = client.project("SUP")
    assert sup.name == "Support Escalations"
    assert [t.name for t in sup.issueTypes] == ["Bug", "Task", "Sub-task"]
    assert [c["name"] for c in sup.raw["components"]] == ["Mobile", "Web", "API"]
    assert [t.name for t in client.project("OPS").issueTypes] == ["Task"]
    fields = {f["id"]: f for f in client.fields()}
    assert fields["customfield_10100"]["name"] == "Affected customers"
    assert fields["customfield_10100"]["schema"]["type"] == "number"
    assert fields["customfield_10104"]["clauseNames"] == ["cf[10104]", "Customer tier"]
    assert {lt.name: (lt.inward, lt.outward) for lt in client.issue_link_types()} == {
        "Blocks": ("is blocked by", "blocks"), "Cloners": ("is cloned by", "clones"),
        "Duplicate": ("is duplicated by", "duplicates"), "Relates": ("relates to", "relates to")}
    assert [(v.name, v.released) for v in client.project_versions("SUP")] == [("2.3.1", True), ("2.4.0", False)]


def test_the_developer_sees_times_in_their_profile_zone(jira_any):
    key = _bug(jira_any.client()).key
    dev = jira_any.client("dev")
    assert dev.myself()["timeZone"] == "Europe/Berlin"
    created = dev.issue(key).fields.created
    assert JIRA_TIME.match(created) and created[-5:] in ("+0100", "+0200")
    assert jira_any.client().issue(key).fields.created.endswith("+0000")


# -- issues ------------------------------------------------------------------------------------

def test_create_issue_with_labels_priority_components_and_custom_fields(jira_any):
    client = jira_any.client()
    issue = _bug(client, labels=["bridge-zendesk-101", "bridge"], priority={"name": "High"},
                 components=[{"name": "Mobile"}, {"name": "API"}], customfield_10100=3,
                 customfield_10101="Login", customfield_10104="Enterprise",
                 description="Steps:\n1. open app\n\nExpected: login")
    assert (issue.key, issue.id) == ("SUP-1", "10000")
    stored = jira_any.state.issue("SUP-1")["fields"]
    assert stored["labels"] == ["bridge-zendesk-101", "bridge"]
    assert stored["priority"]["name"] == "High" and stored["issuetype"]["name"] == "Bug"
    assert [c["name"] for c in stored["components"]] == ["Mobile", "API"]
    assert (stored["customfield_10100"], stored["customfield_10101"], stored["customfield_10104"]) == (3, "Login", "Enterprise")
    assert stored["description"] == "Steps:\n1. open app\n\nExpected: login"
    assert stored["status"]["name"] == "To Do" and stored["status"]["statusCategory"]["key"] == "new"
    assert stored["resolution"] is None and stored["created"] == stored["updated"]
    assert issue.self == f"{jira_any.url}/rest/api/2/issue/10000"
    # An issue type given by name alone is looked up by the library first.
    task = client.create_issue(project="OPS", summary="Rotate keys", issuetype="Task")
    assert task.key == "OPS-1" and task.fields.priority.name == "Medium"


def test_update_writes_a_changelog_with_author_and_time_and_moves_updated(jira_any):
    client = jira_any.client()
    issue = _bug(client, labels=["a"])
    created = issue.fields.created
    jira_any.state.clock = lambda: datetime.now(timezone.utc) + timedelta(minutes=5)
    issue.update(summary="Login fails on iOS 18", fields={"customfield_10100": 7, "labels": ["a", "b"]})
    assert issue.fields.summary == "Login fails on iOS 18"  # the library re-reads issue.self
    changed = client.issue(issue.key, expand="changelog")
    assert changed.fields.updated > created
    [history] = changed.changelog.histories
    assert history.author.displayName == "Escalation Bridge" and JIRA_TIME.match(history.created)
    items = {i.field: (getattr(i, "fromString", None), i.toString) for i in history.items}
    assert items == {"summary": ("Login fails on iOS", "Login fails on iOS 18"),
                     "labels": ("a", "a b"), "Affected customers": (None, "7")}


def test_update_operations_add_and_remove_list_values(jira_any):
    client = jira_any.client()
    issue = _bug(client, labels=["keep", "drop"])
    issue.update(update={"labels": [{"add": "new"}, {"remove": "drop"}],
                         "fixVersions": [{"add": {"name": "2.4.0"}}],
                         "comment": [{"add": {"body": "via update"}}]})
    state = jira_any.state.issue(issue.key)
    assert state["fields"]["labels"] == ["keep", "new"]
    assert [v["name"] for v in state["fields"]["fixVersions"]] == ["2.4.0"]
    assert [c["body"] for c in jira_any.state.comments(issue.key)] == ["via update"]
    fix_item = [i for h in state["changelog"]["histories"] for i in h["items"] if i["field"] == "Fix Version"]
    assert fix_item == [{"field": "Fix Version", "fieldtype": "jira", "fieldId": "fixVersions",
                         "to": fix_item[0]["to"], "toString": "2.4.0"}]


def test_workflow_transitions_by_name_and_id_set_and_clear_resolution(jira_any):
    client = jira_any.client()
    key = _bug(client).key
    assert [t["name"] for t in client.transitions(key)] == ["In Progress", "Done"]
    client.transition_issue(key, "In Progress")
    client.transition_issue(key, 31)  # an id may arrive as an integer
    client.transition_issue(key, "Done", fields={"resolution": {"name": "Won't Fix"}})
    done = jira_any.state.issue(key)["fields"]
    assert done["status"]["name"] == "Done" and done["status"]["statusCategory"]["key"] == "done"
    assert done["resolution"]["name"] == "Won't Fix" and JIRA_TIME.match(done["resolutiondate"])
    assert done["statuscategorychangedate"] == done["resolutiondate"]
    client.transition_issue(key, "Reopen")
    reopened = jira_any.state.issue(key)
    assert reopened["fields"]["status"]["name"] == "To Do"
    assert reopened["fields"]["resolution"] is None and reopened["fields"]["resolutiondate"] is None
    statuses = [(i["fromString"], i["toString"]) for h in reopened["changelog"]["histories"]
                for i in h["items"] if i["field"] == "status"]
    assert statuses == [("To Do", "In Progress"), ("In Progress", "In QA"), ("In QA", "Done"), ("Done", "To Do")]
    # Straight to Done takes the default resolution.
    client.transition_issue(key, "41")
    assert jira_any.state.issue(key)["fields"]["resolution"]["name"] == "Done"


def test_invalid_transitions_and_screen_fields_answer_400(jira_any):
    client = jira_any.client()
    key = _bug(client).key
    error = _jira_error(lambda: client.transition_issue(key, "31"))
    assert error.status_code == 400 and "Transition id '31' is not valid for this issue." in error.text
    error = _jira_error(lambda: client.transition_issue(key, "21", fields={"resolution": {"name": "Fixed"}}))
    assert error.status_code == 400 and "resolution" in error.response.json()["errors"]
    assert jira_any.state.issue(key)["fields"]["status"]["name"] == "To Do"


# -- search ------------------------------------------------------------------------------------

def test_search_issues_finds_by_label_in_both_modes(jira_any):
    client = jira_any.client()
    _bug(client, labels=["bridge-zendesk-1"])
    _bug(client, labels=["bridge-zendesk-2"])
    found = client.search_issues('project = SUP AND labels = "bridge-zendesk-2"', fields="summary,labels")
    assert [(i.key, i.fields.labels) for i in found] == [("SUP-2", ["bridge-zendesk-2"])]
    assert [i.key for i in client.search_issues("project = SUP")] == ["SUP-2", "SUP-1"]


def test_data_center_search_pages_with_start_at_and_total(jira_server):
    client = jira_server.client()
    for n in range(5):
        _bug(client, summary=f"bug {n}")
    page = client.search_issues("project = SUP ORDER BY key ASC", startAt=2, maxResults=2)
    assert [i.key for i in page] == ["SUP-3", "SUP-4"] and page.total == 5
    assert [i.key for i in client.search_issues("project = SUP ORDER BY key ASC", maxResults=0)] == [
        f"SUP-{n}" for n in range(1, 6)]
    assert client.enhanced_search_issues("project = SUP") is None  # the library's own Server answer
    assert jira_server.http().get("search/jql", params={"jql": "project = SUP"}).status_code == 404


def test_cloud_enhanced_search_pages_with_next_page_token(jira_cloud):
    client = jira_cloud.client()
    for n in range(7):
        _bug(client, summary=f"bug {n}")
    first = client.enhanced_search_issues("project = SUP ORDER BY key ASC", maxResults=3, fields="summary")
    assert [i.key for i in first] == ["SUP-1", "SUP-2", "SUP-3"] and first.nextPageToken
    second = client.enhanced_search_issues("project = SUP ORDER BY key ASC", maxResults=3,
                                           nextPageToken=first.nextPageToken, fields="summary")
    assert [i.key for i in second] == ["SUP-4", "SUP-5", "SUP-6"]
    everything = client.enhanced_search_issues("project = SUP ORDER BY key ASC", maxResults=0)
    assert len(everything) == 7 and everything[6].fields.summary == "bug 6"


def test_cloud_search_jql_returns_ids_only_without_fields_and_no_total(jira_cloud):
    client = jira_cloud.client()
    for _ in range(3):
        _bug(client)
    http = jira_cloud.http(api="3")
    body = http.get("search/jql", params={"jql": "project = SUP"}).json()
    assert body == {"issues": [{"id": "10002"}, {"id": "10001"}, {"id": "10000"}], "isLast": True}
    posted = http.post("search/jql", json={"jql": "project = SUP", "maxResults": 2,
                                           "fields": ["summary", "status"]}).json()
    assert [i["key"] for i in posted["issues"]] == ["SUP-3", "SUP-2"] and "total" not in posted
    assert set(posted["issues"][0]["fields"]) == {"summary", "status"} and posted["isLast"] is False
    following = http.post("search/jql", json={"jql": "project = SUP", "maxResults": 2, "fields": ["summary"],
                                              "nextPageToken": posted["nextPageToken"]}).json()
    assert [i["key"] for i in following["issues"]] == ["SUP-1"] and following["isLast"] is True
    bad_token = http.get("search/jql", params={"jql": "project = OPS", "nextPageToken": posted["nextPageToken"]})
    assert bad_token.status_code == 400


def test_cloud_removed_search_api_answers_410(jira_cloud):
    for api in ("2", "3"):
        response = jira_cloud.http(api=api).get("search", params={"jql": "project = SUP"})
        assert response.status_code == 410
        assert response.json() == {"errorMessages": [
            "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. A full "
            "migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"],
            "errors": {}}


def test_jql_errors_answer_400_with_jiras_messages(jira_any):
    path = "search/jql" if jira_any.cloud else "search"
    http = jira_any.http()
    syntax = http.get(path, params={"jql": "project = SUP AND", "fields": "summary"})
    assert syntax.status_code == 400 and syntax.json() == {"errorMessages": [
        "Error in the JQL Query: Expecting a field name before the end of the query."], "errors": {}}
    unknown = http.get(path, params={"jql": "foo = 1"})
    assert unknown.json()["errorMessages"] == ["Field 'foo' does not exist or you do not have permission to view it."]
    value = http.get(path, params={"jql": "project = NOPE"})
    assert value.status_code == 400
    assert value.json()["errorMessages"] == ["The value 'NOPE' does not exist for the field 'project'."]


def test_cloud_refuses_unbounded_queries_on_search_jql(jira_cloud):
    response = jira_cloud.http().get("search/jql", params={"jql": "ORDER BY created DESC"})
    assert response.status_code == 400 and "Unbounded JQL" in response.json()["errorMessages"][0]


def test_search_lags_behind_writes_when_asked_unless_reconciled(jira_cloud):
    clock = {"now": datetime(2025, 3, 10, 12, 0, tzinfo=timezone.utc)}
    jira_cloud.state.clock = lambda: clock["now"]
    client = jira_cloud.client()
    old = _bug(client, summary="indexed before the lag")
    admin = jira_cloud.http(None)
    assert admin.patch(f"{jira_cloud.url}/__sandbox__/jira", json={"search_lag_s": 2}).json()["search_lag_s"] == 2
    fresh = _bug(client, summary="fresh")
    old.update(summary="renamed")
    http = jira_cloud.http(api="3")

    def search(**extra):
        return http.post("search/jql", json={"jql": "project = SUP", "fields": ["summary"], **extra}).json()["issues"]
    assert [(i["key"], i["fields"]["summary"]) for i in search()] == [("SUP-1", "indexed before the lag")]
    reconciled = search(reconcileIssues=[int(fresh.id), int(old.id)])
    assert sorted((i["key"], i["fields"]["summary"]) for i in reconciled) == [("SUP-1", "renamed"), ("SUP-2", "fresh")]
    clock["now"] += timedelta(seconds=3)
    assert [(i["key"], i["fields"]["summary"]) for i in search()] == [("SUP-2", "fresh"), ("SUP-1", "renamed")]
    assert admin.patch(f"{jira_cloud.url}/__sandbox__/jira", json={"search_lag_s": -1}).status_code == 400


# -- links ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("link_type, outward_verb, inward_verb", [
    ("Relates", "relates to", "relates to"), ("Blocks", "blocks", "is blocked by"),
    ("Duplicate", "duplicates", "is duplicated by")])
def test_issue_links_show_on_both_issues_and_move_updated(jira_any, link_type, outward_verb, inward_verb):
    client = jira_any.client()
    bug = _bug(client)
    task = client.create_issue(project="SUP", summary="Sentry: TypeError", issuetype={"name": "Task"})
    before = jira_any.state.issue(bug.key)["fields"]["updated"]
    jira_any.state.clock = lambda: datetime.now(timezone.utc) + timedelta(minutes=1)
    # Jira: outwardIssue <outward verb> inwardIssue, e.g. "SUP-2 blocks SUP-1".
    client.create_issue_link(link_type, bug.key, task.key)
    bug_links = client.issue(bug.key).fields.issuelinks
    task_links = client.issue(task.key).fields.issuelinks
    assert [(l.type.name, l.inwardIssue.key) for l in bug_links] == [(link_type, task.key)]
    assert [(l.type.name, l.outwardIssue.key) for l in task_links] == [(link_type, bug.key)]
    bug_state = jira_any.state.issue(bug.key)
    assert bug_state["fields"]["updated"] > before
    assert bug_state["changelog"]["histories"][-1]["items"][0]["toString"] == f"This issue {inward_verb} {task.key}"
    task_history = jira_any.state.issue(task.key)["changelog"]["histories"][-1]["items"][0]
    assert task_history["toString"] == f"This issue {outward_verb} {bug.key}"
    client.create_issue_link(link_type, bug.key, task.key)  # a duplicate request adds nothing
    assert len(jira_any.state.issue(bug.key)["fields"]["issuelinks"]) == 1


def test_remote_links_upsert_on_global_id_and_list_as_an_array(jira_any):
    client = jira_any.client()
    key = _bug(client).key
    first = client.add_remote_link(key, {"url": "https://sentry.example/issues/1", "title": "Sentry 1"},
                                   globalId="sentry:1", relationship="mentioned in")
    again = client.add_remote_link(key, {"url": "https://sentry.example/issues/1?v=2", "title": "Sentry 1 (moved)"},
                                   globalId="sentry:1")
    client.add_simple_link(key, {"url": "https://status.example", "title": "Status page"})
    assert again.id == first.id
    links = jira_any.state.remote_links(key)
    assert [(l["globalId"] if "globalId" in l else None, l["object"]["title"]) for l in links] == [
        ("sentry:1", "Sentry 1 (moved)"), (None, "Status page")]
    assert [l.object.url for l in client.remote_links(key)] == [
        "https://sentry.example/issues/1?v=2", "https://status.example"]
    assert client.remote_link(key, first.id).globalId == "sentry:1"
    raw = jira_any.http().get(f"issue/{key}/remotelink")
    assert isinstance(raw.json(), list)
    history = jira_any.state.issue(key)["changelog"]["histories"]
    assert [h["items"][0]["field"] for h in history] == ["RemoteIssueLink", "RemoteIssueLink"]


# -- comments ------------------------------------------------------------------------------------

def test_comments_with_visibility_internal_property_update_and_delete(jira_any):
    client = jira_any.client()
    key = _bug(client).key
    before = jira_any.state.issue(key)["fields"]["updated"]
    jira_any.state.clock = lambda: datetime.now(timezone.utc) + timedelta(minutes=1)
    note = client.add_comment(key, "Sentry says TypeError", visibility={"type": "role", "value": "Developers"},
                              is_internal=True)
    public = client.add_comment(key, "We are on it", visibility={"type": "group", "value": "jira-software-users"})
    assert jira_any.state.issue(key)["fields"]["updated"] > before
    listed = client.comments(key, expand="properties")
    assert [(c.body, c.visibility.type, c.visibility.value) for c in listed] == [
        ("Sentry says TypeError", "role", "Developers"), ("We are on it", "group", "jira-software-users")]
    assert [(p.key, p.value.internal) for p in listed[0].properties] == [("sd.public.comment", True)]
    # Restricted comments are hidden from users outside the role.
    assert [c.body for c in jira_any.client("viewer").comments(key)] == ["We are on it"]
    note.update(body="Sentry says TypeError (fixed in 2.4.0)")
    assert client.comment(key, note.id).body == "Sentry says TypeError (fixed in 2.4.0)"
    public.delete()
    assert [c["body"] for c in jira_any.state.comments(key)] == ["Sentry says TypeError (fixed in 2.4.0)"]


def test_comment_visibility_must_name_a_role_the_author_has(jira_any):
    http = jira_any.http("manager")
    key = _bug(jira_any.client()).key
    response = http.post(f"issue/{key}/comment", json={"body": "x", "visibility": {"type": "role", "value": "Developers"}})
    assert response.status_code == 400
    assert response.json()["errors"] == {"commentLevel": "You are currently not a member of the project role: Developers."}
    assert jira_any.state.comments(key) == []


# -- watchers, versions, properties ----------------------------------------------------------------

def test_watchers_are_added_and_removed_by_account_id_or_username(jira_any):
    client = jira_any.client()
    key = _bug(client).key
    assert jira_any.state.watcher_names(key) == ["bridge"]  # the creator watches (Jira's auto-watch)
    client.add_watcher(key, "dev" if not jira_any.cloud else "dev@example.com")
    assert jira_any.state.watcher_names(key) == ["bridge", "dev"]
    assert [w.displayName for w in client.watchers(key).watchers] == ["Escalation Bridge", "Dana Developer"]
    client.remove_watcher(key, "dev" if not jira_any.cloud else "dev@example.com")
    assert jira_any.state.watcher_names(key) == ["bridge"]
    sent = jira_any.service.knobs.received("DELETE", "/watchers")[-1]
    assert sent.query == (f"accountId={DEMO_LOGINS['dev'].account_id}" if jira_any.cloud else "username=dev")


def test_versions_are_created_released_and_shown_on_issues(jira_any):
    client = jira_any.client()
    version = client.create_version("2.5.0", "SUP", description="Login fixes")
    issue = _bug(client, fixVersions=[{"name": "2.5.0"}])
    assert [(v["name"], v["released"]) for v in jira_any.state.issue(issue.key)["fields"]["fixVersions"]] == [
        ("2.5.0", False)]
    version.update(released=True, releaseDate="2025-04-01")
    assert (version.released, version.releaseDate) == (True, "2025-04-01")
    [fix] = client.issue(issue.key).fields.fixVersions
    assert (fix.name, fix.released, fix.releaseDate) == ("2.5.0", True, "2025-04-01")
    assert [(v.name, v.released) for v in client.project_versions("SUP")][-1] == ("2.5.0", True)
    duplicate = jira_any.http().post("version", json={"name": "2.5.0", "project": "SUP"})
    assert duplicate.status_code == 400 and "already exists" in duplicate.json()["errors"]["name"]


def test_issue_properties_round_trip(jira_any):
    client = jira_any.client()
    key = _bug(client).key
    http = jira_any.http()
    assert http.put(f"issue/{key}/properties/bridge.escalation", json={"ticket": "101", "n": 1}).status_code == 201
    assert http.put(f"issue/{key}/properties/bridge.escalation", json={"ticket": "101", "n": 2}).status_code == 200
    assert [p.key for p in client.issue_properties(key)] == ["bridge.escalation"]
    assert http.get(f"issue/{key}/properties/bridge.escalation").json() == {
        "key": "bridge.escalation", "value": {"ticket": "101", "n": 2}}
    assert client.issue(key, properties="bridge.escalation").raw["properties"] == {
        "bridge.escalation": {"ticket": "101", "n": 2}}
    assert http.delete(f"issue/{key}/properties/bridge.escalation").status_code == 204
    assert http.get(f"issue/{key}/properties/bridge.escalation").status_code == 404
    assert jira_any.state.issue(key).get("properties") == {}


def test_bulk_create_reports_each_failure(jira_cloud):
    http = jira_cloud.http(api="3")
    ok = {"fields": {"project": {"key": "SUP"}, "issuetype": {"name": "Task"}, "summary": "one"}}
    bad = {"fields": {"project": {"key": "SUP"}, "issuetype": {"name": "Task"}, "summary": "two",
                      "priority": {"name": "Urgent"}}}
    body = http.post("issue/bulk", json={"issueUpdates": [ok, bad, ok]}).json()
    assert [i["key"] for i in body["issues"]] == ["SUP-1", "SUP-2"]
    assert body["errors"] == [{"status": 400, "failedElementNumber": 1, "elementErrors": {
        "errorMessages": [], "errors": {"priority": "Priority name 'Urgent' is not valid"}}}]
    assert http.post("issue/bulk", json={"issueUpdates": [ok] * 51}).status_code == 400


# -- v3 and Atlassian Document Format ----------------------------------------------------------------

def test_v3_takes_and_returns_adf_and_v2_sees_plain_text(jira_cloud):
    v3 = jira_cloud.http(api="3")
    doc = {"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": "Crash on "}, {"type": "text", "text": "login",
                                                                                    "marks": [{"type": "strong"}]}]}]}
    created = v3.post("issue", json={"fields": {"project": {"key": "SUP"}, "issuetype": {"name": "Bug"},
                                                "summary": "ADF", "description": doc}})
    assert created.status_code == 201
    key = created.json()["key"]
    assert v3.get(f"issue/{key}").json()["fields"]["description"] == doc
    assert jira_cloud.http(api="2").get(f"issue/{key}").json()["fields"]["description"] == "Crash on login"
    comment = v3.post(f"issue/{key}/comment", json={"body": doc}).json()
    assert comment["body"] == doc and comment["jsdPublic"] is True
    assert jira_cloud.state.comments(key)[0]["body"] == "Crash on login"


def test_v3_refuses_plain_strings_for_rich_text(jira_cloud):
    v3 = jira_cloud.http(api="3")
    response = v3.post("issue", json={"fields": {"project": {"key": "SUP"}, "issuetype": {"name": "Bug"},
                                                 "summary": "plain", "description": "not ADF"}})
    assert response.status_code == 400
    assert response.json() == {"errorMessages": [], "errors": {
        "description": "Operation value must be an Atlassian Document (see the Atlassian Document Format)"}}
    key = _bug(jira_cloud.client()).key
    comment = v3.post(f"issue/{key}/comment", json={"body": "plain"})
    assert comment.status_code == 400 and "Atlassian Document" in comment.json()["errors"]["comment"]
    assert jira_cloud.state.all_issues()[-1]["key"] == key  # nothing was created by the refused call


def test_data_center_has_no_v3(jira_server):
    assert jira_server.http(api="3").get("myself").status_code == 404
    assert jira_server.http(api="latest").get("myself").json()["name"] == "bridge"


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",))))
def test_plain_text_survives_the_adf_round_trip(text):
    assert adf_to_text(text_to_adf(text)) == text


# -- errors and permissions ------------------------------------------------------------------------

def test_unknown_issue_answers_404_with_jiras_body(jira_any):
    client = jira_any.client()
    error = _jira_error(lambda: client.issue("SUP-999"))
    assert error.status_code == 404 and error.response.json() == ISSUE_GONE
    assert jira_any.http().get("issue/99999/comment").json() == ISSUE_GONE


@pytest.mark.parametrize("fields, errors", [
    ({"customfield_99999": "x"}, {"customfield_99999": "Field 'customfield_99999' cannot be set. It is not on "
                                                       "the appropriate screen, or unknown."}),
    ({"priority": {"name": "Urgent"}}, {"priority": "Priority name 'Urgent' is not valid"}),
    ({"components": [{"name": "Desktop"}]}, {"components": "Component name 'Desktop' is not valid"}),
    ({"customfield_10100": "three"}, {"customfield_10100": "Operation value must be a number"}),
    ({"labels": ["has space"]}, {"labels": "The label 'has space' contains spaces which is invalid."}),
    ({"summary": ""}, {"summary": "You must specify a summary of the issue."}),
])
def test_invalid_fields_answer_400_and_create_nothing(jira_any, fields, errors):
    payload = {"fields": {"project": {"key": "SUP"}, "issuetype": {"name": "Bug"}, "summary": "x", **fields}}
    response = jira_any.http().post("issue", json=payload)
    assert response.status_code == 400
    assert response.json() == {"errorMessages": [], "errors": errors}
    assert jira_any.state.all_issues() == []


@pytest.mark.parametrize("method, path, body", [
    ("POST", "issue", "{not json"),
    ("POST", "issue", "[1, 2]"),
    ("POST", "issue", '{"fields": "summary"}'),
    ("PUT", "issue/SUP-1", '{"fields": []}'),
    ("POST", "issue/SUP-1/transitions", '{"transition": "41"}'),
    ("POST", "issue/SUP-1/comment", '{"body": 42}'),
    ("POST", "issueLink", '{"type": {"name": "Relates"}}'),
    ("POST", "issue/SUP-1/remotelink", '{"object": {"url": 5}}'),
    ("POST", "version", '{"project": "SUP", "name": "9", "released": "yes"}'),
    ("POST", "issue/SUP-1/watchers", "{broken"),
    ("GET", "search/jql?jql=project%3DSUP&maxResults=many", ""),
    ("GET", "search?jql=project%3DSUP&startAt=-1", ""),
])
def test_bad_input_gets_jiras_error_shape_never_a_traceback(jira_any, method, path, body):
    _bug(jira_any.client())
    response = jira_any.http().request(method, path, data=body, headers={"Content-Type": "application/json"})
    assert 400 <= response.status_code < 500, response.text
    payload = response.json()
    assert set(payload) == {"errorMessages", "errors"} and (payload["errorMessages"] or payload["errors"])
    assert "Traceback" not in response.text


def test_a_user_without_permission_gets_403_and_cannot_see_other_projects(jira_any):
    bridge = jira_any.client()
    key = _bug(bridge).key
    ops = bridge.create_issue(project="OPS", summary="internal", issuetype={"name": "Task"}).key
    viewer = jira_any.http("viewer")
    assert viewer.get(f"issue/{key}").status_code == 200
    create = viewer.post("issue", json={"fields": {"project": {"key": "SUP"}, "issuetype": {"name": "Bug"},
                                                   "summary": "nope"}})
    assert create.status_code == 403
    assert create.json() == {"errorMessages": ["You do not have permission to create issues in this project."],
                             "errors": {}}
    assert viewer.post(f"issue/{key}/comment", json={"body": "x"}).status_code == 403
    assert viewer.post(f"issue/{key}/transitions", json={"transition": {"id": "21"}}).status_code == 403
    assert viewer.get(f"issue/{ops}").json() == ISSUE_GONE
    assert [p["key"] for p in viewer.get("project").json()] == ["SUP"]
    assert jira_any.state.comments(key) == [] and len(jira_any.state.all_issues()) == 2


def test_rate_limit_headers_follow_the_deployment(jira_any):
    jira_any.service.knobs.update({"rate_limit": 5, "rate_window_s": 60, "retry_after_s": 7})
    http = jira_any.http()
    responses = [http.get("myself") for _ in range(6)]
    assert [r.status_code for r in responses] == [200] * 5 + [429]
    ok, limited = responses[4], responses[5]
    assert limited.headers["Retry-After"] == "7"
    assert limited.json()["errorMessages"] == ["Rate limit exceeded."]
    if jira_any.cloud:
        assert ok.headers["X-RateLimit-Limit"] == "5" and ok.headers["X-RateLimit-NearLimit"] == "true"
        assert "X-RateLimit-NearLimit" not in responses[0].headers
        assert datetime.fromisoformat(limited.headers["X-RateLimit-Reset"].replace("Z", "+00:00"))
        assert limited.headers["RateLimit-Reason"] == "jira-burst-based"
    else:
        assert limited.headers["X-RateLimit-Interval-Seconds"] == "60"
        assert limited.headers["X-RateLimit-FillRate"] == "5" and limited.headers["X-RateLimit-Remaining"] == "0"
