"""The Zendesk emulator's HTTP layer: a Flask app serving a :class:`ZendeskState`.

:func:`create_app` installs the shared knobs (:mod:`bridge.sandbox.server`) with Zendesk's
error shapes and rate-limit headers, and registers the routes of
:mod:`zendesk_routes_tickets` (tickets, comments, tags, audits, jobs),
:mod:`zendesk_routes_search` (search, incremental export), :mod:`zendesk_routes_directory`
(users, organisations, groups, fields) and :mod:`zendesk_routes_webhooks` (webhooks,
triggers). :class:`ZendeskApi` is what those routes share: authentication, body
parsing, serialisers, side-loading and Zendesk's two pagination styles.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import math
import threading
import time
from typing import Any, Callable, Iterable
from urllib.parse import urlencode

from flask import Flask, Response, request

from bridge.sandbox import (
    zendesk_routes_directory,
    zendesk_routes_search,
    zendesk_routes_tickets,
    zendesk_routes_webhooks,
)
from bridge.sandbox.server import ADMIN_PREFIX, Knobs, Vendor, install
from bridge.sandbox.zendesk_format import (
    ACCOUNT_RATE_LIMIT,
    FORBIDDEN_BODY,
    INVALID_ENDPOINT_BODY,
    RATE_LIMITED_TEXT,
    ZendeskError,
    bad_request,
    decode_cursor,
    encode_cursor,
    not_found,
    plain_copy,
)
from bridge.sandbox.zendesk_state import ZendeskState


def _error_response(status: int, message: str) -> Response:
    """Zendesk's error bodies for the shared harness (knob faults, unknown routes).

    A 404 reaching here is a path no route serves: Zendesk answers that with
    ``InvalidEndpoint``, unlike a missing record (``RecordNotFound``, raised by the routes).
    """
    if status == 401:
        body: dict | str = {"error": "Couldn't authenticate you"}
    elif status == 403:
        body = dict(FORBIDDEN_BODY)
    elif status in (404, 405):
        body = dict(INVALID_ENDPOINT_BODY)
    elif status == 429:
        body = RATE_LIMITED_TEXT  # Zendesk answers 429 in text/plain
    elif status >= 500:
        body = {"error": "ServiceUnavailable" if status == 503 else "InternalError",
                "description": message}
    else:
        body = {"error": "InvalidValue", "description": message}
    return ZendeskError(status, body).response()


def _rate_limit_headers(limit: int, remaining: int, reset_epoch: float) -> dict[str, str]:
    """Zendesk's account rate-limit headers (``ratelimit-reset`` is seconds from now)."""
    reset_in = max(0, math.ceil(reset_epoch - time.time()))
    return {
        "X-Rate-Limit": str(limit), "X-Rate-Limit-Remaining": str(remaining),
        "ratelimit-limit": str(limit), "ratelimit-remaining": str(remaining),
        "ratelimit-reset": str(reset_in),
    }


ZENDESK_VENDOR = Vendor(name="zendesk", error_response=_error_response,
                        rate_limit_headers=_rate_limit_headers)


class MinuteBudget:
    """An account's requests counted per clock minute, as Zendesk counts its rate limit.

    Only announced (``X-Rate-Limit-Remaining``), never enforced: the knobs' ``rate_limit``
    is what makes the emulator answer 429.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._minute: int | None = None
        self._used = 0

    def spend(self) -> tuple[int, float]:
        """Count one request: (remaining this minute, epoch second the minute ends)."""
        minute = int(time.time() // 60)
        with self._lock:
            if minute != self._minute:
                self._minute, self._used = minute, 0
            self._used += 1
            return max(0, self.limit - self._used), (minute + 1) * 60.0


class ZendeskApi:
    """What every route shares: the state, who is calling, and how answers are shaped.

    Methods read the current Flask ``request``; call them only while serving one.
    """

    def __init__(self, state: ZendeskState) -> None:
        self.state = state

    def base(self) -> str:
        """The emulator's own origin (``url`` fields point here)."""
        return self.state.base_url or request.host_url.rstrip("/")

    def api(self, path: str) -> str:
        """The absolute URL of ``/api/v2/<path>``."""
        return f"{self.base()}/api/v2/{path}"

    def respond(self, body: dict, status: int = 200, headers: dict | None = None) -> Response:
        """A JSON answer."""
        response = Response(json.dumps(body), status=status, mimetype="application/json")
        if headers:
            response.headers.update(headers)
        return response

    # -- authentication --------------------------------------------------------------------
    def current_user(self) -> dict:
        """The authenticated user (API token or OAuth bearer); 401 otherwise."""
        header = request.headers.get("Authorization", "")
        scheme, _, credentials = header.partition(" ")
        user_id: int | None = None
        with self.state.lock:
            if scheme.lower() == "bearer":
                user_id = self.state.oauth_tokens.get(credentials.strip())
            elif scheme.lower() == "basic":
                try:
                    decoded = base64.b64decode(credentials.strip()).decode()
                except (binascii.Error, UnicodeDecodeError):
                    decoded = ""
                login, _, secret = decoded.partition(":")
                if login.endswith("/token") and secret in self.state.api_tokens:
                    email = login[: -len("/token")].lower()
                    user_id = next((u["id"] for u in self.state.users.values()
                                    if u["email"].lower() == email and u["active"]), None)
            user = self.state.users.get(user_id) if user_id is not None else None
            if user is None:
                raise ZendeskError(401, {"error": "Couldn't authenticate you"})
            return plain_copy(user)

    def agent(self) -> dict:
        """The authenticated user, who must be an agent or admin (403 for end-users)."""
        user = self.current_user()
        if user["role"] == "end-user":
            raise ZendeskError(403, dict(FORBIDDEN_BODY))
        return user

    def json_body(self) -> dict:
        """The request's JSON object; 400 in Zendesk's shape when it is not one."""
        if request.mimetype != "application/json":
            raise bad_request("InvalidContentType", "Content-Type must be application/json")
        try:
            data = json.loads(request.get_data(cache=True) or b"")
        except ValueError as exc:
            raise bad_request("InvalidJSON", f"The request body is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise bad_request("InvalidJSON", "The request body must be a JSON object")
        return data

    def inner(self, data: dict, key: str) -> dict:
        """``data[key]`` as an object (``{"ticket": {...}}``); 400 ParameterMissing otherwise."""
        value = data.get(key)
        if not isinstance(value, dict):
            raise bad_request("ParameterMissing", f"param is missing or the value is empty: {key}")
        return value

    # -- serialisers -------------------------------------------------------------------------
    def ticket_json(self, ticket: dict) -> dict:
        """A ticket as the API shows it (with ``url`` and ``fields``)."""
        out = {k: plain_copy(v) for k, v in ticket.items() if not k.startswith("_")}
        out["url"] = self.api(f"tickets/{ticket['id']}.json")
        out["fields"] = plain_copy(out["custom_fields"])
        return out

    def with_url(self, record: dict, path: str) -> dict:
        """A copy of ``record`` with its API ``url``."""
        out = copy.deepcopy(record)
        out["url"] = self.api(path)
        return out

    def user_json(self, user: dict) -> dict:
        """A user as the API shows it."""
        return self.with_url(user, f"users/{user['id']}.json")

    def org_json(self, org: dict) -> dict:
        """An organisation as the API shows it."""
        return self.with_url(org, f"organizations/{org['id']}.json")

    def group_json(self, group: dict) -> dict:
        """A group as the API shows it."""
        return self.with_url(group, f"groups/{group['id']}.json")

    def includes(self) -> set[str]:
        """The side-loads asked for in ``?include=``."""
        return {part.strip() for part in request.args.get("include", "").split(",") if part.strip()}

    def sideload(self, body: dict, tickets: list[dict], comments: list[dict] = ()) -> None:
        """Add the users, organisations, groups and last audits asked for in ``?include=``."""
        wanted = self.includes()
        if "users" in wanted:
            ids: set[int] = set()
            for t in tickets:
                ids.update(i for i in (t.get("requester_id"), t.get("submitter_id"), t.get("assignee_id")) if i)
            ids.update(c["author_id"] for c in comments)
            body["users"] = [self.user_json(self.state.users[i]) for i in sorted(ids) if i in self.state.users]
        if "organizations" in wanted:
            ids = {t["organization_id"] for t in tickets if t.get("organization_id")}
            body["organizations"] = [self.org_json(self.state.organizations[i]) for i in sorted(ids)
                                     if i in self.state.organizations]
        if "groups" in wanted:
            ids = {t["group_id"] for t in tickets if t.get("group_id")}
            body["groups"] = [self.group_json(self.state.groups[i]) for i in sorted(ids) if i in self.state.groups]
        if "last_audits" in wanted:
            # Zendesk: the latest audit of each ticket listed, in a top-level array.
            body["last_audits"] = [a for a in (self.state.last_audit(t["id"]) for t in tickets) if a is not None]

    # -- pagination -----------------------------------------------------------------------------
    def page_args(self, default: int = 100) -> tuple[int, str | None, str | None] | None:
        """Cursor pagination arguments, or None when the caller uses offset pagination."""
        size = request.args.get("page[size]")
        after = request.args.get("page[after]")
        before = request.args.get("page[before]")
        if size is None and after is None and before is None:
            return None
        try:
            number = int(size) if size is not None else default
        except ValueError:
            raise bad_request("InvalidPaginationParameter", "page[size] must be an integer") from None
        if number < 1 or number > 100:
            raise bad_request("InvalidPaginationParameter", "page[size] must be between 1 and 100")
        return number, after, before

    def cursor_page(self, items: list[dict], key: Callable[[dict], list], serialise: Callable[[dict], dict],
                    name: str, path: str, cursor: tuple[int, str | None, str | None],
                    extra: dict | None = None) -> dict:
        """One page of ``items`` in cursor style (``meta``/``links``)."""
        size, after, before = cursor
        keys = [key(item) for item in items]
        if after:
            start = decode_cursor(after).get("k")
            chosen = [i for i, k in enumerate(keys) if k > start]
            window = chosen[:size]
            has_more = len(chosen) > size
        elif before:
            end = decode_cursor(before).get("k")
            chosen = [i for i, k in enumerate(keys) if k < end]
            window = chosen[-size:]
            has_more = len(chosen) > size
        else:
            window = list(range(min(size, len(items))))
            has_more = len(items) > size
        page = [items[i] for i in window]
        after_cursor = encode_cursor({"k": keys[window[-1]]}) if window else None
        before_cursor = encode_cursor({"k": keys[window[0]]}) if window else None
        params = dict(extra or {})

        def link(**cursor_arg: str) -> str | None:
            if next(iter(cursor_arg.values())) is None:
                return None
            query = dict(params, **{"page[size]": str(size)}, **cursor_arg)
            return f"{self.api(path)}?{urlencode(query)}"

        return {
            name: [serialise(item) for item in page],
            "meta": {"has_more": has_more, "after_cursor": after_cursor, "before_cursor": before_cursor},
            "links": {"prev": link(**{"page[before]": before_cursor}),
                      "next": link(**{"page[after]": after_cursor})},
        }

    def offset_page(self, items: list[dict], serialise: Callable[[dict], dict], name: str, path: str,
                    extra: dict | None = None, limit: int = 100) -> dict:
        """One page of ``items`` in offset style (``next_page``/``previous_page``/``count``)."""
        try:
            page = int(request.args.get("page", "1"))
            per_page = int(request.args.get("per_page", "100"))
        except ValueError:
            raise bad_request("InvalidPaginationParameter", "page and per_page must be integers") from None
        if page < 1 or per_page < 1:
            raise bad_request("InvalidPaginationParameter", "page and per_page must be positive")
        per_page = min(per_page, limit)
        start = (page - 1) * per_page
        chunk = items[start:start + per_page]
        params = dict(extra or {}, per_page=str(per_page))

        def link(number: int) -> str:
            return f"{self.api(path)}?{urlencode(dict(params, page=str(number)))}"

        return {
            name: [serialise(item) for item in chunk],
            "next_page": link(page + 1) if start + per_page < len(items) else None,
            "previous_page": link(page - 1) if page > 1 else None,
            "count": len(items),
        }

    def paged(self, items: list[dict], key: Callable[[dict], list], serialise: Callable[[dict], dict],
              name: str, path: str, extra: dict | None = None) -> dict:
        """One page in whichever style the request asks for (cursor when ``page[...]`` is given)."""
        cursor = self.page_args()
        if cursor is not None:
            return self.cursor_page(items, key, serialise, name, path, cursor, extra)
        return self.offset_page(items, serialise, name, path, extra)

    def id_list(self, raw: str | None) -> list[int]:
        """The integers of a comma-separated ``ids`` parameter; 400 otherwise."""
        try:
            return [int(part) for part in (raw or "").split(",") if part.strip()]
        except ValueError:
            raise bad_request("InvalidValue", "ids must be a comma-separated list of integers") from None

    def paged_by_id(self, records: Iterable[dict], serialise: Callable[[dict], dict], name: str, path: str,
                    extra: dict | None = None) -> dict:
        """:meth:`paged` over ``records`` in id order (how Zendesk lists most collections)."""
        ordered = sorted(records, key=lambda r: r["id"])
        return self.paged(ordered, lambda r: [r["id"]], serialise, name, path, extra)

    @staticmethod
    def lookup(records: dict, record_id: Any) -> dict:
        """``records[record_id]``; 404 RecordNotFound when there is none."""
        record = records.get(record_id)
        if record is None:
            raise not_found()
        return record

    def lookup_ticket(self, ticket_id: int) -> dict:
        """The stored ticket; 404 RecordNotFound when there is none."""
        return self.lookup(self.state.tickets, ticket_id)


def create_app(state: ZendeskState, knobs: Knobs | None = None) -> Flask:
    """A Flask app serving ``state`` as Zendesk's Support API, with the shared knobs."""
    app = Flask("bridge.sandbox.zendesk")
    app.json.sort_keys = False
    knobs = knobs or Knobs()
    install(app, ZENDESK_VENDOR, knobs)
    budget = MinuteBudget(ACCOUNT_RATE_LIMIT)

    @app.after_request
    def _account_rate_headers(response: Response) -> Response:
        # Zendesk sends these on every answer; clients with proactive rate limiting (zenpy)
        # wait whenever they are missing. While a knob budget is set, install() sends its own.
        if request.path.startswith(ADMIN_PREFIX) or knobs.rate_limit is not None:
            return response
        remaining, reset = budget.spend()
        for name, value in _rate_limit_headers(ACCOUNT_RATE_LIMIT, remaining, reset).items():
            response.headers.setdefault(name, value)
        return response

    @app.errorhandler(ZendeskError)
    def _zendesk_error(exc: ZendeskError) -> Response:
        return exc.response()

    api = ZendeskApi(state)
    for routes in (zendesk_routes_tickets, zendesk_routes_search, zendesk_routes_directory,
                   zendesk_routes_webhooks):
        routes.register(app, api)
    return app
