"""The board speaks one language over loopback HTTP: every time it shows is in its one format
(``2026-12-04 04:22 UTC``, never a raw ISO 8601 time), and every write on an escalation's
timeline has a friendly name, the refile's (`bridge escalate --refile`) included."""

from __future__ import annotations

import html
import re

import requests
from click.testing import CliRunner

from bridge import actions
from bridge.board import accounts, timeline
from bridge.cli import main
from tests.board.conftest import csrf_of
from tests.board.test_pages import escalate_through_form

#: The board's one format for a time.
BOARD_TIME = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC"
#: A time as ISO 8601 writes it (``2026-12-04T04:22``, with or without seconds and offset).
RAW_ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def shown_text(page: str) -> str:
    """What the page shows apart from messages quoted exactly as sent (``<pre class="message">``:
    a message's own text is never rewritten) and the ``<head>``."""
    body = page.split("<body", 1)[-1]
    body = re.sub(r'<pre class="message">.*?</pre>', "", body, flags=re.DOTALL)
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


def test_every_time_on_the_escalation_and_plan_pages_is_in_the_board_format(board, sandbox):
    session = board.signed_in()
    token = csrf_of(session.get(f"{board.url}/escalations/new", timeout=10).text)
    plan = session.post(f"{board.url}/escalations/new", data={"ticket": "101", "csrf_token": token}, timeout=60)
    assert plan.status_code == 200, plan.text
    plan_text = " ".join(shown_text(plan.text).split())
    assert re.search(rf"First response due ({BOARD_TIME}|—)", plan_text), plan_text
    assert re.search(rf"Next update due ({BOARD_TIME}|—)", plan_text), plan_text
    facts = plan.text.split('<dl class="facts">', 1)[1].split("</dl>", 1)[0]
    assert not RAW_ISO.search(facts), facts

    path = escalate_through_form(board, session, "101")
    page = session.get(f"{board.url}{path}", timeout=10)
    assert page.status_code == 200
    text = " ".join(shown_text(page.text).split())
    # The SLA line: the audit found "next update due 2026-12-04T04:22:56.337121+00:00" here.
    assert re.search(rf"next update due {BOARD_TIME}", text), text
    assert re.search(rf"first response due {BOARD_TIME}", text), text
    # The timeline's "First response target met" says when it was due, in the same format.
    assert re.search(rf"First response target (met|missed) .*?due {BOARD_TIME}", text), text
    raw = RAW_ISO.search(text)
    assert raw is None, text[max(0, raw.start() - 80):raw.end() + 40]
    for when in re.findall(r'<p class="when">(.*?)</p>', page.text):
        assert re.fullmatch(BOARD_TIME, when) or when == "—", when


def test_the_sign_in_throttle_says_until_when_in_the_board_format(board):
    for i in range(accounts.THROTTLE_AFTER):
        _, answer = board.sign_in(password=f"wrong {i}")
    assert answer.status_code == 429
    assert re.search(rf"try again after {BOARD_TIME}\.", shown_text(answer.text)), shown_text(answer.text)


def test_a_refile_and_its_related_tasks_read_as_words_on_the_timeline(board, sandbox, bridge_env):
    session = board.signed_in()
    path = escalate_through_form(board, session, "101")
    [escalation] = board.services.store.escalations.list()
    old = escalation.jira_key
    # What a JIRA admin does; then `bridge escalate 101 --refile` files its successor.
    gone = requests.delete(f"{bridge_env['BRIDGE_JIRA_URL']}/rest/api/2/issue/{old}",
                           auth=(bridge_env["BRIDGE_JIRA_USER"], bridge_env["BRIDGE_JIRA_TOKEN"]), timeout=10)
    assert gone.status_code == 204, gone.text
    refiled = CliRunner().invoke(main, ["escalate", "101", "--refile"], env=bridge_env, catch_exceptions=False)
    assert refiled.exit_code == 0, refiled.output + refiled.stderr
    kinds = {o.kind for o in board.services.store.outbox.list(states=None, escalation_id=escalation.id)}
    assert {"RefileBug", "RelateTask"} <= kinds  # what the timeline is built from

    page = session.get(f"{board.url}{path}", timeout=10)
    assert page.status_code == 200
    titles = [html.unescape(t) for t in re.findall(r'<p class="what"><strong>(.*?)</strong>', page.text)]
    assert "Internal: Bug gone from JIRA refiled as a new Bug" in titles, titles
    assert "Internal: Sentry Task related to the Bug" in titles, titles
    assert "RefileBug" not in page.text and "RelateTask" not in page.text
    # No write reads as a class name (``SomeAction``).
    assert not [t for t in titles if re.search(r"\b[A-Z][a-z]+[A-Z]\w*\b", t)], titles


def test_every_kind_the_outbox_records_has_a_timeline_name():
    """A new action class gets a name on the timeline, not its class name."""
    def kinds(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from kinds(sub)

    abstract = {actions.BugAction, actions.TicketAction}
    names = {c.__name__ for c in kinds(actions.Action) if c not in abstract} | {"RefileBug"}
    named = set(timeline._INTERNAL_NAMES) | set(timeline._CUSTOMER_NAMES)
    assert sorted(names - named) == []
