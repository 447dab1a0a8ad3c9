"""The JIRA emulator's administration and work endpoints, driven by the unmodified ``jira`` library.

These are what pycontribs/jira's own integration suite needs to set itself up and run
(``bench/jira_client_suite.py`` runs that suite); each test here checks the emulator's state
or a second read, not only the status code.
"""

from __future__ import annotations

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st
from jira import JIRA, JIRAError

from bridge.sandbox.jira_state_work import UNIT_SECONDS, format_duration, parse_duration

from tests.fixtures.jira_sandbox import *  # noqa: F401,F403 - fixtures jira_cloud, jira_server, jira_any


def _bug(client, project="SUP", summary="Checkout fails"):
    return client.create_issue(project=project, summary=summary, issuetype={"name": "Bug"})


def test_admin_creates_and_deletes_a_project_others_may_not(jira_server):
    admin, dev = jira_server.client(), jira_server.client("dev")
    assert admin.create_project("ZTEST", "Client suite project")
    project = admin.project("ZTEST")
    assert {t.name for t in project.issueTypes} >= {"Bug", "Task"}
    issue = _bug(dev, project="ZTEST")  # every developer may work in a new project
    assert issue.key == "ZTEST-1"
    with pytest.raises(JIRAError) as refused:
        dev.create_project("ZOTHER", "Not allowed")
    assert refused.value.status_code == 403
    with pytest.raises(JIRAError) as duplicate:
        admin.create_project("ZTEST", "Another name")
    assert duplicate.value.status_code == 400 and "projectKey" in duplicate.value.response.json()["errors"]
    assert admin.delete_project("ZTEST")
    assert jira_server.state.project("ZTEST") is None and jira_server.state.issue_record("ZTEST-1") is None
    with pytest.raises(JIRAError, match="No project could be found with key"):
        admin.delete_project("abogus123")


def test_schemes_roles_statuses_and_jira9_createmeta(jira_server):
    admin = jira_server.client()
    assert admin.permissionschemes()[0]["name"] == "Default Permission Scheme"
    assert admin.project_workflow_scheme("SUP").name == "SUP: Software Simplified Workflow Scheme"
    with pytest.raises(JIRAError):
        admin.project_issue_security_level_scheme("SUP")
    role = admin.project_role("SUP", admin.project_roles("SUP")["Administrators"]["id"])
    assert "jira-administrators" in {actor.name for actor in role.actors}
    role.update(users="dev", groups="jira-administrators")
    role = admin.project_role("SUP", role.id)
    assert sorted(actor.name for actor in role.actors) == ["dev", "jira-administrators"]
    with pytest.raises(JIRAError):
        role.update(users="nobody-here")
    types = admin.createmeta_issuetypes("SUP")
    assert {t["name"] for t in types["values"]} == {"Bug", "Task", "Sub-task"} and types["total"] == 3
    bug_id = next(t["id"] for t in types["values"] if t["name"] == "Bug")
    fields = admin.createmeta_fieldtypes("SUP", bug_id)
    assert {f["fieldId"] for f in fields["values"] if f["required"]} == {"summary", "issuetype", "project"}
    assert admin.statuscategory(2).key == "new"


def test_users_and_groups_are_administered(jira_server):
    admin = jira_server.client()
    assert admin.add_user("newbie", "newbie@example.com", password="Secret-123")
    assert admin.add_group("reviewers")
    assert admin.add_user_to_group("newbie", "reviewers")
    assert list(admin.group_members("reviewers")) == ["newbie"]
    assert "reviewers" in admin.groups()
    assert admin.remove_user_from_group("newbie", "reviewers")
    assert admin.group_members("reviewers") == {}
    assert admin.remove_group("reviewers") and "reviewers" not in admin.groups()
    assert admin.delete_user("newbie") and admin.search_users("newbie") == []
    with pytest.raises(JIRAError) as refused:
        jira_server.client("dev").add_group("mine")
    assert refused.value.status_code == 403


def test_assignment_editmeta_and_assignable_users(jira_any):
    client = jira_any.client()
    issue = _bug(client)
    dev = jira_any.state.user_by(name="dev")
    assert client.assign_issue(issue, dev.account_id if jira_any.cloud else "dev")
    assert client.issue(issue.key).fields.assignee.displayName == dev.display_name
    assert client.assign_issue(issue, None) and client.issue(issue.key).fields.assignee is None
    assert {"summary", "labels", "assignee", "comment"} <= set(client.editmeta(issue.key)["fields"])
    if jira_any.cloud:
        found = client.search_assignable_users_for_issues(query="dana", issueKey=issue.key)
    else:
        found = client.search_assignable_users_for_issues("dev", issueKey=issue.key)
    assert [u.displayName for u in found] == [dev.display_name]
    assert client.search_assignable_users_for_projects("viewer" if not jira_any.cloud else "val", "SUP") == []


def test_rendered_expands_and_project_keys(jira_server):
    client = jira_server.client()
    issue = client.create_issue(project="SUP", summary="x", issuetype={"name": "Bug"},
                                description="Crash <on> start")
    expanded = client.issue(issue.key, expand="renderedFields,editmeta")
    assert expanded.renderedFields.description == "<p>Crash &lt;on&gt; start</p>"
    assert hasattr(expanded, "editmeta") and not hasattr(client.issue(issue.key), "renderedFields")
    comment = client.add_comment(issue, "a <b> c")
    assert client.comment(issue.key, comment.id, expand="renderedBody").renderedBody == "<p>a &lt;b&gt; c</p>"
    assert not hasattr(client.comment(issue.key, comment.id), "renderedBody")
    assert client.project("SUP", expand="projectKeys").projectKeys == ["SUP"]
    assert all(p.projectKeys == [p.key] for p in client.projects(expand="projectKeys"))


def test_worklogs_move_the_remaining_estimate(jira_server):
    client = jira_server.client()
    issue = _bug(client)
    worklog = client.add_worklog(issue, "3h")
    worklog.update(comment="Updated!", timeSpent="2h")
    assert client.worklog(issue.key, worklog.id).timeSpent == "2h"
    assert client.issue(issue.key, fields="timetracking").fields.timetracking.remainingEstimate == "1h"
    worklog.delete()
    assert client.issue(issue.key, fields="timetracking").fields.timetracking.remainingEstimate == "3h"
    assert client.add_worklog(issue, "1d 2h").timeSpentSeconds == 10 * 3600
    assert len(client.worklogs(issue.key)) == 1


def test_votes_attachments_filters_components_and_versions(jira_server, tmp_path):
    admin, dev = jira_server.client(), jira_server.client("dev")
    issue = _bug(admin)
    dev.add_vote(issue.key)
    assert admin.votes(issue.key).votes == 1
    dev.remove_vote(issue.key)
    assert admin.votes(issue.key).votes == 0
    path = tmp_path / "trace.txt"
    path.write_text("stack trace")
    attachment = admin.add_attachment(issue.key, str(path))
    assert admin.attachment(attachment.id).get() == b"stack trace"
    admin.delete_attachment(attachment.id)
    assert jira_server.state.issue_record(issue.key).attachments == []
    saved = admin.create_filter("mine", "desc", "project = SUP", True)
    assert [f.name for f in admin.favourite_filters()] == ["mine"]
    admin.update_filter(saved.id, name="renamed", jql="project = SUP ORDER BY key")
    assert admin.filter(saved.id).name == "renamed"
    saved.delete()
    with pytest.raises(JIRAError):
        admin.filter(saved.id)
    component = admin.create_component("Payments", "SUP", description="money")
    assert admin.component(component.id).description == "money"
    component.delete()
    with pytest.raises(JIRAError):
        admin.component(component.id)
    version = admin.create_version("9.9", "SUP")
    issue.update(fields={"fixVersions": [{"name": "9.9"}]})
    version.delete()
    assert admin.issue(issue.key).fields.fixVersions == []


def test_agile_boards_and_sprints(jira_server):
    client = jira_server.client()
    saved = client.create_filter("board filter", "", "project = SUP", True)
    board = client.create_board("Support board", saved.id)
    sprint = client.create_sprint("Sprint 1", board.id, goal="ship")
    assert (sprint.name, sprint.goal, sprint.state) == ("Sprint 1", "ship", "future")
    assert client.update_sprint(sprint.id, name="Sprint A", state="active")["state"] == "active"
    assert [s.name for s in client.sprints(board.id)] == ["Sprint A"]
    issue = _bug(client)
    client.add_issues_to_sprint(sprint.id, [issue.key])
    assert jira_server.state.sprints[sprint.id]["issues"] == [int(issue.id)]
    client.move_to_backlog([issue.key])
    assert jira_server.state.sprints[sprint.id]["issues"] == []
    board.delete()
    assert jira_server.state.sprints == {}


def test_application_properties_permissions_and_cookie_sessions(jira_server):
    admin = jira_server.client()
    assert admin.application_properties(key="jira.title")["value"] == "Sandbox JIRA"
    admin.set_application_property("jira.title", "Renamed")
    assert admin.application_properties(key="jira.title")["value"] == "Renamed"
    mine = jira_server.client("dev").my_permissions()["permissions"]
    assert mine["BROWSE_PROJECTS"]["havePermission"] and not mine["ADMINISTER"]["havePermission"]
    cookie_client = JIRA(jira_server.url, auth=DEMO_LOGINS["bridge"].basic_auth("server"), max_retries=0)
    assert cookie_client.myself()["name"] == "bridge"
    assert "Authorization" not in cookie_client._session.headers


def test_long_jql_by_get_is_refused_by_data_center_and_accepted_by_post(jira_server):
    client = jira_server.client()
    issue = _bug(client)
    long_jql = " or ".join(f"key={issue.key}" for _ in range(2000))
    with pytest.raises(JIRAError) as refused:
        client.search_issues(long_jql)
    assert refused.value.status_code == 414
    assert [i.key for i in client.search_issues(long_jql, use_post=True)] == [issue.key]
    short = requests.get(f"{jira_server.url}/rest/api/2/search", params={"jql": f"key = {issue.key}"},
                         auth=DEMO_LOGINS["bridge"].basic_auth("server"), timeout=10)
    assert short.status_code == 200


@given(st.integers(min_value=0, max_value=10_000).map(lambda minutes: minutes * 60))
def test_durations_round_trip_through_jiras_notation(seconds):
    assert parse_duration(format_duration(seconds)) == seconds if seconds else format_duration(0) == "0m"


@given(st.dictionaries(st.sampled_from("wdhm"), st.integers(min_value=1, max_value=50), min_size=1))
def test_any_jira_duration_parses_to_its_seconds(parts):
    text = " ".join(f"{n}{unit}" for unit, n in parts.items())
    assert parse_duration(text) == sum(n * UNIT_SECONDS[unit] for unit, n in parts.items())


@pytest.mark.parametrize("text", ["", "2", "2x", "h", "2h and more"])
def test_non_durations_are_refused(text):
    with pytest.raises(ValueError):
        parse_duration(text)
