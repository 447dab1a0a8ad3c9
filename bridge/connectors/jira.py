"""JIRA Cloud and Data Center as a tracker, over the `jira` library.

Why the library is wrapped rather than used directly:

* Its own retry loop (``ResilientSession``) re-sends POSTs after a dropped connection and
  sleeps 20 s and more; a re-sent create is a duplicate Bug. It is switched off
  (``max_retries=0``) and retries happen here: reads are retried, writes only when the
  failure proves they were not applied (refused connection, 429).
* ``str(JIRAError)`` prints the request headers, Authorization included. Every JIRAError is
  turned into a bridge error at this boundary from the status code and JIRA's own error
  text, and the original is dropped (``from None``) so no traceback carries it.
* Raw resources never leave: callers get :class:`~bridge.models.Issue` and friends.
* Waits are bounded: every request by ``timeout`` (connect and read; a time-out is not
  retried), all pauses for ``Retry-After`` and backoff together by a
  :class:`~bridge.connectors.http.WaitBudget` of the same size. A JIRA asking to wait longer
  is not waited for: the call fails at once naming the wait.
* An answer that is not JIRA's JSON (an HTML sign-in page, ``[]`` for serverInfo) is an
  :class:`~bridge.errors.UnexpectedAnswer`, not a ``KeyError`` or "connection dropped".
* The settings ``http.verify`` / ``http.ca_bundle`` reach the library's session,
  ``jira.api_version = "3"`` sends descriptions and comments as ADF (and reads them back as
  text), and ``jira.deployment`` overrides what serverInfo says.

JQL values are always quoted by :func:`~bridge.connectors.jql.jql_string`, so no value (a
label derived from a ticket id, a version name) can change a query's meaning.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Callable, Literal, TypeVar

import requests
from jira import JIRA, JIRAError

from bridge.connectors.http import MAX_RETRY_AFTER_S, WaitBudget, unexpected_answer
from bridge.connectors.jira_adf import adf_to_text, text_to_adf
from bridge.connectors.jira_duplicates import oldest_with_label
from bridge.connectors.jira_errors import translate
from bridge.connectors.jira_library import created_issue, seed_library_caches
from bridge.connectors.jira_search import cloud_pages, search_comments
from bridge.connectors.jql import check_label, jql_string
from bridge.errors import (BridgeError, InvalidValue, ItemFailed, ServiceRejected, ServiceUnreachable, UnexpectedAnswer,
                           shown)
from bridge.in_flight import ahead
from bridge.models import Comment, Issue, Version
from bridge.policy.visibility import jira_comment_is_public

SERVICE = "JIRA"
#: Pauses between searches for an issue whose create may have been applied (search lags).
RECONCILE_PAUSES_S = (0.5, 1.0, 2.0, 4.0)
T = TypeVar("T")
PAGES_AHEAD = 5  #: search pages read ahead of the one a pass is on: a round's worth (500 Bugs)

ISSUE_FIELDS = "summary,issuetype,status,priority,labels,resolution,fixVersions,updated"

#: What may name one issue in a REST path: a key (a project key, '-', a number; JIRA matches
#: keys whatever their case) or a numeric id. The value goes into the URL's path, so anything
#: else (`../project/SUP`, `SUP-1?x=1`) would name another resource, which was then taken
#: for the Bug; it is refused before any request instead.
_ISSUE_REF = re.compile(r"(?:[^\W\d]\w*-[0-9]+|[0-9]+)")

# The library logs every recoverable error at WARNING with the URL; with its retries off
# those lines only repeat what our own errors say.
logging.getLogger("jira").setLevel(logging.ERROR)


def parse_jira_time(value: str | None) -> datetime | None:
    """JIRA's ``2021-01-17T12:34:00.000+0000`` (``fromisoformat``: 60 times faster than ``strptime``)."""
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"a JIRA time without its offset: {value!r}")
    return parsed


class JiraTracker:
    """The JIRA side of the bridge: Bugs, Tasks, links, comments, versions."""

    service = SERVICE

    def __init__(self, url: str, *, user: str | None, token: str, auth: str = "basic",
                 timeout: float = 30.0, retries: int = 3,
                 sleep: Callable[[float], None] | None = None, verify: bool | str = True,
                 api_version: Literal["2", "3"] = "2", deployment: Literal["cloud", "server"] | None = None,
                 cache=None) -> None:
        self.url = url.rstrip("/")
        #: A :class:`~bridge.metadata_cache.MetadataCache` for serverInfo and the field list
        #: (None: both are asked of JIRA by every process, as the library does).
        self._cache = cache
        self.retries = retries
        self.api_version = str(api_version)
        self._deployment = deployment
        self._sleep = sleep or time.sleep
        #: All pauses for Retry-After and backoff together stay within the timeout.
        self.budget = WaitBudget(timeout)
        kwargs: dict[str, Any] = {}
        if auth == "pat":
            kwargs["token_auth"] = token
        else:
            if not user:
                raise InvalidValue("JIRA basic / API-token auth needs a user", hint="set BRIDGE_JIRA_USER")
            kwargs["basic_auth"] = (user, token)
        # (connect, read): each bounded by the timeout, and neither retried.
        self._connect_args = dict(server=self.url, options={"rest_api_version": self.api_version, "verify": verify},
                                  max_retries=0, timeout=(timeout, timeout), get_server_info=False, **kwargs)
        self._client: JIRA | None = None
        # Per thread: a round's writes run on several threads (bridge/in_flight.py).
        self._answers = threading.local()

    @property
    def _jira(self) -> JIRA:
        """The library client, connected on first use (serverInfo is read then), so building
        a tracker costs nothing when a command fails before needing JIRA."""
        if self._client is None:
            self._client = self._call("connecting", self._connect)
        return self._client

    def _connect(self) -> JIRA:
        client = JIRA(**self._connect_args)
        # The last answer, for an UnexpectedAnswer to show what came instead of JSON.
        client._session.hooks["response"].append(self._remember)
        if self._cache is None:
            info = client.server_info()
            seed_library_caches(client, fields=None)
        else:
            info = self._cache.remember(f"jira:{self.url}:server-info", client.server_info)
            seed_library_caches(client, fields=self._cache.remember(f"jira:{self.url}:fields", client.fields))
        client._version = tuple(int(v) for v in info["versionNumbers"])
        detected = info.get("deploymentType")
        if not isinstance(detected, (str, type(None))):
            raise TypeError("deploymentType")
        # jira.deployment, when set, wins over serverInfo (a proxy may hide the real answer).
        client.deploymentType = {"cloud": "Cloud", "server": "Server"}.get(self._deployment or "", detected)
        return client

    def _remember(self, response: requests.Response, *args, **kwargs) -> None:
        self._answers.last = response

    @property
    def _last_response(self) -> requests.Response | None:
        """This thread's last answer from JIRA, for an error to show what came instead."""
        return getattr(self._answers, "last", None)

    @property
    def deployment(self) -> str:
        """``Cloud`` or ``Server`` (Data Center): ``jira.deployment`` if set, else serverInfo."""
        return self._jira.deploymentType or "Server"

    @property
    def is_cloud(self) -> bool:
        return self.deployment == "Cloud"

    # -- plumbing --------------------------------------------------------------------
    def _call(self, what: str, fn: Callable[[], T], *, write: bool = False) -> T:
        """Run one library call with our retry policy, wait budget and error translation.

        Retried: failures that prove the request was not applied (refused connection, 429,
        5xx of a read) — never a time-out, and never past the wait budget.
        """
        attempt = 0
        while True:
            try:
                return fn()
            except BridgeError:
                raise  # a nested call (connecting) already translated its failure
            except requests.exceptions.JSONDecodeError:
                error: Exception = unexpected_answer(SERVICE, self._last_response, write=write)
            except (JIRAError, requests.exceptions.RequestException) as exc:
                error = translate(exc, what, write=write)
                if isinstance(exc, requests.exceptions.Timeout):
                    raise error from None
            except (KeyError, IndexError, TypeError, AttributeError, ValueError):
                # The library read fields JIRA's API always sends: this was not JIRA's JSON.
                error = unexpected_answer(SERVICE, self._last_response, write=write)
            attempt += 1
            if (not isinstance(error, ServiceUnreachable) or isinstance(error, UnexpectedAnswer)
                    or error.maybe_applied or attempt > self.retries):
                raise error from None
            self._pause(error, what, attempt)

    def _pause(self, error: ServiceUnreachable, what: str, attempt: int) -> None:
        """Wait before retry ``attempt``, within the budget; a longer wait asked for fails now."""
        wanted = error.retry_after if error.retry_after is not None else min(0.25 * 2 ** (attempt - 1), 8.0)
        if error.retry_after is not None and wanted > min(self.budget.remaining(), MAX_RETRY_AFTER_S):
            failure = error.message.removeprefix(f"{SERVICE}: ")  # "{what}: rate limited (429)", a 503's text
            raise ServiceUnreachable(
                SERVICE, f"{failure}; JIRA asked to wait {wanted:.0f} s before trying again, "
                "longer than the bridge waits within one run (at most BRIDGE_HTTP_TIMEOUT)",
                retry_after=wanted, hint="run again later (a scheduled sync does that by itself)") from None
        granted = self.budget.take(wanted)
        if granted < wanted:
            raise error from None  # the budget is spent: give up rather than hammer JIRA
        self._sleep(granted)

    def _text(self, body: Any) -> str:
        """A description or comment body as text (v3 answers ADF documents)."""
        if body is None:
            return ""
        if isinstance(body, str):
            return body
        return adf_to_text(body if isinstance(body, dict) else getattr(body, "raw", None))

    def _rich(self, text: str) -> Any:
        """Text as the API version takes it: a string on v2, an ADF document on v3."""
        return text_to_adf(text) if self.api_version == "3" and isinstance(text, str) else text

    def _to_issue(self, raw) -> Issue:
        try:
            return self._issue_of(raw)
        except (KeyError, IndexError, TypeError, AttributeError, ValueError):
            raise unexpected_answer(SERVICE, self._last_response) from None

    def _issue_of(self, raw) -> Issue:
        """An issue from the library's resource or straight from its JSON (a search page
        read as JSON skips building a resource object per field: a quarter of the CPU)."""
        raw = raw if isinstance(raw, dict) else raw.raw
        f = raw.get("fields") or {}
        status = f.get("status") or {}
        return Issue(
            id=str(raw["id"]),
            key=raw["key"],
            summary=f.get("summary") or "",
            issue_type=(f.get("issuetype") or {}).get("name") or "",
            status=status.get("name") or "",
            status_category=(status.get("statusCategory") or {}).get("key") or "new",
            priority=(f.get("priority") or {}).get("name"),
            labels=tuple(f.get("labels") or ()),
            resolution=(f.get("resolution") or {}).get("name"),
            fix_versions=tuple(
                Version(id=str(v["id"]), name=v["name"], released=bool(v.get("released", False)),
                        release_date=v.get("releaseDate"))
                for v in f.get("fixVersions") or ()
            ),
            updated=parse_jira_time(f.get("updated")),
            url=self.browse_url(raw["key"]),
        )

    def browse_url(self, key: str) -> str:
        return f"{self.url}/browse/{key}"

    # -- reading ---------------------------------------------------------------------
    def check(self) -> str:
        """Verify the credentials; return the user's display name."""
        me = self._call("checking credentials", lambda: dict(self._jira.myself()))
        return str(me.get("emailAddress") or me.get("name") or me.get("displayName") or "?")

    def issue(self, key_or_id: str) -> Issue | None:
        """The issue, or None when JIRA has no such issue (or we may not see it).

        Raises :class:`InvalidValue` (exit 2), before any request, for a value that is not
        an issue key or a numeric id."""
        key_or_id = str(key_or_id).strip()
        if not _ISSUE_REF.fullmatch(key_or_id):
            raise InvalidValue(f"{shown(key_or_id)} is not a JIRA issue key",
                               hint="give a key such as SUP-123, or a numeric issue id")
        try:
            raw = self._call(f"reading {key_or_id}", lambda: self._jira.issue(key_or_id, fields=ISSUE_FIELDS))
        except ServiceRejected as exc:
            if exc.status == 404:
                return None
            raise
        return self._to_issue(raw)

    def find_by_label(self, label: str) -> list[Issue]:
        """Issues carrying exactly this label, oldest first."""
        jql = f"labels = {jql_string(check_label(label))} ORDER BY created ASC"
        raws = self._call(f"searching for label {label}",
                          lambda: self._jira.search_issues(jql, fields=ISSUE_FIELDS, maxResults=10))
        return [self._to_issue(r) for r in raws]

    def search_with_comments(self, jql: str, *, page_size: int = 100, reconcile: list[str] = (),
                             concurrency: int = 1) -> Iterator[tuple[Issue, list[dict]]]:
        """Every issue matching ``jql`` with its comments, in pages of ``page_size``, up to
        :data:`PAGES_AHEAD` pages read ahead while the caller works (a round's pages, not all).
        Data Center pages with ``startAt``; Cloud with ``nextPageToken``, and past the first
        page up to :data:`PAGES_AHEAD` at a time given ``concurrency`` (:mod:`.jira_search`).
        ``reconcile``: up to 50 issue ids Cloud's eventually consistent search must reflect
        (written moments ago); Data Center ignores it."""
        reconcile_ids = [int(i) for i in reconcile if str(i).isdigit()][:50] or None
        together = min(concurrency, PAGES_AHEAD) if self.is_cloud else 1  # they are the read-ahead
        pages = self._search_pages(jql, page_size, reconcile_ids, together)
        for page in ahead(pages, PAGES_AHEAD if together <= 1 else 1):
            yield from page

    def _search_pages(self, jql: str, page_size: int, reconcile_ids: list[int] | None,
                      concurrency: int) -> Iterator[list]:
        fields = ISSUE_FIELDS + ",comment"
        if self.is_cloud:
            def search(text: str, token: str | None, size: int, wanted: str | None) -> dict:
                page = self._call("searching for changed issues", lambda: self._jira.enhanced_search_issues(
                    text, nextPageToken=token, maxResults=size, fields=wanted or "id",
                    reconcileIssues=reconcile_ids, json_result=True))
                self._page_parts(page, "nextPageToken")  # JIRA's JSON, or an unexpected answer
                return page

            try:
                for issues in cloud_pages(search, jql, fields=fields, page_size=page_size, concurrency=concurrency):
                    yield self._with_comments(issues)
            except (KeyError, TypeError, ValueError):
                raise unexpected_answer(SERVICE, self._last_response) from None
        else:
            start = 0
            while True:
                page = self._call("searching for changed issues", lambda: self._jira.search_issues(
                    jql, startAt=start, maxResults=page_size, fields=fields, validate_query=True,
                    json_result=True))
                issues, total = self._page_parts(page, "total")
                start += len(issues)
                yield self._with_comments(issues)
                if not issues or start >= (total or 0):
                    break

    def _page_parts(self, page: Any, name: str) -> tuple[list, Any]:
        """A search page read as JSON: its issues and the field ``name`` (the next page's
        token on Cloud, the total on Data Center); any other shape is an unexpected answer."""
        if not isinstance(page, dict) or not isinstance(page.get("issues") or [], list):
            raise unexpected_answer(SERVICE, self._last_response)
        return page.get("issues") or [], page.get(name)

    def _with_comments(self, page) -> list[tuple[Issue, list[dict]]]:
        """A search page's issues (JSON, no resource objects) with their comments."""
        try:
            return [(self._to_issue(raw), [{**c, "body": self._text(c["body"])} for c in search_comments(raw)])
                    for raw in page]
        except (KeyError, IndexError, TypeError, AttributeError, ValueError):
            raise unexpected_answer(SERVICE, self._last_response) from None

    def project_versions(self, project: str) -> list[Version]:
        raws = self._call(f"reading versions of {project}", lambda: self._jira.project_versions(project))
        return [Version(id=str(v.id), name=v.name, released=bool(getattr(v, "released", False)),
                        release_date=getattr(v, "releaseDate", None)) for v in raws]

    def comment_is_public(self, key: str, comment_id: str) -> bool:
        """True only when the comment provably is public: no visibility restriction and no
        internal mark in whatever shape JIRA gives it (see
        :func:`~bridge.policy.visibility.jira_comment_is_public`); read on demand, as search
        omits properties."""
        raw = self._call(f"reading comment {comment_id} of {key}",
                         lambda: self._jira.comment(key, comment_id, expand="properties"))
        return jira_comment_is_public(raw)

    def add_label(self, key: str, label: str) -> None:
        """Add one label, keeping the others (idempotent)."""
        check_label(label)
        self._call(f"labelling {key}", lambda: self._jira.issue(key, fields="summary").update(
            update={"labels": [{"add": label}]}, notify=False))

    def comments(self, key: str) -> list[Comment]:
        raws = self._call(f"reading comments of {key}", lambda: self._jira.comments(key, expand="properties"))
        try:
            return [
                Comment(id=str(c.id), body=self._text(c.raw.get("body")), public=jira_comment_is_public(c),
                        author=getattr(getattr(c, "author", None), "displayName", "") or "",
                        created=parse_jira_time(getattr(c, "created", None)))
                for c in raws
            ]
        except (KeyError, IndexError, TypeError, AttributeError, ValueError):
            raise unexpected_answer(SERVICE, self._last_response) from None

    def remote_link_ids(self, key: str) -> set[str]:
        links = self._call(f"reading remote links of {key}", lambda: self._jira.remote_links(key))
        return {getattr(link, "globalId", None) for link in links} - {None}

    def field_names(self) -> dict[str, str]:
        """Field id -> name of every field JIRA knows."""
        return {f["id"]: f["name"] for f in self._call("reading fields", lambda: self._jira.fields())}

    def priorities(self) -> list[str]:
        return [p.name for p in self._call("reading priorities", lambda: self._jira.priorities())]

    def link_type_names(self) -> list[str]:
        return [t.name for t in self._call("reading link types", lambda: self._jira.issue_link_types())]

    def project_issue_types(self, project: str) -> list[str]:
        raw = self._call(f"reading project {project}", lambda: self._jira.project(project))
        return [t.name for t in getattr(raw, "issueTypes", []) or []]

    def statuses(self) -> list[str]:
        return [s.name for s in self._call("reading statuses", lambda: self._jira.statuses())]

    # -- writing ---------------------------------------------------------------------
    def create_issue(self, fields: dict[str, Any]) -> Issue:
        """Create an issue. Not idempotent: a ServiceUnreachable with ``maybe_applied`` means
        JIRA may have created it; the caller searches by its label before trying again."""
        sent = dict(fields)
        fields = self._rich_fields(fields)
        # prefetch=False: the library would read the new issue back (one more request) for
        # fields we just sent; JIRA's answer carries its id and key.
        raw = self._call("creating the issue",
                         lambda: self._jira.create_issue(fields=fields, prefetch=False), write=True)
        try:
            return created_issue(str(raw.raw["id"]), str(raw.raw["key"]), sent, self.browse_url(raw.raw["key"]))
        except (KeyError, TypeError, AttributeError):
            raise unexpected_answer(SERVICE, self._last_response, write=True) from None

    def create_once(self, label: str, fields: dict[str, Any], *, what: str,
                    sleep: Callable[[float], None] = time.sleep) -> tuple[Issue, str]:
        """The issue carrying ``label``, created only if JIRA has none: ``(issue, how)``
        with ``how`` one of ``found``, ``created`` or ``reconciled``. After a create, an
        older issue with the label made by another creator wins and ours is closed as its
        duplicate (:mod:`bridge.connectors.jira_duplicates`).

        JIRA has no idempotency key, so this is how "one intent, one issue" survives
        retries and crashes: search by the deterministic label first; create; and when the
        create fails in a way that may have been applied (time-out, dropped connection,
        5xx), search again with pauses — search lags behind writes — before giving up with
        an ItemFailed that tells the caller to run again (which then finds it).
        ``fields`` must carry ``label`` among its labels.
        """
        found = self.find_by_label(label)
        if found:
            return found[0], "found"
        try:
            created = self.create_issue(fields)
        except ServiceUnreachable as exc:
            if not exc.maybe_applied:
                raise
            for pause in RECONCILE_PAUSES_S:
                sleep(pause)
                found = self.find_by_label(label)
                if found:
                    return found[0], "reconciled"
            raise ItemFailed(
                f"JIRA may have created the {what} for {label} but does not show it yet",
                hint="run the same command again: it finds the issue by its label before creating one",
            ) from None
        # Another creator (without our store) may have made one a moment earlier.
        standing = oldest_with_label(self, label, created, sleep)
        return standing, "created" if standing.id == created.id else "found"

    @staticmethod
    def describe_create(how: str, issue: Issue, label: str) -> str:
        """A person's line for what :meth:`create_once` did."""
        return {"found": f"found {issue.key} by its label {label}",
                "created": f"created {issue.key}",
                "reconciled": f"the create's answer was lost, but JIRA had made {issue.key}"}[how]

    def update_fields(self, key: str, fields: dict[str, Any]) -> None:
        """Set fields (idempotent: setting the same values twice is harmless)."""
        fields = self._rich_fields(fields)
        self._call(f"updating {key}", lambda: self._jira.issue(key, fields="summary").update(fields=fields, notify=False))

    def _rich_fields(self, fields: dict[str, Any]) -> dict[str, Any]:
        """The text fields JIRA keeps as rich text, as the API version takes them."""
        return {k: self._rich(v) if k in ("description", "environment") else v for k, v in fields.items()}

    def add_remote_link(self, key: str, *, global_id: str, url: str, title: str, summary: str | None = None) -> None:
        """Create or update (JIRA upserts by ``globalId``) a remote link on the issue."""
        destination = {"url": url, "title": title}
        if summary:
            destination["summary"] = summary
        self._call(f"linking {key} to {url}",
                   lambda: self._jira.add_remote_link(key, destination, globalId=global_id))

    def add_comment(self, key: str, body: str, *, internal: bool = True) -> str:
        """Add a comment; ``internal`` marks it internal (``sd.public.comment``). Not idempotent."""
        comment = self._call(f"commenting on {key}",
                             lambda: self._jira.add_comment(key, self._rich(body), is_internal=internal), write=True)
        return str(comment.id)

    def reopen(self, key: str) -> None:
        """Move a resolved issue back to work through the first transition its workflow
        offers towards a status that is not done (workflows name it differently)."""
        transitions = self._call(f"reading transitions of {key}", lambda: self._jira.transitions(key))
        for transition in transitions:
            category = ((transition.get("to") or {}).get("statusCategory") or {}).get("key")
            if category and category != "done":
                self._call(f"reopening {key}", lambda: self._jira.transition_issue(key, transition["id"]), write=True)
                return
        raise ServiceRejected(SERVICE, 400, f"{key} offers no transition out of done")

    def close_as_duplicate(self, key: str, of_key: str) -> None:
        """Close ``key`` as a duplicate of ``of_key``: a "Duplicate" link, then the first
        transition to a done status, with the resolution Duplicate where the screen takes it."""
        names = {name.casefold(): name for name in self.link_type_names()}
        self.link_issues(names.get("duplicate", "Relates"), key, of_key)
        transitions = self._call(f"reading transitions of {key}", lambda: self._jira.transitions(key))
        for transition in transitions:
            if ((transition.get("to") or {}).get("statusCategory") or {}).get("key") == "done":
                try:
                    self._call(f"closing {key}", lambda: self._jira.transition_issue(
                        key, transition["id"], fields={"resolution": {"name": "Duplicate"}}), write=True)
                except ServiceRejected:
                    self._call(f"closing {key}", lambda: self._jira.transition_issue(key, transition["id"]), write=True)
                return
        raise ServiceRejected(SERVICE, 400, f"{key} offers no transition to a done status")

    def link_issues(self, link_type: str, inward: str, outward: str) -> None:
        self._call(f"linking {inward} to {outward}",
                   lambda: self._jira.create_issue_link(link_type, inward, outward), write=True)

