"""Every JSON body the JIRA emulator produces, validated against Atlassian's published OpenAPI document.

The emulator is driven over HTTP in Cloud mode through REST v3 (and v2, validated against the
same v3 operation: the shapes are the same except that rich text is plain). Each response
goes through openapi-core's response validator; only the quirks listed in
``tests/contract/specs/README.md`` are allowed, each in one place below:

* Jira dates (``2021-01-17T12:34:00.000+0000``) have no colon in the offset — accepted as
  ``date-time`` by :func:`_jira_date_time`.
* ``GET .../remotelink`` answers an array while the schema says object — each item is
  validated as a ``RemoteIssueLink`` instead.
* ``serverInfo.defaultLocale`` exists although the schema forbids extra properties — removed
  before validation.
* ``Comment.body`` has no type in the schema — nothing to do.

The spec document is 2.4 MB: it is loaded once per session.
"""

from __future__ import annotations

import copy
import json
import re
from datetime import datetime

import pytest
import requests
from openapi_core import Config, OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse
from openapi_core.exceptions import OpenAPIError
from openapi_core.validation.response.exceptions import InvalidData

from tests.contract.vendor_specs import load_spec
from tests.fixtures.jira_sandbox import *  # noqa: F401,F403 - fixtures jira_cloud

SPEC_SERVER = "https://your-domain.atlassian.net"
_RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)$", re.IGNORECASE)


def _jira_date_time(value: object) -> bool:
    """RFC 3339 date-time, or Jira's variant without the colon in the offset."""
    if not isinstance(value, str) or not _RFC3339.match(value):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


@pytest.fixture(scope="session")
def openapi() -> OpenAPI:
    spec = load_spec("jira-platform-v3.json")
    # Four `default: ''` values outside their enums make the spec itself invalid; Jira is not.
    return OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None,
                                                 extra_format_validators={"date-time": _jira_date_time}))


class Contract:
    """Sends requests to the emulator and validates each answer against the spec."""

    def __init__(self, openapi: OpenAPI, sandbox: JiraSandbox) -> None:  # noqa: F405
        self.openapi = openapi
        self.sandbox = sandbox
        self.validated: list[str] = []

    def call(self, method: str, path: str, *, api: str = "3", user: str | None = "bridge", **kwargs) -> requests.Response:
        response = self.sandbox.http(user, api=api).request(method, path, **kwargs)
        self.validate(response)
        return response

    def validate(self, response: requests.Response, body: object = ...) -> None:
        """Validate ``response`` (or ``body`` in its place) against the v3 operation it answers."""
        request = response.request.copy()
        # The spec's server and v3 paths; v2 answers the same operations.
        request.url = request.url.replace(self.sandbox.url, SPEC_SERVER).replace("/rest/api/2/", "/rest/api/3/")
        checked = copy.copy(response)
        data = response.json() if body is ... and response.content else body
        if isinstance(data, dict) and "defaultLocale" in data and "/serverInfo" in request.url:
            data = {k: v for k, v in data.items() if k != "defaultLocale"}  # quirk: extra property
        if data is not ...:
            checked._content = json.dumps(data).encode()
        self.openapi.validate_response(RequestsOpenAPIRequest(request), RequestsOpenAPIResponse(checked))
        self.validated.append(f"{response.request.method} {response.status_code} {request.path_url}")


@pytest.fixture
def contract(openapi, jira_cloud) -> Contract:
    return Contract(openapi, jira_cloud)


def _adf(text: str) -> dict:
    return {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}]}


def test_site_information_matches_the_spec(contract):
    for path in ("serverInfo", "myself", "field", "project", "project/SUP", "project/SUP/versions",
                 "issuetype", "issuetype/10004", "priority", "priority/1", "status", "status/Done",
                 "resolution", "resolution/1", "issueLinkType", "issueLinkType/10003", "statuscategory"):
        for api in ("3", "2"):
            assert contract.call("GET", path, api=api).status_code == 200
    search = contract.call("GET", "user/search", params={"query": "dev"})
    assert [u["displayName"] for u in search.json()] == ["Dana Developer"]
    contract.call("GET", "user", params={"accountId": DEMO_LOGINS["dev"].account_id})  # noqa: F405


def test_issue_lifecycle_answers_match_the_spec(contract):
    created = contract.call("POST", "issue", json={"fields": {
        "project": {"key": "SUP"}, "issuetype": {"name": "Bug"}, "summary": "Login fails",
        "description": _adf("Steps"), "labels": ["bridge-zendesk-1"], "priority": {"name": "High"},
        "components": [{"name": "Mobile"}], "customfield_10100": 2, "fixVersions": [{"name": "2.4.0"}]}})
    assert created.status_code == 201
    key = created.json()["key"]
    task = contract.call("POST", "issue", api="2", json={"fields": {
        "project": {"key": "SUP"}, "issuetype": {"name": "Task"}, "summary": "Sentry: TypeError"}}).json()["key"]
    edited = contract.sandbox.http(api="3").put(f"issue/{key}", json={"fields": {"summary": "Login fails on iOS"}})
    assert edited.status_code == 204
    contract.call("PUT", f"issue/{key}", params={"returnIssue": "true"}, json={"fields": {"customfield_10101": "Login"}})
    contract.call("GET", f"issue/{key}/transitions", params={"expand": "transitions.fields"})
    assert contract.sandbox.http(api="3").post(f"issue/{key}/transitions",
                                               json={"transition": {"id": "21"}}).status_code == 204
    link = contract.sandbox.http(api="3").post("issueLink", json={
        "type": {"name": "Relates"}, "inwardIssue": {"key": key}, "outwardIssue": {"key": task}})
    assert link.status_code == 201
    contract.call("GET", link.headers["Location"].split("/rest/api/3/")[1])
    remote = contract.call("POST", f"issue/{key}/remotelink", json={
        "globalId": "sentry:42", "application": {"type": "io.sentry", "name": "Sentry"},
        "relationship": "error in", "object": {"url": "https://sentry.example/issues/42", "title": "TypeError"}})
    assert remote.status_code == 201
    again = contract.call("POST", f"issue/{key}/remotelink", json={
        "globalId": "sentry:42", "object": {"url": "https://sentry.example/issues/42", "title": "TypeError (2)"}})
    assert again.status_code == 200
    contract.call("GET", f"issue/{key}/remotelink/{remote.json()['id']}")
    # Quirk: the list is an array; each element must be a RemoteIssueLink.
    listed = contract.sandbox.http(api="3").get(f"issue/{key}/remotelink")
    assert isinstance(listed.json(), list)
    for item in listed.json():
        contract.validate(listed, item)
    comment = contract.call("POST", f"issue/{key}/comment", params={"expand": "properties"}, json={
        "body": _adf("Internal"), "visibility": {"type": "role", "value": "Developers"},
        "properties": [{"key": "sd.public.comment", "value": {"internal": True}}]})
    comment_id = comment.json()["id"]
    contract.call("POST", f"issue/{key}/comment", api="2", json={"body": "plain v2 comment"})
    contract.call("GET", f"issue/{key}/comment", params={"expand": "properties"})
    contract.call("GET", f"issue/{key}/comment/{comment_id}")
    contract.call("PUT", f"issue/{key}/comment/{comment_id}", json={"body": _adf("Internal, edited")})
    contract.call("GET", f"issue/{key}/watchers")
    contract.sandbox.http(api="3").put(f"issue/{key}/properties/bridge", json={"ticket": 1})
    contract.call("GET", f"issue/{key}/properties")
    contract.call("GET", f"issue/{key}/properties/bridge")
    for api in ("3", "2"):
        body = contract.call("GET", f"issue/{key}", api=api,
                             params={"expand": "changelog,names,schema,transitions", "properties": "*all"}).json()
        assert body["fields"]["issuelinks"] and body["changelog"]["histories"]
    contract.call("GET", f"issue/{key}/changelog")
    version = contract.call("POST", "version", json={"name": "2.5.0", "project": "SUP", "description": "Fixes"})
    contract.call("PUT", f"version/{version.json()['id']}", json={"released": True, "releaseDate": "2025-04-01"})
    contract.call("GET", f"version/{version.json()['id']}")
    contract.call("POST", "issue/bulk", json={"issueUpdates": [
        {"fields": {"project": {"key": "SUP"}, "issuetype": {"name": "Task"}, "summary": "bulk"}},
        {"fields": {"project": {"key": "SUP"}, "issuetype": {"name": "Task"}, "summary": "bulk",
                    "priority": {"name": "Urgent"}}}]})
    assert len(contract.validated) >= 20


def test_search_answers_match_the_spec(contract):
    http = contract.sandbox.http(api="3")
    for n in range(3):
        http.post("issue", json={"fields": {"project": {"key": "SUP"}, "issuetype": {"name": "Bug"},
                                            "summary": f"bug {n}", "description": _adf("text")}})
    contract.call("GET", "search/jql", params={"jql": "project = SUP"})
    page = contract.call("GET", "search/jql", params={"jql": "project = SUP ORDER BY key", "maxResults": 2,
                                                      "fields": "*all", "expand": "names,schema,changelog"})
    contract.call("GET", "search/jql", params={"jql": "project = SUP ORDER BY key", "maxResults": 2,
                                               "fields": "*all", "nextPageToken": page.json()["nextPageToken"]})
    contract.call("POST", "search/jql", json={"jql": "labels is EMPTY", "fields": ["summary", "status", "updated"],
                                              "reconcileIssues": [10000]})
    contract.call("GET", "search/jql", api="2", params={"jql": "project = SUP", "fields": "summary,description"})


def test_error_bodies_match_the_spec(contract):
    assert contract.call("GET", "issue/SUP-404").status_code == 404
    assert contract.call("GET", "search/jql", params={"jql": "project = SUP AND"}).status_code == 400
    assert contract.call("POST", "issue", json={"fields": {"project": {"key": "SUP"}, "summary": "x",
                                                           "issuetype": {"name": "Bug"}, "description": "plain"}
                                                }).status_code == 400
    assert contract.call("GET", "myself", user=None).status_code == 401
    assert contract.call("GET", "project/NOPE").status_code == 404
    assert contract.call("POST", "issue/SUP-404/comment", json={"body": _adf("x")}).status_code == 404


def test_the_validator_catches_a_body_that_breaks_the_schema(contract):
    """The contract tests can fail: a wrong type, a missing shape and an extra property are caught."""
    response = contract.sandbox.http(api="3").get("issueLinkType")
    contract.validate(response)
    broken = copy.deepcopy(response.json())
    broken["issueLinkTypes"][0]["id"] = 10003  # an integer where the spec says string
    with pytest.raises(OpenAPIError):
        contract.validate(response, broken)
    with pytest.raises(InvalidData):
        contract.validate(response, {"issueLinkTypes": "Relates"})
    with pytest.raises(InvalidData):
        contract.validate(response, {**response.json(), "surprise": True})
    server_info = contract.sandbox.http(api="3").get("serverInfo")
    with pytest.raises(InvalidData):
        contract.validate(server_info, {**server_info.json(), "serverTime": "yesterday"})
