"""What every route of the JIRA emulator shares: Jira's error body and rate-limit headers, the
caller's authentication, request parsing, and :class:`Routes`, which registers a handler on a
Flask blueprint under every REST version the deployment serves.

Authentication as the real services: Cloud takes e-mail + API token (basic auth); Data
Center username + password (basic) or a personal access token (``Authorization: Bearer``).
Bad credentials answer 401, a user without the project permission 403, and an issue the
user may not see 404 — all with Jira's ``{"errorMessages": [...], "errors": {...}}`` body.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from flask import Blueprint, Response, request

from bridge.sandbox.jira_catalog import (
    JiraUser,
)
from bridge.sandbox.jira_records import INVALID_PAYLOAD, JiraError
from bridge.sandbox.jira_render import (
    View,
)
from bridge.sandbox.jira_state import JiraState
from bridge.sandbox.server import Knobs, Vendor

NOT_AUTHENTICATED = "You are not authenticated. Authentication required to perform this operation."
SEARCH_REMOVED = ("The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
                  "A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046")
UNBOUNDED_JQL = "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."
#: Cloud ``search/jql`` page sizes: large pages only when just ids/keys are asked for.
CLOUD_MAX_PAGE_IDS_ONLY = 5000
CLOUD_MAX_PAGE = 100
SERVER_MAX_PAGE = 1000


# -- the vendor's shared behaviour (error body, rate-limit headers) ----------------------------

def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(data, separators=(",", ":")), status=status,
                    mimetype="application/json", headers=headers)


def error_response(status: int, message: str) -> Response:
    return json_response({"errorMessages": [message], "errors": {}}, status)


def cloud_rate_headers(limit: int, remaining: int, reset_epoch: float) -> dict[str, str]:
    reset = datetime.fromtimestamp(reset_epoch, timezone.utc).isoformat(timespec="milliseconds")
    headers = {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": reset.replace("+00:00", "Z"),
    }
    if remaining <= 0:
        # Cloud names the limit that was hit; an API-token caller meets the burst limit.
        headers["RateLimit-Reason"] = "jira-burst-based"
    if limit and remaining < 0.2 * limit:
        headers["X-RateLimit-NearLimit"] = "true"
    return headers


#: Jira Cloud: error body and rate-limit headers.
JIRA_VENDOR = Vendor(name="jira", error_response=error_response, rate_limit_headers=cloud_rate_headers)


def server_vendor(knobs: Knobs) -> Vendor:
    """Data Center: a token bucket per user, announced with interval and fill rate."""
    def headers(limit: int, remaining: int, reset_epoch: float) -> dict[str, str]:
        interval = knobs.rate_window_s or knobs.retry_after_s or 1
        return {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Interval-Seconds": str(int(interval) if float(interval).is_integer() else interval),
            "X-RateLimit-FillRate": str(limit),
        }
    return Vendor(name="jira-server", error_response=error_response, rate_limit_headers=headers)


# -- per-request context -------------------------------------------------------------------

@dataclass(frozen=True)
class Call:
    """The authenticated caller of one request and how answers are rendered for them."""

    user: JiraUser
    view: View

    @property
    def adf(self) -> bool:
        return self.view.adf


def base_url() -> str:
    return request.host_url.rstrip("/")


def authenticate(state: JiraState) -> JiraUser | None:
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "basic":
        try:
            login, _, secret = base64.b64decode(credentials.strip()).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return state.authenticate_basic(login, secret)
    if scheme.lower() == "bearer":
        return state.authenticate_bearer(credentials.strip())
    return None


def unauthorized(state: JiraState) -> Response:
    response = error_response(401, NOT_AUTHENTICATED)
    if state.mode == "server":
        response.headers["X-Seraph-LoginReason"] = "AUTHENTICATED_FAILED" if request.headers.get(
            "Authorization") else "AUTHENTICATION_DENIED"
    else:
        response.headers["WWW-Authenticate"] = 'Basic realm="protected-area"'
    return response


def read_body(*, required: bool = True) -> Any:
    raw = request.get_data(cache=True)
    if not raw.strip():
        if required:
            raise JiraError(400, [INVALID_PAYLOAD])
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise JiraError(400, [INVALID_PAYLOAD]) from None


def multi_arg(name: str) -> list[str]:
    """A list parameter: repeated (``fields=a&fields=b``) or comma separated (``fields=a,b``)."""
    return [part.strip() for value in request.args.getlist(name) for part in value.split(",") if part.strip()]


def int_arg(name: str, default: int, source: dict | None = None) -> int:
    raw = (source or {}).get(name) if source is not None else request.args.get(name)
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool):
        raise JiraError(400, [f"The value '{raw}' is not valid for the parameter '{name}'."])
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise JiraError(400, [f"The value '{raw}' is not valid for the parameter '{name}'."]) from None
    if value < 0:
        raise JiraError(400, [f"The value '{raw}' is not valid for the parameter '{name}'."])
    return value


class Routes:
    """A blueprint of REST endpoints bound to one emulated site.

    :meth:`endpoint` registers a handler under every supported API version (``/rest/api/2``,
    ``/3`` on Cloud, ``/latest``), authenticates the caller, holds the state's lock for the
    whole request, and turns :class:`JiraError` into Jira's error answer.
    """

    def __init__(self, name: str, state: JiraState) -> None:
        self.blueprint = Blueprint(name, __name__)
        self.state = state
        self.cloud = state.mode == "cloud"
        self.api_versions = ("2", "3", "latest") if self.cloud else ("2", "latest")

    def endpoint(self, rule: str, methods: tuple[str, ...] = ("GET",), *, auth: bool = True,
                 versions: tuple[str, ...] | None = None, prefix: str = "/rest/api/<api>/"):
        """Register a REST endpoint under every supported API version, authenticated and locked."""
        state = self.state

        def decorate(handler: Callable[..., Response]) -> Callable[..., Response]:
            @functools.wraps(handler)
            def wrapper(api: str = "2", **kwargs: Any) -> Response:
                if api not in (versions or self.api_versions):
                    return error_response(404, "null for uri: " + request.url)
                presented = bool(request.headers.get("Authorization"))
                # Without credentials, a session cookie from POST /rest/auth/1/session may stand in.
                user = authenticate(state) if presented else state.session_user(request.cookies.get("JSESSIONID"))
                # Wrong credentials are refused even where anonymous access is allowed.
                if user is None and (auth or presented):
                    return unauthorized(state)
                view = View(state, base_url(), "3" if api == "3" else "2", user)
                try:
                    with state.lock:
                        return handler(Call(user, view) if user else view, **kwargs)
                except JiraError as exc:
                    return json_response(exc.body(), exc.status)
            self.blueprint.add_url_rule(prefix + rule, handler.__name__, wrapper, methods=list(methods))
            return wrapper
        return decorate
