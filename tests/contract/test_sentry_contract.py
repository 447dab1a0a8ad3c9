"""Every JSON body the Sentry emulator sends for the issue operations validates against
Sentry's own OpenAPI document (``tests/contract/specs/sentry-api.json.gz``, openapi-core).

The one difference the schema does not describe is the ``Link`` pagination header, which
Sentry sends but does not declare; openapi-core ignores undeclared headers.
"""

from __future__ import annotations

import copy
import json

import pytest
import requests
from openapi_core import Config, OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse
from openapi_core.validation.response.exceptions import InvalidData

from tests.contract.vendor_specs import load_spec
from tests.fixtures.sentry_sandbox import SentrySandbox, sentry, sentry_service  # noqa: F401

SPEC_SERVER = "https://us.sentry.io"


@pytest.fixture(scope="session")
def sentry_openapi() -> OpenAPI:
    """Sentry's OpenAPI document, loaded once per session.

    The vendor's document is data, not our code: validating the document itself takes
    seconds and is not what these tests are about, so the spec validator is off.
    """
    return OpenAPI.from_dict(load_spec("sentry-api.json"), config=Config(spec_validator_cls=None))


def validate(openapi: OpenAPI, sandbox: SentrySandbox, response: requests.Response) -> None:
    """Validate one response against the operation its request addressed.

    The request is re-addressed to Sentry's documented server so the document's path
    matching applies unchanged.
    """
    assert response.status_code == 200, response.text
    prepared = response.request.copy()
    prepared.url = prepared.url.replace(sandbox.url, SPEC_SERVER, 1)
    openapi.validate_response(RequestsOpenAPIRequest(prepared), RequestsOpenAPIResponse(response))


@pytest.fixture
def busy_sentry(sentry: SentrySandbox) -> SentrySandbox:
    """The demo org plus an SDK-reported issue, a regressed one and assigned/bookmarked state."""
    def crash() -> None:
        {}["missing"]  # noqa: B018

    sentry.capture("backend", crash, user={"id": "7", "email": "seven@customers.example"})
    session = sentry.session()
    session.put(sentry.api("issues/4506/"), json={"assignedTo": "user:12", "isBookmarked": True,
                                                  "priority": "medium"})
    return sentry


def issue_requests(sandbox: SentrySandbox) -> list[tuple[str, str, dict | None, dict | None]]:
    newest = str(max(sandbox.state.issues))
    return [
        ("GET", "issues/", None, None),
        ("GET", "issues/", {"query": ""}, None),
        ("GET", "issues/", {"query": "is:resolved", "project": "1", "limit": "2"}, None),
        ("GET", "issues/", {"query": "is:ignored", "sort": "freq"}, None),
        ("GET", "issues/", {"query": "BACKEND-1A2", "shortIdLookup": "1"}, None),
        ("GET", "issues/4505/", None, None),
        ("GET", "issues/4504/", None, None),
        ("GET", "issues/4506/", None, None),
        ("GET", f"issues/{newest}/", None, None),
        ("PUT", "issues/4505/", None, {"status": "resolved"}),
        ("PUT", "issues/4502/", None, {"status": "resolvedInNextRelease"}),
        ("PUT", "issues/4503/", None, {"status": "ignored", "statusDetails": {"ignoreDuration": 30}}),
        ("PUT", "issues/4501/", None, {"status": "unresolved"}),
        ("GET", "issues/4505/events/", None, None),
        ("GET", "issues/4505/events/", {"full": "true"}, None),
        ("GET", f"issues/{newest}/events/", None, None),
        ("GET", "issues/4505/events/latest/", None, None),
        ("GET", "issues/4505/events/oldest/", None, None),
        ("GET", "issues/4505/events/recommended/", None, None),
        ("GET", f"issues/{newest}/events/latest/", None, None),
        ("GET", "shortids/BACKEND-1A2/", None, None),
        ("GET", "shortids/WEB-3F/", None, None),
        ("GET", "projects/", None, None),
    ]


def test_every_issue_operation_body_matches_the_schema(sentry_openapi: OpenAPI, busy_sentry: SentrySandbox):
    session = busy_sentry.session()
    checked = 0
    for method, path, params, body in issue_requests(busy_sentry):
        response = session.request(method, busy_sentry.api(path), params=params, json=body)
        validate(sentry_openapi, busy_sentry, response)
        checked += 1
    assert checked == len(issue_requests(busy_sentry))


def test_issue_list_pages_match_the_schema(sentry_openapi: OpenAPI, sentry: SentrySandbox):
    for n in range(5):
        sentry.state.ingest_event("1", {"message": f"page filler {n}", "level": "info"})
    session = sentry.session()
    response = session.get(sentry.api("issues/"), params={"limit": "3"})
    validate(sentry_openapi, sentry, response)
    assert 'rel="next"; results="true"' in response.headers["Link"]


def test_a_broken_body_fails_validation(sentry_openapi: OpenAPI, sentry: SentrySandbox):
    response = sentry.session().get(sentry.api("issues/4505/"))
    validate(sentry_openapi, sentry, response)  # the genuine body passes

    def broken(mutate) -> requests.Response:
        body = copy.deepcopy(response.json())
        mutate(body)
        fake = requests.Response()
        fake.status_code = 200
        fake.headers["Content-Type"] = "application/json"
        fake._content = json.dumps(body).encode()
        fake.request = response.request
        fake.url = response.url
        return fake

    for mutate in (
        lambda b: b.update(count=12),              # count must be a string
        lambda b: b.pop("shortId"),                # required
        lambda b: b.update(status="fixed"),        # not in the enum
        lambda b: b["project"].pop("slug"),        # nested required field
    ):
        with pytest.raises(InvalidData):
            validate(sentry_openapi, sentry, broken(mutate))
