"""`bridge sync` over real HTTP against the sandbox: a developer works in JIRA with the real
`jira` library; the bridge mirrors it onto the linked Zendesk tickets.

Assertions read the emulators' state: what each customer received, what agents see.
"""

from __future__ import annotations

import pytest
from jira import JIRA

from bridge.sandbox.jira import DEMO_LOGINS
from bridge.ticket_views import ticket_from_view
from tests.fixtures.bridge_comments import bridge_comments, escalate_together


@pytest.fixture
def dev(sandbox) -> JIRA:
    """The developer (profile time zone Europe/Berlin) driving JIRA through the library."""
    return JIRA(server=sandbox.jira.url, basic_auth=DEMO_LOGINS["dev"].basic_auth("cloud"), max_retries=0)


@pytest.fixture
def escalated(sandbox, services):
    """Tickets 101 (en-US) and 104 (de) on one Bug, 105 joined too: three tickets, two locales."""
    return escalate_together(services, sandbox, TICKETS)


def sync(services):
    report = services.sync_engine().run()
    assert report.exit_code == 0, report.failures
    return report


def move(dev: JIRA, key: str, status: str, **fields) -> None:
    dev.transition_issue(key, status, fields=fields or None)


TICKETS = (101, 104, 105)


def test_in_progress_then_in_qa_each_announced_once_per_ticket_in_its_locale(sandbox, services, dev, escalated):
    before = {t: len(bridge_comments(sandbox, t)) for t in TICKETS}
    sync(services)  # the Bug is To Do: nothing to tell
    assert {t: len(bridge_comments(sandbox, t)) for t in TICKETS} == before

    move(dev, escalated, "In Progress")
    sync(services)
    for ticket in TICKETS:
        replies = bridge_comments(sandbox, ticket)
        assert len(replies) == before[ticket] + 1
        assert sandbox.zendesk_state.ticket(ticket)["status"] == "open"
        assert "bridge_state_in_progress" in sandbox.zendesk_state.ticket(ticket)["tags"]
    assert "working on a fix" in bridge_comments(sandbox, 101)[-1]
    german = bridge_comments(sandbox, 104)[-1]
    assert "working on a fix" not in german and german != bridge_comments(sandbox, 101)[-1]

    sync(services)
    sync(services)
    assert {t: len(bridge_comments(sandbox, t)) for t in TICKETS} == {t: before[t] + 1 for t in TICKETS}

    move(dev, escalated, "In QA")
    sync(services)
    assert all(len(bridge_comments(sandbox, t)) == before[t] + 2 for t in TICKETS)
    assert "verifying" in bridge_comments(sandbox, 101)[-1]


def test_fixed_with_unreleased_version_then_released(sandbox, services, dev, escalated):
    bug = dev.issue(escalated)
    bug.update(fields={"fixVersions": [{"name": "2.4.0"}]})
    move(dev, escalated, "In Progress")
    move(dev, escalated, "In QA")
    move(dev, escalated, "Done", resolution={"name": "Fixed"})
    sync(services)
    fix_ready = bridge_comments(sandbox, 101)[-1]
    assert "2.4.0" in fix_ready and "ship" in fix_ready
    assert sandbox.zendesk_state.ticket(101)["status"] == "open"

    version = next(v for v in dev.project_versions("SUP") if v.name == "2.4.0")
    version.update(released=True, releaseDate="2026-11-20")
    sync(services)
    released = bridge_comments(sandbox, 101)[-1]
    assert "2.4.0" in released and released != fix_ready
    for ticket in TICKETS:
        assert sandbox.zendesk_state.ticket(ticket)["status"] == "solved"
    count = len(bridge_comments(sandbox, 101))
    sync(services)
    assert len(bridge_comments(sandbox, 101)) == count


@pytest.mark.parametrize("resolution", ["Won't Fix", "Duplicate", "Cannot Reproduce"])
def test_closed_without_fix_is_an_internal_note_only(sandbox, services, dev, escalated, resolution):
    before = len(bridge_comments(sandbox, 101))
    move(dev, escalated, "Done", resolution={"name": resolution})
    sync(services)
    assert len(bridge_comments(sandbox, 101)) == before
    assert any(resolution in note for note in bridge_comments(sandbox, 101, public=False))


def test_reopened_bug_tells_customers_work_resumed(sandbox, services, dev, escalated):
    move(dev, escalated, "Done", resolution={"name": "Fixed"})
    sync(services)
    move(dev, escalated, "Reopen")
    sync(services)
    assert "bridge_state_reopened" in sandbox.zendesk_state.ticket(101)["tags"]
    count = len(bridge_comments(sandbox, 101))
    sync(services)
    assert len(bridge_comments(sandbox, 101)) == count


def test_customers_told_of_a_reopening_by_a_failed_sync_hear_of_the_work_next_not_the_reopening_again(
        sandbox, services, dev, escalated):
    """Found by the state machine: a sync told the customers "reopened" and failed (its
    comment on the Bug) before recording the Bug as seen. When work started, the Bug still
    looked reopened since its last recorded sight, and each customer got the reopening's
    words a second time instead of hearing that work started."""
    move(dev, escalated, "Done", resolution={"name": "Fixed"})
    sync(services)
    move(dev, escalated, "Reopen")
    sandbox.zendesk_state.update_ticket(101, {"comment": {"body": "Still broken here.", "public": True}},
                                        sandbox.zendesk_state.ticket(101)["requester_id"])
    sandbox.jira.knobs.update({"fail_next": 1, "fail_status": 500, "fail_methods": ["POST"]})
    assert services.sync_engine().run().exit_code == 1  # told "reopened"; the customer's message failed
    sandbox.jira.knobs.update({"fail_next": 0})
    assert all("bridge_state_reopened" in sandbox.zendesk_state.ticket(t)["tags"] for t in TICKETS)
    reopened = {t: bridge_comments(sandbox, t)[-1] for t in TICKETS}

    move(dev, escalated, "In Progress")
    sync(services)
    for t in TICKETS:
        told = bridge_comments(sandbox, t)
        assert told[-2] == reopened[t] and told[-1] != reopened[t]
        assert "bridge_state_in_progress" in sandbox.zendesk_state.ticket(t)["tags"]
    assert "working on a fix" in bridge_comments(sandbox, 101)[-1]


def test_jira_comments_become_internal_notes_and_marked_ones_public_replies(sandbox, services, dev, escalated):
    dev.add_comment(escalated, "Root cause: a race in the CSV writer. See https://acme.sentry.io/issues/4505/")
    dev.add_comment(escalated, "[customer] A fix is on its way; thank you for your patience.")
    dev.add_comment(escalated, "[customer] restricted, must stay internal",
                    visibility={"type": "role", "value": "Developers"})
    before = len(bridge_comments(sandbox, 101))
    sync(services)

    notes = bridge_comments(sandbox, 101, public=False)
    assert any("Root cause: a race in the CSV writer" in n for n in notes)
    assert not any("sentry" in n.lower() for n in notes)  # the gate cleaned the note
    replies = bridge_comments(sandbox, 101)
    assert len(replies) == before + 1
    assert replies[-1].strip() == "A fix is on its way; thank you for your patience."
    assert not any("restricted, must stay internal" in r for r in replies)

    sync(services)
    assert len(bridge_comments(sandbox, 101)) == before + 1
    assert len(bridge_comments(sandbox, 101, public=False)) == len(notes)


def test_customer_messages_reach_the_bug_redacted_and_are_not_echoed(sandbox, services, escalated):
    customer = sandbox.zendesk_state.ticket(101)["requester_id"]
    sandbox.zendesk_state.update_ticket(101, {"comment": {"body": "Still broken. Call me on +1 415 555 0199 or mail jo@acme.example",
                                                           "public": True}}, customer)
    sync(services)
    comments = sandbox.jira_state.comments(escalated)
    mirrored = [c["body"] for c in comments if "The customer wrote" in c["body"]]
    assert len(mirrored) == 1
    assert "Still broken" in mirrored[0]
    assert "415 555 0199" not in mirrored[0] and "jo@acme.example" not in mirrored[0]
    notes_before = len(bridge_comments(sandbox, 101, public=False))
    sync(services)
    # The mirrored comment is the bridge's own: not mirrored back as a note, not re-posted.
    assert len([c for c in sandbox.jira_state.comments(escalated) if "The customer wrote" in c["body"]]) == 1
    assert len(bridge_comments(sandbox, 101, public=False)) == notes_before


def test_change_in_the_minute_before_sync_by_a_user_in_another_time_zone_is_not_lost(sandbox, services, dev, escalated):
    sync(services)
    move(dev, escalated, "In Progress")  # dev's profile zone is Europe/Berlin; the bridge's is UTC
    sync(services)
    assert "bridge_state_in_progress" in sandbox.zendesk_state.ticket(101)["tags"]


def test_lagging_search_does_not_lose_a_change(sandbox, services, dev, escalated):
    sync(services)
    sandbox.jira_state.search_lag_s = 30
    move(dev, escalated, "In Progress")
    sync(services)  # search does not show the change yet
    sandbox.jira_state.search_lag_s = 0
    sync(services)  # the lookback finds it
    assert "bridge_state_in_progress" in sandbox.zendesk_state.ticket(101)["tags"]


def test_a_failing_ticket_does_not_stop_the_others_and_is_retried(sandbox, services, dev, escalated):
    before = {t: len(bridge_comments(sandbox, t)) for t in TICKETS}
    move(dev, escalated, "In Progress")
    # Zendesk refuses the next write with a 500 (after retries): one ticket fails.
    sandbox.zendesk.knobs.update({"fail_next": 4, "fail_status": 500, "fail_methods": ["PUT"]})
    report = services.sync_engine().run()
    assert report.exit_code == 1 and report.failures
    told = [t for t in TICKETS if "bridge_state_in_progress" in sandbox.zendesk_state.ticket(t)["tags"]]
    assert len(told) < len(TICKETS)  # at least one ticket's write failed ...
    assert services.store.cursors.get("sync:jira:retry") != "[]"  # ... and its Bug is retried
    sandbox.zendesk.knobs.update({"fail_next": 0})
    sync(services)
    for ticket in TICKETS:
        assert len(bridge_comments(sandbox, ticket)) == before[ticket] + 1
        assert "bridge_state_in_progress" in sandbox.zendesk_state.ticket(ticket)["tags"]


def test_a_message_sent_but_not_recorded_is_not_sent_again(sandbox, services, dev, escalated):
    before = {t: len(bridge_comments(sandbox, t)) for t in TICKETS}
    move(dev, escalated, "In Progress")
    # The write is applied, then the connection drops: the bridge cannot know it landed.
    sandbox.zendesk.knobs.update({"fail_next": 1, "fail_mode": "drop", "fail_after_apply": True, "fail_methods": ["PUT"]})
    services.sync_engine().run()
    sandbox.zendesk.knobs.update({"fail_next": 0, "fail_after_apply": False, "fail_mode": "error"})
    sync(services)
    for ticket in TICKETS:
        assert len(bridge_comments(sandbox, ticket)) == before[ticket] + 1


def test_dry_run_writes_nothing(sandbox, services, dev, escalated):
    move(dev, escalated, "In Progress")
    sandbox.zendesk.knobs.reset_counters()
    sandbox.jira.knobs.reset_counters()
    report = services.sync_engine().run(dry_run=True)
    assert report.outcomes and all(o.result == "planned" for o in report.outcomes)
    assert [e for e in sandbox.zendesk.knobs.received() if e.method != "GET"] == []
    # Every method that can write (POST, PUT, PATCH, DELETE), except JIRA's POSTed searches.
    assert [f"{e.method} {e.path}" for e in sandbox.jira.knobs.received()
            if e.method != "GET" and not (e.method == "POST" and "search" in e.path)] == []
    assert services.store.audit.entries() == [] or all(a.action != "sync" for a in services.store.audit.entries())


def test_a_second_sync_on_the_same_store_skips_while_the_first_holds_the_lease(services, escalated):
    first = services.sync_engine(holder="first")
    assert services.store.leases.acquire("sync", "first", first.lease_ttl)
    report = services.sync_engine(holder="second").run()
    assert report.skipped and "first" in report.skipped
    services.store.leases.release("sync", "first")
    assert services.sync_engine(holder="second").run().skipped is None


def test_one_search_not_one_request_per_escalation(sandbox, services, dev, escalated):
    sync(services)
    sandbox.jira.knobs.reset_counters()
    sync(services)
    counts = sandbox.jira.knobs.counts()["by_route"]
    reads = {route: n for route, n in counts.items() if route.startswith("GET")}
    assert sum(n for route, n in reads.items() if "/issue/" in route) == 0
    assert sum(n for route, n in counts.items() if "search" in route) == 1


def test_announcements_to_many_tickets_are_one_bulk_read_and_one_bulk_write(sandbox, services, dev, escalated):
    sync(services)
    move(dev, escalated, "In Progress")
    sandbox.zendesk.knobs.reset_counters()
    sync(services)
    counts = sandbox.zendesk.knobs.counts()["by_route"]
    assert counts.get("PUT /api/v2/tickets/update_many.json") == 1
    # No read before writing: the tickets have not changed since the bridge's own last write,
    # so their versions, markers and subjects are the store's (the write is conditional on
    # that version). One bulk read after writing, for the versions the writes left.
    assert counts.get("GET /api/v2/tickets/show_many.json") == 1
    assert counts.get("GET /api/v2/job_statuses/show_many.json", 0) >= 1
    assert not any(route.startswith("GET /api/v2/job_statuses/<") for route in counts)
    assert not any(route.startswith("GET /api/v2/tickets/<int:ticket_id>") for route in counts)
    assert not any(route.startswith("PUT /api/v2/tickets/<int:ticket_id>") for route in counts)
    # The read after writing wants the versions and views only: the tickets without their
    # requesters and organisations (a real page of a hundred carries a hundred customers),
    # with each one's last audit (was the bridge the last to change it?).
    (read_back,) = sandbox.zendesk.knobs.received("GET", "tickets/show_many")
    assert read_back.query.endswith("include=last_audits") and "ids=" in read_back.query
    for ticket in TICKETS:
        raw = sandbox.zendesk_state.ticket(ticket)
        assert "bridge_state_in_progress" in raw["tags"]
        known = ticket_from_view(services.store.links.get("zendesk", str(ticket)))
        assert known is not None and known.version == raw["updated_at"]
        assert (known.subject, known.status, set(known.tags)) == (raw["subject"], raw["status"], set(raw["tags"]))


def test_a_ticket_changed_behind_the_stores_view_is_read_and_written_afresh_and_told_once(
        sandbox, services, dev, escalated):
    """The store's view of ticket 104 is stale (an agent changed it within the minute the
    export leaves out): the write made on the stored version answers a conflict, so 104 is
    read and written again; the others are written on their stored versions unread."""
    sync(services)
    sandbox.zendesk_state.export_skips_last_minute = True
    agent = sandbox.zendesk_state.user_by_email("frank@example.com")["id"]
    sandbox.zendesk_state.update_ticket(104, {"subject": "Exports fail (since Monday)",
                                              "additional_tags": ["vip"]}, agent)
    before = {t: len(bridge_comments(sandbox, t)) for t in TICKETS}
    move(dev, escalated, "In Progress")
    sandbox.zendesk.knobs.reset_counters()
    sync(services)
    counts = sandbox.zendesk.knobs.counts()["by_route"]
    assert counts.get("GET /api/v2/tickets/<int:ticket_id>.json") == 1  # 104, after its conflict
    assert {t: len(bridge_comments(sandbox, t)) for t in TICKETS} == {t: before[t] + 1 for t in TICKETS}
    ticket = sandbox.zendesk_state.ticket(104)
    assert "bridge_state_in_progress" in ticket["tags"] and "vip" in ticket["tags"]
    sandbox.zendesk_state.export_skips_last_minute = False
    sync(services)
    assert {t: len(bridge_comments(sandbox, t)) for t in TICKETS} == {t: before[t] + 1 for t in TICKETS}


def test_a_customer_message_hidden_by_the_export_lag_is_still_mirrored_later(sandbox, services, dev, escalated):
    """Zendesk's export leaves out the last minute: the ticket is first read by a later sync,
    after the bridge has written to it again. The message must still reach the Bug."""
    sandbox.zendesk_state.export_skips_last_minute = True
    customer = sandbox.zendesk_state.ticket(104)["requester_id"]
    sandbox.zendesk_state.update_ticket(104, {"comment": {"body": "Any news?", "public": True}}, customer)
    move(dev, escalated, "In Progress")
    sync(services)  # announces to 104; the export does not show 104's message yet
    assert not [c for c in sandbox.jira_state.comments(escalated) if "Any news?" in c["body"]]
    sandbox.zendesk_state.export_skips_last_minute = False
    sync(services)
    assert len([c for c in sandbox.jira_state.comments(escalated) if "Any news?" in c["body"]]) == 1


def test_the_bridges_own_writes_are_not_read_back_on_the_next_run(sandbox, services, dev, escalated):
    sync(services)
    move(dev, escalated, "In Progress")
    sync(services)
    sandbox.zendesk.knobs.reset_counters()
    sync(services)  # the export reports the three tickets the bridge wrote; nothing else changed
    counts = sandbox.zendesk.knobs.counts()["by_route"]
    assert not any(route.startswith("GET /api/v2/tickets/<int:ticket_id>") for route in counts), counts


def test_a_related_sentry_issue_regressing_after_the_fix_is_told_to_engineering_once_and_flagged(
        sandbox, services, dev, escalated):
    # Ticket 101's internal note names Sentry issue 4505 (BACKEND-1A2): escalate filed its Task.
    row = services.store.escalations.by_key(escalated)
    [task] = services.store.tasks.of(row.id)
    assert task.sentry_short_id == "BACKEND-1A2"
    move(dev, escalated, "Done", resolution={"name": "Fixed"})
    sandbox.sentry_state.update_issue(4505, {"status": "resolved"})
    sync(services)
    sync(services)
    assert not [c for c in sandbox.jira_state.comments(escalated) if "unresolved again" in c["body"]]

    sandbox.sentry_state.update_issue(4505, {"status": "unresolved", "substatus": "regressed"})
    sync(services)
    sync(services)
    told = [c for c in sandbox.jira_state.comments(escalated) if "unresolved again" in c["body"]]
    assert len(told) == 1 and "BACKEND-1A2" in told[0]["body"]
    assert services.status_rows(escalated)[0]["sentry_regressions"] == ["BACKEND-1A2"]
    # Customers hear nothing of it.
    for ticket in TICKETS:
        said = bridge_comments(sandbox, ticket) + bridge_comments(sandbox, ticket, public=False)
        assert not any("BACKEND" in body or "unresolved again" in body for body in said)

    sandbox.sentry_state.update_issue(4505, {"status": "resolved"})
    sync(services)
    assert services.status_rows(escalated)[0]["sentry_regressions"] == []


def test_regression_action_reopen_reopens_the_task(sandbox, bridge_env, dev, escalated, tmp_path):
    from bridge.config import load_config
    from bridge.services import Services

    mappings = tmp_path / "mappings-reopen"
    mappings.mkdir()
    (mappings / "default.yaml").write_text("sentry:\n  regression_action: reopen\n")
    services = Services(load_config(None, env={**bridge_env, "BRIDGE_MAPPINGS_DIR": str(mappings)}))
    task_key = services.store.tasks.of(services.store.escalations.by_key(escalated).id)[0].jira_key
    dev.transition_issue(task_key, "Done", fields={"resolution": {"name": "Fixed"}})
    move(dev, escalated, "Done", resolution={"name": "Fixed"})
    sandbox.sentry_state.update_issue(4505, {"status": "resolved"})
    sync(services)
    sandbox.sentry_state.update_issue(4505, {"status": "unresolved", "substatus": "regressed"})
    sync(services)
    assert sandbox.jira_state.issue(task_key)["fields"]["status"]["statusCategory"]["key"] != "done"


def test_watch_runs_again_and_waits_longer_after_failing_runs():
    from bridge.sync.engine import SyncReport
    from bridge.sync.watch import watch

    outcomes = iter([1, 1, 0, 1])
    waits: list[float] = []
    runs: list[int] = []

    def run_once():
        code = next(outcomes)
        runs.append(code)
        return SyncReport(failures=[("t", "boom")] if code else [])

    watch(run_once, every=10, sleep=waits.append, stop=lambda: len(runs) == 4)
    assert waits == [20, 40, 10]


def test_a_pass_collects_its_own_garbage_not_the_whole_heap(sandbox, services, dev, escalated):
    import gc

    from bridge.heap import PASS_GEN0_THRESHOLD
    from tests.fixtures.collector import wait_until_no_pass_runs

    wait_until_no_pass_runs()
    move(dev, escalated, "In Progress")
    during = []

    def progress(items):
        during.append((gc.get_threshold()[0], gc.get_freeze_count()))
        return items

    before = gc.get_threshold()
    report = services.sync_engine().run(progress=progress)
    assert report.exit_code == 0 and report.examined == 1
    assert during and during[0][0] >= PASS_GEN0_THRESHOLD and during[0][1] > 0
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
