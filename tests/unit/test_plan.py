"""The sync planner: examples for each branch, and properties over random JIRA histories."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.mapping import load_mappings
from bridge.models import Issue, Version
from bridge.sync.plan import (Announce, CommentOnBug, CustomerMessage, InternalNote, JiraComment, PublicReply,
                              Rules, Seen, TicketView, plan, signature, state_key)

MAPPINGS = load_mappings()
RULES = Rules(status_rule_for=MAPPINGS.status_rule_for, redact=lambda t: t.replace("secret@x.example", "[email]"))


def bug(status="To Do", category="new", resolution=None, versions=()) -> Issue:
    return Issue(id="10001", key="SUP-1", summary="s", issue_type="Bug", status=status,
                 status_category=category, priority="High", resolution=resolution, fix_versions=tuple(versions))


def ticket(tid="101", last=None, locale="en-US", **kw) -> TicketView:
    return TicketView(helpdesk="zendesk", ticket_id=tid, locale=locale, last_announced=last, **kw)


IN_PROGRESS = bug("In Progress", "indeterminate")
IN_QA = bug("In QA", "indeterminate")
UNRELEASED = Version(id="1", name="2.4.0", released=False, release_date="2026-12-01")
RELEASED = Version(id="1", name="2.4.0", released=True, release_date="2026-12-01")


def test_to_do_announces_nothing():
    assert plan(issue=bug(), comments=[], tickets=[ticket()], last_seen=None, rules=RULES) == []


def test_in_progress_is_announced_to_every_ticket_in_its_locale():
    actions = plan(issue=IN_PROGRESS, comments=[], tickets=[ticket("101"), ticket("104", locale="de")],
                   last_seen=signature(bug()), rules=RULES)
    assert [(a.ticket_id, a.template, a.locale, a.helpdesk_status) for a in actions] == [
        ("101", "in_progress", "en-US", "open"), ("104", "in_progress", "de", "open")]


def test_a_ticket_already_told_the_current_state_gets_nothing():
    assert plan(issue=IN_PROGRESS, comments=[], tickets=[ticket(last="in_progress")],
                last_seen=signature(IN_PROGRESS), rules=RULES) == []


def test_a_ticket_left_behind_by_a_failed_run_converges_even_if_the_bug_came_back():
    """The Bug went In Progress → In QA → In Progress; a failed run told the tickets
    'in_qa' but did not record the Bug as seen. Now it is In Progress again."""
    [action] = plan(issue=IN_PROGRESS, comments=[], tickets=[ticket(last="in_qa")],
                    last_seen=signature(IN_PROGRESS), rules=RULES)
    assert action.state == "in_progress"


def test_a_ticket_already_told_is_skipped():
    actions = plan(issue=IN_QA, comments=[], tickets=[ticket("101", last="in_qa"), ticket("104")],
                   last_seen=signature(IN_PROGRESS), rules=RULES)
    assert [a.ticket_id for a in actions] == ["104"]


def test_fix_ready_then_released_carry_the_version():
    done = bug("Done", "done", "Fixed", [UNRELEASED])
    [ready] = plan(issue=done, comments=[], tickets=[ticket()], last_seen=signature(IN_QA), rules=RULES)
    assert (ready.template, ready.context["version"], ready.context["release_date"]) == ("fix_ready", "2.4.0", "2026-12-01")
    shipped = bug("Done", "done", "Fixed", [RELEASED])
    [released] = plan(issue=shipped, comments=[], tickets=[ticket(last=ready.state)], last_seen=signature(done), rules=RULES)
    assert (released.template, released.helpdesk_status) == ("released", "solved")
    assert released.state == "released:2.4.0"


def test_closed_without_a_fix_is_an_internal_note():
    [note] = plan(issue=bug("Done", "done", "Won't Fix"), comments=[], tickets=[ticket()],
                  last_seen=signature(IN_PROGRESS), rules=RULES)
    assert isinstance(note, InternalNote) and "Won't Fix" in note.body


def test_reopened_is_its_own_message_and_is_not_followed_by_in_progress():
    done = bug("Done", "done", "Fixed")
    [reopen] = plan(issue=IN_PROGRESS, comments=[], tickets=[ticket(last="fix_ready")], last_seen=signature(done),
                    rules=RULES)
    assert (reopen.template, reopen.state) == ("reopened", "in_progress")
    assert plan(issue=IN_PROGRESS, comments=[], tickets=[ticket(last=reopen.state)], last_seen=signature(IN_PROGRESS),
                rules=RULES) == []
    [to_do] = plan(issue=bug(), comments=[], tickets=[ticket(last="fix_ready")], last_seen=signature(done), rules=RULES)
    assert (to_do.template, to_do.state) == ("reopened", "reopened")
    assert plan(issue=bug(), comments=[], tickets=[ticket(last="reopened")], last_seen=signature(bug()), rules=RULES) == []


def test_a_ticket_told_of_the_reopening_hears_the_current_state_in_its_own_words_next():
    """A run told the ticket 'reopened' and could not record the Bug as seen; now the Bug is
    In Progress and still looks reopened since its last recorded sight. That ticket hears
    that work started; one not yet told of the reopening hears the reopening."""
    done = bug("Done", "done", "Fixed")
    actions = plan(issue=IN_PROGRESS, comments=[], tickets=[ticket("101", last="reopened"),
                                                             ticket("104", last="fix_ready")],
                   last_seen=signature(done), rules=RULES)
    assert [(a.ticket_id, a.template, a.state, a.context["status"]) for a in actions] == [
        ("101", "in_progress", "in_progress", "in_progress"), ("104", "reopened", "in_progress", "reopened")]


def test_comments_become_notes_marked_ones_replies_and_the_bridges_own_are_ignored():
    comments = [
        JiraComment("3", "[customer] Fixed next week.", "Dev", public=True),
        JiraComment("2", "internal detail", "Dev", public=True),
        JiraComment("4", "[customer] but restricted", "Dev", public=False),
        JiraComment("5", "The customer wrote ... [bridge:customer:zendesk:101:9]", "bridge", public=True),
    ]
    actions = plan(issue=IN_PROGRESS, comments=comments, tickets=[ticket(last="in_progress")],
                   last_seen=signature(IN_PROGRESS), rules=RULES)
    kinds = [(type(a).__name__, getattr(a, "body", "")) for a in actions]
    assert kinds == [
        ("InternalNote", "Engineering comment by Dev on SUP-1:\ninternal detail"),
        ("PublicReply", "Fixed next week."),
        ("InternalNote", "Engineering comment by Dev on SUP-1:\n[customer] but restricted"),
    ]


def test_customer_messages_go_to_the_bug_redacted():
    view = ticket(last="in_progress", customer_messages=(CustomerMessage("9", "mail me: secret@x.example"),),
                  reopened_by_customer=True)
    actions = plan(issue=IN_PROGRESS, comments=[], tickets=[view], last_seen=signature(IN_PROGRESS), rules=RULES)
    assert [type(a) for a in actions] == [CommentOnBug, CommentOnBug]
    assert "secret@x.example" not in actions[0].body and "[email]" in actions[0].body
    assert "reopened" in actions[1].body
    assert all("[bridge:" in a.body for a in actions)


# ------------------------------------------------------------------ properties --
STATES = [
    bug(), IN_PROGRESS, IN_QA,
    bug("Done", "done", "Fixed", [UNRELEASED]), bug("Done", "done", "Fixed", [RELEASED]),
    bug("Done", "done", "Won't Fix"), bug("Done", "done", "Fixed"),
]


@settings(max_examples=300)
@given(st.lists(st.sampled_from(STATES), min_size=1, max_size=12), st.integers(min_value=1, max_value=3))
def test_a_run_of_syncs_announces_each_state_change_at_most_once_per_ticket(history, n_tickets):
    """Replaying a JIRA history through plan() with perfect delivery: one message per
    ticket per change of announced state, never two in a row for the same state."""
    last_seen = None
    announced = {str(i): None for i in range(n_tickets)}
    messages = {str(i): [] for i in range(n_tickets)}
    for issue in history:
        for attempt in range(2):  # every state is synced twice: the second sync must be silent
            views = [ticket(t, last=announced[t]) for t in announced]
            actions = plan(issue=issue, comments=[], tickets=views, last_seen=last_seen, rules=RULES)
            if attempt == 1:
                assert [a for a in actions if isinstance(a, Announce)] == []
            for action in actions:
                if hasattr(action, "state"):  # an announcement, or the note standing for one
                    assert announced[action.ticket_id] != action.state
                    announced[action.ticket_id] = action.state
                    messages[action.ticket_id].append(action.state)
            last_seen = signature(issue)
    for sent in messages.values():
        assert all(a != b for a, b in zip(sent, sent[1:]))
        assert len(sent) <= len(history)
    # Converged: every ticket is in the state the final Bug maps to.
    final = plan(issue=history[-1], comments=[], tickets=[ticket(t, last=announced[t]) for t in announced],
                 last_seen=last_seen, rules=RULES)
    assert final == []


@given(st.sampled_from(STATES), st.sampled_from(STATES))
def test_keys_are_unique_per_ticket_and_change(before, after):
    actions = plan(issue=after, comments=[], tickets=[ticket("1"), ticket("2")], last_seen=signature(before), rules=RULES)
    keys = [a.key for a in actions]
    assert len(keys) == len(set(keys))


def test_state_key_names_versions():
    assert state_key("released", bug("Done", "done", "Fixed", [RELEASED])) == "released:2.4.0"
    assert state_key("in_qa", IN_QA) == "in_qa"


@given(st.sampled_from(STATES), st.sampled_from(STATES), st.integers(min_value=0, max_value=3))
def test_the_next_update_is_asked_once_and_only_when_something_is_announced(before, after, tickets):
    """The promise walks the SLA calendar: a plan asks for it once however many tickets it
    announces to, never when it announces nothing, and every announcement carries it."""
    asked = []
    promise = datetime(2026, 12, 4, 9, 0, tzinfo=timezone.utc)
    rules = replace(RULES, next_update=lambda: asked.append(1) or promise)
    actions = plan(issue=after, comments=[], tickets=[ticket(str(t)) for t in range(tickets)],
                   last_seen=signature(before), rules=rules)
    announced = [a for a in actions if isinstance(a, Announce)]
    assert len(asked) == (1 if announced else 0)
    assert all(a.context["next_update"] == promise for a in announced)
    # Asked or not, the plan is the one a planner without a promise makes, but for it.
    plain = plan(issue=after, comments=[], tickets=[ticket(str(t)) for t in range(tickets)],
                 last_seen=signature(before), rules=RULES)
    assert [a.key for a in plain] == [a.key for a in actions]
    assert all(a.context["next_update"] is None for a in plain if isinstance(a, Announce))
