"""Sentry issues become JIRA Tasks related to the Bug — never anything on the customer's ticket.

Over real HTTP against the sandbox (JIRA, Zendesk, Sentry emulators) with a real SQLite
store. Assertions read the emulators' state and the request journals: what JIRA holds,
and every body the helpdesk was sent.
"""

from __future__ import annotations

import html
import json
import re
import shutil
from urllib.parse import quote, unquote

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from bridge.cli import main
from bridge.config import load_config
from bridge.connectors.base import TicketWrite
from bridge.escalation import EscalationRequest
from bridge.mapping import packaged_mappings_dir
from bridge.policy.visibility import OutboundRefused
from bridge.sandbox.world import start_sandbox
from bridge.services import Services
from bridge.store.tables import RelatedTask, RelatedTaskLink
from tests.conftest import ACTOR
from tests.fixtures.sentry_sandbox import SentrySandbox

SENTRY_LABEL = "bridge-sentry-4505"


# ------------------------------------------------------------------------ helpers --
def run(env: dict[str, str], *args: str):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def escalate(services, ticket: str, **kwargs):
    return services.escalator().escalate(EscalationRequest(ticket=ticket, actor=ACTOR, **kwargs))


def issues_labelled(sandbox, label: str) -> list[dict]:
    return [i for i in sandbox.jira_state.all_issues() if label in i["fields"].get("labels", [])]


def related_keys(sandbox, key: str) -> list[str]:
    """Keys of the issues ``key`` has a "Relates" link with."""
    links = sandbox.jira_state.issue(key)["fields"].get("issuelinks", [])
    return sorted((link.get("inwardIssue") or link.get("outwardIssue"))["key"]
                  for link in links if link["type"]["name"] == "Relates")


def writes(knobs) -> list:
    return [e for e in knobs.received() if e.method in ("POST", "PUT", "PATCH", "DELETE")]


def sentry_sandbox(sandbox) -> SentrySandbox:
    return SentrySandbox(url=sandbox.sentry.url, state=sandbox.sentry_state, knobs=sandbox.sentry.knobs)


# --------------------------------------------------------------- linking basics --
def test_linking_files_one_task_and_a_second_bug_only_gets_another_relates_link(sandbox, services):
    first = escalate(services, "104")
    second = escalate(services, "102")
    linker = services.sentry_linker

    result = linker.link("BACKEND-1A2", ticket="104", actor=ACTOR)

    tasks = issues_labelled(sandbox, SENTRY_LABEL)
    assert len(tasks) == 1
    task = tasks[0]
    fields = task["fields"]
    stored = sandbox.sentry_state.issue(4505)
    permalink = f"{sandbox.sentry.url}/organizations/acme/issues/4505/"
    assert (result.task_key, result.task_created, result.related) == (task["key"], True, True)
    assert fields["issuetype"]["name"] == "Task" and fields["project"]["key"] == "SUP"
    assert fields["summary"] == f"[Sentry] {stored['title']}"
    for expected in (stored["culprit"], "Level: error", "Events: 12", "users affected: 5", permalink,
                     "First seen:", "last seen:"):
        assert expected in fields["description"]
    remote = sandbox.jira_state.remote_links(task["key"])
    assert [(r["globalId"], r["object"]["url"]) for r in remote] == [(permalink, permalink)]
    assert related_keys(sandbox, task["key"]) == [first.jira_key]
    assert related_keys(sandbox, first.jira_key) == [task["key"]]

    # The same issue again, in another shape: nothing is written anywhere.
    sandbox.jira.knobs.reset_counters()
    again = linker.link("4505", issue_key=first.jira_key, actor=ACTOR)
    assert (again.task_key, again.task_created, again.related) == (task["key"], False, False)
    assert writes(sandbox.jira.knobs) == []

    # A second Bug: the same Task, one more "Relates" link.
    other = linker.link(permalink, issue_key=second.jira_key, actor=ACTOR)
    assert (other.task_key, other.task_created, other.related) == (task["key"], False, True)
    assert len(issues_labelled(sandbox, SENTRY_LABEL)) == 1
    assert related_keys(sandbox, task["key"]) == sorted([first.jira_key, second.jira_key])
    assert len(sandbox.jira_state.remote_links(task["key"])) == 1

    store = services.store
    for bug in (first, second):
        row = store.escalations.by_key(bug.jira_key)
        assert [t.jira_key for t in store.tasks.of(row.id)] == [task["key"]]
    # Nothing about Sentry went to any ticket: the linker never wrote to the helpdesk.
    assert [e for e in writes(sandbox.zendesk.knobs) if "sentry" in e.body.lower()] == []


def test_an_issue_reported_by_the_real_sdk_links_by_url_short_id_and_numeric_id(sandbox, services):
    def crash() -> None:
        {}["customer_currency"]  # noqa: B018

    event_id = sentry_sandbox(sandbox).capture("web", crash, user={"id": "42", "email": "x@customers.example"})
    (issue_id,) = [i for i, issue in sandbox.sentry_state.issues.items() if event_id in issue["event_ids"]]
    short_id = sandbox.sentry_state.short_id(sandbox.sentry_state.issue(issue_id))
    url = f"{sandbox.sentry.url}/organizations/acme/issues/{issue_id}/?project=2"
    bug_a, bug_b = escalate(services, "104").jira_key, escalate(services, "102").jira_key
    linker = services.sentry_linker

    by_url = linker.link(url, issue_key=bug_a, actor=ACTOR)
    by_short = linker.link(short_id.lower(), issue_key=bug_a, actor=ACTOR)
    by_number = linker.link(str(issue_id), issue_key=bug_b, actor=ACTOR)

    assert by_url.task_created and not by_short.task_created and not by_number.task_created
    assert by_url.task_key == by_short.task_key == by_number.task_key
    assert {by_url.sentry_short_id, by_short.sentry_short_id, by_number.sentry_short_id} == {short_id}
    task = sandbox.jira_state.issue(by_url.task_key)
    assert task["fields"]["summary"] == "[Sentry] KeyError: 'customer_currency'"
    assert f"bridge-sentry-{issue_id}" in task["fields"]["labels"]
    assert related_keys(sandbox, by_url.task_key) == sorted([bug_a, bug_b])


def test_a_task_create_that_times_out_after_jira_made_it_still_yields_one_task(sandbox, services):
    bug = escalate(services, "104").jira_key
    # The next POST (the Task's create) is applied, then the connection drops unanswered.
    sandbox.jira.knobs.update({"fail_next": 1, "fail_mode": "drop", "fail_after_apply": True,
                               "fail_methods": ["POST"]})
    result = services.sentry_linker.link("BACKEND-1A2", issue_key=bug, actor=ACTOR)

    tasks = issues_labelled(sandbox, SENTRY_LABEL)
    assert [t["key"] for t in tasks] == [result.task_key]
    assert result.task_created is False  # found by its label, not known from the create's answer
    assert related_keys(sandbox, result.task_key) == [bug]
    assert len(sandbox.jira_state.remote_links(result.task_key)) == 1
    assert services.store.tasks.by_error_issue("4505").state == "created"


def test_a_task_recorded_as_intent_by_a_crashed_run_is_found_not_created_again(sandbox, services):
    bug = escalate(services, "104").jira_key
    linker = services.sentry_linker
    first = linker.link("BACKEND-1A2", issue_key=bug, actor=ACTOR)
    # Simulate a run that died after JIRA made the Task but before the store heard: a new
    # store row in state "intent" for the same Sentry issue.
    with services.store.session() as s:
        for link in s.exec(select(RelatedTaskLink)).all():
            s.delete(link)
        task = s.exec(select(RelatedTask)).one()
        task.state, task.jira_issue_id, task.jira_key = "intent", None, None
        s.add(task)

    again = linker.link("BACKEND-1A2", issue_key=bug, actor=ACTOR)
    assert again.task_key == first.task_key and not again.task_created
    assert len(issues_labelled(sandbox, SENTRY_LABEL)) == 1
    assert related_keys(sandbox, first.task_key) == [bug]
    assert services.store.tasks.by_error_issue("4505").jira_key == first.task_key


# -------------------------------------------------------------------- the CLI --
def test_link_sentry_on_an_unescalated_ticket_exits_2_and_writes_nothing_anywhere(sandbox, bridge_env, services):
    result = run(bridge_env, "link-sentry", "BACKEND-1A2", "--ticket", "104", "--json")

    assert result.exit_code == 2
    assert "ticket 104 is not escalated: escalate the ticket first" in result.output
    for service in (sandbox.jira, sandbox.zendesk, sandbox.sentry):
        assert writes(service.knobs) == []
    assert sandbox.sentry.knobs.received() == []  # refused before Sentry was even asked
    assert issues_labelled(sandbox, SENTRY_LABEL) == []
    assert services.store.tasks.all() == []
    assert services.store.escalations.list() == []


def test_link_sentry_needs_exactly_one_target_and_a_valid_reference(bridge_env, sandbox):
    assert run(bridge_env, "link-sentry", "BACKEND-1A2").exit_code == 2
    assert run(bridge_env, "link-sentry", "BACKEND-1A2", "--issue", "SUP-1", "--ticket", "104").exit_code == 2
    bad = run(bridge_env, "link-sentry", "https://globex.sentry.io/issues/4505/", "--issue", "SUP-1")
    assert bad.exit_code == 2 and "globex" in bad.output
    unknown = run(bridge_env, "link-sentry", "BACKEND-ZZZZ", "--issue", "SUP-1")
    assert unknown.exit_code == 2
    for service in (sandbox.jira, sandbox.zendesk, sandbox.sentry):
        assert writes(service.knobs) == []


def test_link_sentry_json_and_status_show_the_related_task(bridge_env, sandbox):
    escalated = json.loads(run(bridge_env, "escalate", "104", "--json").output)
    linked = run(bridge_env, "link-sentry", "WEB-3F", "--ticket", "104", "--json")

    assert linked.exit_code == 0, linked.output
    data = json.loads(linked.output)
    assert data["bug_key"] == escalated["jira_key"] and data["sentry_short_id"] == "WEB-3F"
    assert data["task_created"] is True and data["error"] is None
    assert related_keys(sandbox, data["task_key"]) == [escalated["jira_key"]]

    rows = json.loads(run(bridge_env, "status", "104", "--json").output)
    assert rows[0]["sentry_tasks"] == [{"jira_key": data["task_key"], "sentry_short_id": "WEB-3F",
                                        "sentry_issue_id": "4502", "state": "created"}]
    human = run(bridge_env, "status", "104").output
    assert data["task_key"] in human


# ------------------------------------------------------------ during escalate --
def test_escalate_links_the_conversations_and_the_options_sentry_issues(bridge_env, sandbox):
    # Ticket 101's internal note names https://acme.sentry.io/issues/4505/ and BACKEND-1A2.
    result = run(bridge_env, "escalate", "101", "--sentry", "WEB-3F", "--json")

    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    linked = {t["sentry_short_id"]: t for t in data["sentry_tasks"]}
    assert sorted(linked) == ["BACKEND-1A2", "WEB-3F"]  # 4505 once, though named twice
    assert all(t["error"] is None and t["bug_key"] == data["jira_key"] for t in linked.values())
    assert related_keys(sandbox, data["jira_key"]) == sorted(t["task_key"] for t in linked.values())
    for entry in writes(sandbox.zendesk.knobs):
        assert "sentry" not in entry.body.lower() and "BACKEND-1A2" not in entry.body

    # Again: nothing to do, nothing read from Sentry.
    sandbox.sentry.knobs.reset_counters()
    again = run(bridge_env, "escalate", "101", "--json")
    assert again.exit_code == 0 and json.loads(again.output)["sentry_tasks"] == []
    assert sandbox.sentry.knobs.received() == []


def test_a_sentry_issue_that_cannot_be_linked_does_not_undo_the_escalation(bridge_env, sandbox):
    # Sentry cannot answer (an unknown --sentry issue is refused before anything is written:
    # tests/integration/test_sentry_link_unknown.py); the escalation goes ahead regardless.
    sandbox.sentry.knobs.update({"fail_next": 1000, "fail_status": 503})
    result = run(bridge_env, "escalate", "101", "--sentry", "WEB-3F", "--json")
    sandbox.sentry.knobs.update({"fail_next": 0})

    assert result.exit_code == 1
    data = json.loads(result.output[: result.output.rindex("}") + 1])
    assert data["jira_key"] and data["created"] is True
    failed = [t for t in data["sentry_tasks"] if t["error"]]
    assert [t["reference"] for t in failed] == ["WEB-3F"]
    assert any("WEB-3F" in f and "retries it" in f for f in data["failures"])
    # The escalation stands: Bug, note and acknowledgement are there.
    assert sandbox.jira_state.issue(data["jira_key"])
    assert "bridge_acknowledged" in sandbox.zendesk_state.ticket(101)["tags"]
    # Sentry back: the next sync links it.
    synced = run(bridge_env, "sync", "--json")
    assert synced.exit_code == 0, synced.output
    [row] = json.loads(run(bridge_env, "status", "101", "--json").output)
    assert row["failures"] == [] and [t["sentry_short_id"] for t in row["sentry_tasks"]] == ["WEB-3F"]


def test_a_malformed_sentry_option_exits_2_before_anything_is_written(bridge_env, sandbox):
    result = run(bridge_env, "escalate", "101", "--sentry", "not-a-ref at all")
    assert result.exit_code == 2
    for service in (sandbox.jira, sandbox.zendesk, sandbox.sentry):
        assert writes(service.knobs) == []


# ------------------------------------------- never on a helpdesk: property tests --
KNOWN = {"4505": "BACKEND-1A2", "4502": "WEB-3F"}
UNLINKABLE_SHORT_IDS = ("BACKEND-ZZZ9", "WEB-42")
FILLER = ("Hello", "the", "export", "crashes", "again", "see", "thanks", "please", "report", "on",
          "Windows", "version", "app", "for", "details", "Sentry", "issue", "reports.", "ok,")


class World:
    """One sandbox, store and Services for a whole hypothesis test (examples share them)."""

    def __init__(self, sandbox, services: Services) -> None:
        self.sandbox = sandbox
        self.services = services
        self.sentry_url = sandbox.sentry.url
        self.netloc = sandbox.sentry.url.split("://", 1)[1].lower()
        state = sandbox.zendesk_state
        self.alice = state.user_by_email("alice.adams@acme.example")
        self.erin = state.user_by_email("erin@example.com")

    def new_ticket(self, subject: str, conversation: list[tuple[str, bool]]) -> str:
        state = self.sandbox.zendesk_state
        ticket, _ = state.create_ticket(
            {"subject": subject, "requester_id": self.alice["id"], "priority": "normal",
             "comment": {"body": "The export crashes.", "public": True}}, self.alice["id"])
        for body, public in conversation:
            state.update_ticket(ticket["id"], {"comment": {"body": body, "public": public}}, self.erin["id"])
        return str(ticket["id"])

    def leaks(self, raw: str) -> list[str]:
        """What an independent look finds of a Sentry reference in a body sent to Zendesk."""
        found = []
        for text in (raw, unquote(unquote(html.unescape(raw))).replace("\\/", "/")):
            low = text.lower()
            if "sentry.io" in low or "sentry[.]io" in low:
                found.append("a sentry.io host")
            if self.netloc in low:
                found.append("the self-hosted Sentry")
            for short in (*KNOWN.values(), *UNLINKABLE_SHORT_IDS):
                if re.search(rf"(?<![\w-]){re.escape(short.lower())}(?![\w])", low):
                    found.append(short)
            for number in KNOWN:
                if re.search(rf"(?<!\d){number}(?!\d)", text):
                    found.append(number)
        return found

    def sent(self) -> list:
        return [e for e in writes(self.sandbox.zendesk.knobs) if "/tickets" in e.path]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A sandbox whose acknowledgement template itself names Sentry issues in every shape."""
    directory = tmp_path_factory.mktemp("bridge-sentry")
    mappings = directory / "mappings"
    shutil.copytree(packaged_mappings_dir(), mappings)
    with start_sandbox(0) as sandbox:
        ack = mappings / "templates" / "en" / "acknowledgement.txt.j2"
        ack.write_text(
            "Hello, about \"{{ subject }}\": engineering tracks https://acme.sentry.io/issues/4505/ "
            "(BACKEND-1A2, #4505), [the other one](https://us.sentry.io/organizations/acme/issues/4502/), "
            f"<a href=\"{sandbox.sentry.url}/organizations/acme/issues/4505/\">this</a> and WEB-3F.\n"
            "{% if next_update %}You will hear from us by {{ next_update }}.{% endif %}\n"
            + ack.read_text())
        env = {**sandbox.env(), "BRIDGE_STORE_URL": f"sqlite:///{directory / 'bridge.db'}",
               "BRIDGE_BRIDGE_ACTOR": ACTOR, "BRIDGE_MAPPINGS_DIR": str(mappings),
               # Paging is not what this is about; keep every page out of the picture.
               "BRIDGE_PAGER_KIND": "none"}
        services = Services(load_config(None, env=env))
        w = World(sandbox, services)
        # Ticket 101 links 4505 (from its conversation) and 4502: both become known ids.
        escalate(services, "101", sentry=("WEB-3F",))
        assert not w.leaks(" ".join(e.body for e in w.sent()))
        yield w


def ref_shapes(sentry_url: str):
    issue = st.sampled_from(sorted(KNOWN))
    url = st.one_of(
        issue.map(lambda i: f"https://sentry.io/organizations/acme/issues/{i}/"),
        issue.map(lambda i: f"https://acme.sentry.io/issues/{i}/?project=1"),
        st.tuples(st.sampled_from(["us", "de"]), issue).map(
            lambda t: f"https://{t[0]}.sentry.io/organizations/acme/issues/{t[1]}/events/latest/"),
        issue.map(lambda i: f"{sentry_url}/organizations/acme/issues/{i}/"),
        st.just("https://globex.sentry.io/issues/777/"),
        issue.map(lambda i: f"acme.sentry.io/issues/{i}"),
    )
    plain = st.one_of(
        issue.map(KNOWN.get), issue.map(lambda i: KNOWN[i].lower()), issue.map(lambda i: f"#{i}"),
        issue, st.sampled_from(UNLINKABLE_SHORT_IDS),
    )
    wrapped_url = st.tuples(url, st.sampled_from(["plain", "md", "html", "parens", "encoded", "dot"])).map(
        lambda t: {"plain": t[0], "md": f"[details]({t[0]})", "html": f'<a href="{t[0]}">details</a>',
                   "parens": f"({t[0]})", "encoded": quote(t[0], safe=""), "dot": f"{t[0]}."}[t[1]])
    return st.one_of(wrapped_url, plain)


def bodies(sentry_url: str):
    words = st.lists(st.sampled_from(FILLER), max_size=4).map(" ".join)
    part = st.tuples(words, ref_shapes(sentry_url), words).map(lambda t: " ".join(p for p in t if p))
    return st.lists(part, min_size=1, max_size=3).map("\n".join)


# The sandbox's address is known only once it runs; hypothesis needs the strategy before.
# A placeholder stands for it in generated text and is replaced in the test.
SELF = "http://self-hosted.invalid"


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(subject=bodies(SELF).map(lambda text: text.replace("\n", " ")), notes=st.lists(st.tuples(bodies(SELF), st.booleans()), min_size=1, max_size=3))
def test_escalations_whose_conversation_names_sentry_issues_put_none_on_the_ticket(world, subject, notes):
    def real(text: str) -> str:
        return text.replace(SELF, world.sentry_url).replace(quote(SELF, safe=""), quote(world.sentry_url, safe=""))

    # A subject is one line, as helpdesks keep it.
    ticket = world.new_ticket(real(subject), [(real(body), public) for body, public in notes])
    world.sandbox.zendesk.knobs.reset_counters()

    try:
        result = escalate(world.services, ticket)
    except OutboundRefused:
        result = None  # refused: nothing was sent, which the journal shows below

    sent = world.sent()
    for entry in sent:
        assert world.leaks(entry.body) == [], entry.body
    if result is not None:
        # Not vacuous: the internal note and the acknowledgement (subject inside) were sent.
        # One ticket's update, or several tickets' in one update_many.
        bodies = [json.loads(e.body) for e in sent]
        comments = [change.get("comment") for body in bodies
                    for change in ([body["ticket"]] if "ticket" in body else body.get("tickets", []))]
        assert sorted(c["public"] for c in comments if c) == [False, True]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies(SELF), public=st.booleans())
@example(body="see acme.sentry[.]io/issues/4505 for the trace", public=False)
@example(body="header sentry-trace: 0123456789abcdef0123456789abcdef-0123456789abcdef-1", public=True)
def test_every_helpdesk_write_is_cleaned_or_refused_and_a_refused_one_sends_nothing(world, body, public):
    text = body.replace(SELF, world.sentry_url).replace(quote(SELF, safe=""), quote(world.sentry_url, safe=""))
    ticket = world.new_ticket("A ticket", [])
    world.sandbox.zendesk.knobs.reset_counters()

    try:
        world.services.helpdesk.write(ticket, TicketWrite(comment=text, public=public))
    except OutboundRefused as refused:
        assert world.sent() == []
        assert text not in str(refused)  # the refusal names kinds, not the (customer) text
        return
    sent = world.sent()
    if not sent:
        # A body that was nothing but references is empty once cleaned: nothing is sent.
        assert not world.services.gate.clean(text).strip()
        return
    (entry,) = sent
    assert world.leaks(entry.body) == [], entry.body
    assert json.loads(entry.body)["ticket"]["comment"]["public"] is public


def test_doctor_checks_sentry_and_never_prints_the_token(bridge_env):
    ok = run(bridge_env, "doctor")
    assert re.search(r"^ok\s+sentry: .*organization acme", ok.output, re.M), ok.output
    assert re.search(r"^ok\s+monitoring: off", ok.output, re.M)

    canary = "sntrys_canary_1b2c3d4e5f60"
    refused = run({**bridge_env, "BRIDGE_SENTRY_TOKEN": canary}, "doctor")
    assert refused.exit_code != 0
    assert re.search(r"^FAIL sentry: Sentry: .*refused \(401\)", refused.output, re.M), refused.output
    assert canary not in refused.output
