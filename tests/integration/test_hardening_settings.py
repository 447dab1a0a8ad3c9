"""Issue 10, defect 6: the documented settings `http.verify`, `http.ca_bundle`,
`jira.api_version` and `jira.deployment` are honoured.

The private-CA case runs a loopback HTTPS server whose certificate a CA made in the test
signed (``trustme``): with ``ca_bundle`` both the requests sessions and the `jira` library
connect; without it they refuse, with a message saying what to set.
"""

from __future__ import annotations

import json

import pytest
import trustme

from bridge.config import load_config
from bridge.connectors.jira import JiraTracker
from bridge.errors import ServiceUnreachable
from bridge.sandbox.jira import DEMO_LOGINS
from bridge.services import Services
from tests.fixtures.jira_sandbox import *  # noqa: F403 - jira_cloud, jira_server
from tests.integration.test_hardening_answers import CannedServer

# One answer serves both: JIRA's serverInfo and Zendesk's users/me.
ANSWER = json.dumps({"versionNumbers": [9, 12, 0], "deploymentType": "Server", "baseUrl": "https://jira",
                     "user": {"id": 7, "email": "agent@example.com"}}).encode()


@pytest.fixture(scope="module")
def private_ca():
    return trustme.CA()


@pytest.fixture
def https_service(private_ca):
    context = __import__("ssl").create_default_context(__import__("ssl").Purpose.CLIENT_AUTH)
    private_ca.issue_cert("127.0.0.1").configure_cert(context)
    with CannedServer(body=ANSWER, tls=context) as server:
        yield server


@pytest.fixture
def ca_file(private_ca, tmp_path):
    path = tmp_path / "company-ca.pem"
    private_ca.cert_pem.write_to_path(str(path))
    return path


def _services(url: str, **extra: str) -> Services:
    env = {"BRIDGE_JIRA_URL": url, "BRIDGE_JIRA_TOKEN": "t0ken-jira", "BRIDGE_HELPDESK_URL": url,
           "BRIDGE_HELPDESK_USER": "agent@example.com", "BRIDGE_HELPDESK_TOKEN": "t0ken-zendesk",
           "BRIDGE_HTTP_RETRIES": "0", **extra}
    return Services(load_config(None, env=env))


def test_private_ca_bundle_reaches_the_jira_library_and_the_helpdesk_session(https_service, ca_file):
    services = _services(https_service.url, BRIDGE_HTTP_CA_BUNDLE=str(ca_file))
    assert services.tracker.deployment == "Server"
    assert services.helpdesk.check() == "agent@example.com"


def test_without_the_ca_bundle_the_connection_is_refused_naming_the_setting(https_service):
    services = _services(https_service.url)
    for attempt in (lambda: services.tracker.deployment, services.helpdesk.check):
        with pytest.raises(ServiceUnreachable) as caught:
            attempt()
        assert "certificate" in str(caught.value) and "BRIDGE_HTTP_CA_BUNDLE" in str(caught.value)


def test_verify_false_connects_without_the_bundle(https_service):
    services = _services(https_service.url, BRIDGE_HTTP_VERIFY="false")
    assert services.tracker.deployment == "Server"
    assert services.helpdesk.check() == "agent@example.com"


def _tracker(sandbox, **kwargs) -> JiraTracker:
    user, token = DEMO_LOGINS["bridge"].basic_auth(sandbox.mode)
    return JiraTracker(sandbox.url, user=user, token=token, retries=0, **kwargs)


def test_api_version_3_sends_adf_and_reads_text_back(jira_cloud):
    tracker = _tracker(jira_cloud, api_version="3")
    issue = tracker.create_issue({"project": {"key": "SUP"}, "issuetype": {"name": "Bug"},
                                  "summary": "Export fails", "description": "Steps:\n1. export\n\nExpected: a file"})
    tracker.add_comment(issue.key, "First line\nsecond line", internal=True)
    assert [c.body for c in tracker.comments(issue.key)] == ["First line\nsecond line"]
    sent = [e for e in jira_cloud.service.knobs.received("POST") if e.path.startswith("/rest/api/3/")]
    assert sent and all('"type": "doc"' in e.body or '"type":"doc"' in e.body for e in sent)
    found = list(tracker.search_with_comments(f"key = {issue.key}"))
    assert [c["body"] for c in found[0][1]] == ["First line\nsecond line"]


def test_the_sandbox_refuses_plain_text_on_v3(jira_cloud):
    # What the setting protects against: v3 without ADF is a 400, as on JIRA Cloud.
    issue = _tracker(jira_cloud).create_issue({"project": {"key": "SUP"}, "issuetype": {"name": "Bug"},
                                                "summary": "Export fails"})
    response = jira_cloud.http(api="3").post(f"issue/{issue.key}/comment", json={"body": "plain"})
    assert response.status_code == 400


@pytest.mark.parametrize(("setting", "expected"), [(None, "Cloud"), ("server", "Server"), ("cloud", "Cloud")])
def test_deployment_setting_overrides_detection(jira_cloud, setting, expected):
    assert _tracker(jira_cloud, deployment=setting).deployment == expected


def test_services_pass_the_jira_settings_on(jira_cloud):
    user, token = DEMO_LOGINS["bridge"].basic_auth("cloud")
    services = Services(load_config(None, env={"BRIDGE_JIRA_URL": jira_cloud.url, "BRIDGE_JIRA_USER": user,
                                               "BRIDGE_JIRA_TOKEN": token, "BRIDGE_JIRA_DEPLOYMENT": "server",
                                               "BRIDGE_JIRA_API_VERSION": "3"}))
    assert services.tracker.api_version == "3"
    assert services.tracker.deployment == "Server"
    assert jira_cloud.service.knobs.received("GET", "/rest/api/3/serverInfo")
