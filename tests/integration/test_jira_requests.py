"""The JIRA connector asks JIRA only what it must (issue 15), counted by the emulator.

serverInfo and the field list come from the store's metadata cache once an earlier process
filled it; a create is not read back; a remote link does not list application links. The
field list and the application links rest on the `jira` library's private attributes
(``_fields_cache_value``, ``_applicationlinks``, set in one function,
``bridge.connectors.jira_library.seed_library_caches``): these tests fail when a library
release renames them.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.config import load_config
from bridge.connectors.jira import JiraTracker
from bridge.metadata_cache import MetadataCache
from bridge.store.db import open_store

METADATA = ("/rest/api/2/serverInfo", "/rest/api/2/field", "/rest/applinks/latest/listApplicationlinks")


@pytest.fixture
def store(tmp_path):
    return open_store(f"sqlite:///{tmp_path / 'bridge.db'}")


def tracker(bridge_env, cache) -> JiraTracker:
    """A tracker as a new process builds it, with this test's cache."""
    jira = load_config(None, env=bridge_env).jira
    return JiraTracker(str(jira.url), user=jira.user, token=jira.token.get_secret_value(), auth=jira.auth,
                       api_version=jira.api_version, deployment=jira.deployment, cache=cache)


def fields_for(tracker: JiraTracker, label: str) -> dict:
    return {"project": {"key": "SUP"}, "issuetype": {"name": "Bug"}, "summary": "Blank chart",
            "labels": [label, "bridge"], "priority": {"name": "High"}}


def paths(sandbox) -> list[str]:
    return [f"{e.method} {e.path}" for e in sandbox.jira.knobs.received()]


def test_a_warm_cache_spares_server_info_fields_application_links_and_the_read_back(sandbox, bridge_env, store):
    cache = MetadataCache(lambda: store)
    tracker(bridge_env, cache).find_by_label("bridge-warm-up")  # an earlier process fills the cache
    sandbox.jira.knobs.reset_counters()

    jira = tracker(bridge_env, cache)  # a new process
    issue, how = jira.create_once("bridge-zendesk-9001", fields_for(jira, "bridge-zendesk-9001"), what="Bug")
    jira.add_remote_link(issue.key, global_id="bridge:zendesk:9001", url="https://help.example/9001", title="#9001")

    assert how == "created"
    # Search, create, the search after it for an older duplicate made by another creator
    # (bridge.connectors.jira_duplicates), the remote link: no serverInfo, field list,
    # application links or read-back.
    assert paths(sandbox) == ["GET /rest/api/2/search/jql", "POST /rest/api/2/issue", "GET /rest/api/2/search/jql",
                              f"POST /rest/api/2/issue/{issue.key}/remotelink"]
    stored = sandbox.jira_state.issue(issue.key)
    assert (issue.id, issue.labels, issue.priority) == (str(stored["id"]), ("bridge-zendesk-9001", "bridge"), "High")
    assert [link["globalId"] for link in sandbox.jira_state.remote_links(issue.key)] == ["bridge:zendesk:9001"]
    # The seeded field map is the library's own: a search by a field's JQL name still works.
    assert jira._jira._fields_cache["summary"] == "summary"


def test_without_a_cache_every_process_asks_for_server_info(sandbox, bridge_env):
    sandbox.jira.knobs.reset_counters()
    tracker(bridge_env, None).find_by_label("bridge-a")
    tracker(bridge_env, None).find_by_label("bridge-b")
    assert paths(sandbox).count("GET /rest/api/2/serverInfo") == 2


def test_an_expired_value_is_asked_again(sandbox, bridge_env, store):
    now = [datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)]
    cache = MetadataCache(lambda: store, clock=lambda: now[0], ttl=timedelta(hours=1))
    sandbox.jira.knobs.reset_counters()
    tracker(bridge_env, cache).find_by_label("bridge-a")
    now[0] = datetime.now(timezone.utc) + timedelta(hours=2)  # the stored stamp is the store's own time
    tracker(bridge_env, cache).find_by_label("bridge-b")
    assert [p for p in paths(sandbox) if p.endswith(METADATA)] == ["GET /rest/api/2/serverInfo",
                                                                   "GET /rest/api/2/field"] * 2


def test_a_read_only_store_is_read_and_never_written(tmp_path, store):
    MetadataCache(lambda: store).remember("x", lambda: {"a": 1})
    reader = open_store(f"sqlite:///{tmp_path / 'bridge.db'}", read_only=True)
    asked = []
    cache = MetadataCache(lambda: reader, writable=False)
    assert cache.remember("x", lambda: asked.append(1) or {"a": 2}) == {"a": 1}
    assert cache.remember("y", lambda: asked.append(1) or [3]) == [3]
    assert asked == [1] and store.cursors.get("cache:y") is None


@settings(max_examples=30)
@given(age_s=st.integers(min_value=-7200, max_value=7200), ttl_s=st.integers(min_value=1, max_value=3600))
def test_a_value_is_used_exactly_while_it_is_younger_than_the_expiry(tmp_path_factory, age_s, ttl_s):
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('cache') / 'bridge.db'}")
    MetadataCache(lambda: store).remember("v", lambda: "old")
    _, stored_at = store.cursors.get_with_time("cache:v")
    cache = MetadataCache(lambda: store, ttl=timedelta(seconds=ttl_s),
                          clock=lambda: stored_at + timedelta(seconds=age_s))
    used = cache.remember("v", lambda: "new")
    assert used == ("old" if 0 <= age_s < ttl_s else "new")
