"""A full pass's search looks back over the last run's window (``lookback``): the Bugs that
run went through are listed again. One exactly as a pass last went through it is left
alone (:meth:`bridge.sync.engine.SyncEngine._unchanged`); what can make it matter without
touching the Bug still gets it worked. Over real HTTP against the sandbox.

Also pinned elsewhere: a version released since the last run
(``test_sync.py::test_fixed_with_unreleased_version_then_released``), a linked ticket's
change (``test_sync.py::test_a_customer_message_hidden_by_the_export_lag_is_still_mirrored_later``)
and, here, the retry list.
"""

from __future__ import annotations

from tests.fixtures.bridge_comments import bridge_comments
from tests.integration.test_sync import dev, escalated, move, sync  # noqa: F401 (fixtures)


def test_a_bug_listed_again_as_a_pass_last_saw_it_is_not_worked_again(sandbox, services, dev, escalated):
    move(dev, escalated, "In Progress")
    first = sync(services)
    assert (first.examined, first.unchanged) == (1, 0) and first.outcomes

    again = sync(services)  # the search looks back: the Bug is listed again, unchanged
    assert (again.examined, again.unchanged) == (0, 1)
    assert not again.outcomes  # nothing planned, nothing written

    dev.add_comment(escalated, "Root cause found in the export job.")
    after_change = sync(services)
    assert (after_change.examined, after_change.unchanged) == (1, 0)


def test_a_ticket_linked_without_the_bug_changing_is_still_told_where_the_bug_stands(
        sandbox, services, dev, escalated):
    move(dev, escalated, "In Progress")
    sync(services)
    escalation = services.store.escalations.by_key(escalated)
    before = len(bridge_comments(sandbox, 102))
    # Linked in the store only: nothing touched the Bug, so its "updated" is as last seen.
    services.store.links.add(escalation.id, "zendesk", "102")

    report = sync(services)
    assert (report.examined, report.unchanged) == (1, 0)
    assert "bridge_state_in_progress" in sandbox.zendesk_state.ticket(102)["tags"]
    assert len(bridge_comments(sandbox, 102)) == before + 1

    sync(services)  # reads ticket 102's conversation (the link came with no position in it)
    again = sync(services)
    assert (again.examined, again.unchanged) == (0, 1)
    assert len(bridge_comments(sandbox, 102)) == before + 1


def test_a_bug_on_the_retry_list_is_worked_though_it_is_as_last_seen(sandbox, services, dev, escalated):
    move(dev, escalated, "In Progress")
    sync(services)
    issue_id = services.store.escalations.by_key(escalated).jira_issue_id
    services.store.cursors.set("sync:jira:retry", f'["{issue_id}"]')  # as a failed pass leaves it

    report = sync(services)
    assert (report.examined, report.unchanged) == (1, 0)
    assert services.store.cursors.get("sync:jira:retry") == "[]"
