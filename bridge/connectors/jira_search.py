"""What an issue search gives: Cloud's search read several pages at a time, and the
comments a search result carries (:func:`search_comments`).

``search/jql`` pages with ``nextPageToken``: each page's token comes in the answer to the
page before, so a search read the plain way is one round trip after another. At 10,000
changed Bugs in pages of 100 that is 100 round trips in a row, 20 s at 200 ms each,
whatever else the pass could do meanwhile.

The same endpoint answers up to 5,000 issues a page when it is asked for their ids only
(Atlassian's documentation of ``GET /rest/api/3/search/jql``: "the greatest number of
items returned per page is achieved when requesting id or key only"), and a search by
``id in (...)`` needs no token. So a search that does not fit in its first page is read in
three steps:

1. the first page, in full, as before (a quiet run or a small change costs one request);
2. if it has a next page, the ids of every match, up to 5,000 a page, one page after
   another (two requests at 10,000);
3. the rest in full, ``page_size`` ids a search, ``concurrency`` searches in flight, each
   page handed on in the order of the ids (the search's own order).

Requests: ⌈n/page_size⌉ + ⌈n/5,000⌉ instead of ⌈n/page_size⌉; round trips in a row: about
1 + ⌈n/5,000⌉ + ⌈n/page_size⌉ ÷ concurrency instead of ⌈n/page_size⌉.

An issue updated between the steps is read as it stands when its page is read, and one
that starts to match after the id step waits for the next run, as it would if it had been
updated just after a plain search (the next run's search starts earlier than this one).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

__all__ = ["IDS_PAGE", "cloud_pages", "search_comments"]

#: Ids asked for per page of the id step (Cloud answers fewer if it wants: the token decides).
IDS_PAGE = 5000

#: ``search(jql, token, max_results, fields)``: one ``search/jql`` page as JSON (``fields``
#: None: ids only).
Search = Callable[[str, str | None, int, str | None], dict[str, Any]]


def cloud_pages(search: Search, jql: str, *, fields: str, page_size: int,
                concurrency: int) -> Iterator[list[dict[str, Any]]]:
    """The raw issues ``jql`` finds, a page at a time (see the module docstring); with
    ``concurrency`` 1, one page after another by token, as the endpoint pages."""
    first = search(jql, None, page_size, fields)
    yield _issues(first)
    token = first.get("nextPageToken")
    if not token:
        return
    if concurrency <= 1:
        while token:
            page = search(jql, token, page_size, fields)
            yield _issues(page)
            token = page.get("nextPageToken")
        return
    listed = {str(raw.get("id")) for raw in _issues(first)}
    ids = [i for i in _all_ids(search, jql) if i not in listed]
    chunks = [ids[n:n + page_size] for n in range(0, len(ids), page_size)]
    yield from _in_order(lambda chunk: _by_ids(search, chunk, fields), chunks, concurrency)


def _issues(page: dict[str, Any]) -> list[dict[str, Any]]:
    issues = page.get("issues") or []
    if not isinstance(issues, list):
        raise ValueError("a search page's issues are not a list")
    return issues


def _all_ids(search: Search, jql: str) -> list[str]:
    """Every id the search finds, in its order (a page after another: a token each)."""
    ids: list[str] = []
    seen: set[str] = set()
    token = None
    while True:
        page = search(jql, token, IDS_PAGE, None)
        for raw in _issues(page):
            issue_id = str(raw["id"])
            if issue_id not in seen:  # paging moved under an update: listed once
                seen.add(issue_id)
                ids.append(issue_id)
        token = page.get("nextPageToken")
        if not token:
            return ids


def _by_ids(search: Search, chunk: list[str], fields: str) -> list[dict[str, Any]]:
    """These issues in full (one request), in the chunk's order; ids are digits only (JIRA
    gave them), so they go into JQL as they are."""
    if not all(i.isdigit() for i in chunk):
        raise ValueError("an issue id from the search is not a number")
    page = search(f"id in ({', '.join(chunk)})", None, len(chunk), fields)
    position = {issue_id: n for n, issue_id in enumerate(chunk)}
    return sorted(_issues(page), key=lambda raw: position.get(str(raw.get("id")), len(chunk)))


def _in_order(fetch: Callable[[list[str]], list[dict[str, Any]]], chunks: list[list[str]],
              concurrency: int) -> Iterator[list[dict[str, Any]]]:
    """``fetch`` of every chunk, ``concurrency`` in flight, handed on in the chunks' order;
    a fetch's error is raised where its page would have come. A caller that stops early
    waits for the fetches under way, and the rest never start."""
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="bridge-search")
    pending: deque[Future] = deque()
    waiting = iter(chunks)
    try:
        for chunk in waiting:
            pending.append(pool.submit(fetch, chunk))
            if len(pending) == concurrency:
                break
        while pending:
            page = pending.popleft().result()
            chunk = next(waiting, None)
            if chunk is not None:
                pending.append(pool.submit(fetch, chunk))
            yield page
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def search_comments(raw) -> list[dict]:
    """The comments a search result carries: id, body, author, whether restricted.

    Search leaves comment properties out, so ``restricted`` here only knows the role/group
    visibility and ``jsdPublic``; whoever would publish a comment asks
    :meth:`~bridge.connectors.jira.JiraTracker.comment_is_public`, which reads the
    properties too.
    """
    field = ((raw if isinstance(raw, dict) else raw.raw).get("fields") or {}).get("comment") or {}
    return [
        {"id": str(c.get("id")), "body": c.get("body") or "",  # text, or ADF on v3
         "author": (c.get("author") or {}).get("displayName") or "",
         "restricted": _restricted_without_properties(c)}
        for c in field.get("comments") or []
    ]


def _restricted_without_properties(comment: dict) -> bool:
    """What a comment without its properties says of itself: restricted or not public."""
    return comment.get("visibility") not in (None, {}) or comment.get("jsdPublic", True) is not True
