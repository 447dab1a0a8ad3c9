"""Where the bridge meets the `jira` library's internals (jira 3.10.5), in one place.

What JIRA already told the bridge, handed to the library so it does not ask again: the
issue a create answered (no read-back), the field list from the store's cache, and no
application-link listing before a remote link. tests/integration/test_jira_requests.py
counts the requests and fails when a library release changes what this relies on.
"""

from __future__ import annotations

from typing import Any

from jira import JIRA

from bridge.models import Issue


def created_issue(issue_id: str, key: str, sent: dict[str, Any], url: str) -> Issue:
    """The issue just created, from what was sent and JIRA's answer (id and key): a new
    issue stands in its workflow's first status, which the caller never reads."""
    def name(value: Any) -> str | None:
        return value.get("name") if isinstance(value, dict) else (value if isinstance(value, str) else None)

    return Issue(id=issue_id, key=key, summary=str(sent.get("summary") or ""),
                 issue_type=name(sent.get("issuetype")) or "", status="", status_category="new",
                 priority=name(sent.get("priority")), labels=tuple(sent.get("labels") or ()), resolution=None,
                 fix_versions=(), updated=None, url=url)


def seed_library_caches(client: JIRA, *, fields: list[dict] | None) -> None:
    """Hand the library what it would otherwise ask JIRA for; the one place that touches
    its private attributes (jira 3.10 offers no public way for either):

    * ``_applicationlinks``: ``add_remote_link`` first lists JIRA's application links (one
      request, admin-only on many sites) to build a globalId for links to *JIRA issues*; the
      bridge links helpdesk tickets with its own globalId, where that list is never used.
      ``applicationlinks(cached=True)`` answers the attribute without a request.
    * ``_fields_cache_value``: the JQL name -> field id map searches translate ``fields``
      with, which the library fills from ``GET field`` on first use; ``fields`` is that
      answer, from the store's cache (None: the library reads it itself).

    tests/integration/test_jira_requests.py counts the requests and fails when a library
    release renames either attribute.
    """
    client._applicationlinks = []
    if fields:
        client._fields_cache_value = {name: f["id"] for f in fields if isinstance(f, dict)
                                      for name in f.get("clauseNames") or ()}
