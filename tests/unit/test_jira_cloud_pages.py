"""``cloud_pages`` against an in-memory ``search/jql`` (its paging rules only: a token per
page, at most 100 issues in full or 5,000 ids a page): the same issues in the same order as
paging by token, for the request count the module docstring gives."""

from __future__ import annotations

import base64
import math
import re
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.connectors.jira_search import IDS_PAGE, cloud_pages

FULL = "summary,status"


class Search:
    """Issues ``ids`` matching every JQL, in that order, but ``id in (...)`` (those only)."""

    def __init__(self, ids: list[int], *, ids_page: int = IDS_PAGE, fail_on: int | None = None) -> None:
        self.ids = ids
        self.ids_page = ids_page
        self.fail_on = fail_on
        self.calls: list[tuple[str, str | None, int, str | None]] = []
        self.lock = threading.Lock()

    def __call__(self, jql: str, token: str | None, size: int, fields: str | None) -> dict:
        with self.lock:
            self.calls.append((jql, token, size, fields))
            if self.fail_on is not None and len(self.calls) == self.fail_on:
                raise RuntimeError("JIRA answered 500")
        listed = re.fullmatch(r"id in \(([\d, ]+)\)", jql)
        # Without ORDER BY, JIRA picks its own order: here the reverse of the ids asked for.
        found = [int(i) for i in reversed(listed.group(1).split(", "))] if listed else self.ids
        size = min(size, 100 if fields else self.ids_page)
        offset = int(base64.b64decode(token)) if token else 0
        page = found[offset:offset + size]
        answer: dict = {"issues": [{"id": str(i), "fields": {"summary": f"#{i}"}} if fields else {"id": str(i)}
                                   for i in page]}
        if offset + size < len(found):
            answer["nextPageToken"] = base64.b64encode(str(offset + size).encode()).decode()
        return answer


def _read(search: Search, page_size: int, concurrency: int) -> list[list[dict]]:
    return list(cloud_pages(search, "labels = bridge", fields=FULL, page_size=page_size, concurrency=concurrency))


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 700), page_size=st.integers(1, 100), concurrency=st.integers(1, 8),
       ids_page=st.sampled_from([7, 100, IDS_PAGE]))
def test_the_same_issues_in_the_same_order_as_paging_by_token(n, page_size, concurrency, ids_page):
    ids = list(range(10_000, 10_000 + n))
    search = Search(ids, ids_page=ids_page)
    pages = _read(search, page_size, concurrency)
    assert [int(raw["id"]) for page in pages for raw in page] == ids
    assert all("fields" in raw for page in pages for raw in page)  # every issue in full
    full = math.ceil(n / page_size) or 1
    if concurrency == 1 or n <= page_size:
        assert len(search.calls) == full
    else:
        assert len(search.calls) == full + math.ceil(n / min(ids_page, IDS_PAGE))
        assert all(len(page) <= page_size for page in pages)


def test_a_page_that_fails_is_raised_where_it_would_have_come_and_stops_the_reading():
    search = Search(list(range(1, 1001)), fail_on=5)  # the first page, the ids, then pages by id
    pages = cloud_pages(search, "labels = bridge", fields=FULL, page_size=100, concurrency=2)
    got = [next(pages), next(pages)]  # the first page, and the first page by id
    assert [len(p) for p in got] == [100, 100]
    with pytest.raises(RuntimeError, match="500"):
        for _ in range(10):
            next(pages)
    assert len(search.calls) < 2 + 9  # the pages after the failed one were not all asked for


def test_an_id_that_is_not_a_number_is_refused_before_it_reaches_jql():
    class Odd(Search):
        def __call__(self, jql, token, size, fields):
            answer = super().__call__(jql, token, size, fields)
            if not fields:
                answer["issues"] = [{"id": "1) OR (id > 0"}]
            return answer

    with pytest.raises(ValueError, match="not a number"):
        _read(Odd(list(range(1, 300))), 100, 4)
