"""Properties of `bridge escalate` over real HTTP: customer PII never reaches JIRA, and no
value can change the meaning of a JQL query.

One sandbox serves every example (a fresh ticket and a fresh store each), so hypothesis
can try many conversations in a few seconds.
"""

from __future__ import annotations

import itertools
import json
import unicodedata
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.config import load_config
from bridge.connectors.jql import check_label, jql_string
from bridge.errors import InvalidValue
from bridge.escalation import EscalationRequest
from bridge.policy.redact import luhn_valid
from bridge.sandbox.jql import Clause, Value, parse
from bridge.sandbox.world import start_sandbox
from bridge.services import Services
from tests.conftest import ACTOR


@pytest.fixture(scope="module")
def world():
    with start_sandbox(0) as sandbox, tempfile.TemporaryDirectory() as tmp:
        yield sandbox, Path(tmp)


_counter = itertools.count()

local = st.from_regex(r"[a-z][a-z0-9._+-]{1,12}[a-z0-9]", fullmatch=True)
domain = st.from_regex(r"[a-z][a-z0-9-]{1,10}\.(com|de|io|co\.uk|example)", fullmatch=True)
emails = st.builds(lambda l, d: f"{l}@{d}", local, domain)
phones = st.one_of(
    st.from_regex(r"\+1 (415|212|646) 555 0[1-9]\d\d", fullmatch=True),
    st.from_regex(r"\((415|212)\) 555-0[1-9]\d\d", fullmatch=True),
    st.from_regex(r"\+49 30 [1-9]\d{6}", fullmatch=True),
    st.from_regex(r"\+44 20 7[1-9]\d{2} \d{4}", fullmatch=True),
)


def _card(digits: str) -> str:
    """Complete a 15-digit Visa-like prefix with its Luhn check digit; group it as printed."""
    for check in "0123456789":
        if luhn_valid(digits + check):
            number = digits + check
            return " ".join(number[i:i + 4] for i in range(0, 16, 4))
    raise AssertionError("unreachable")


cards = st.from_regex(r"4[0-9]{14}", fullmatch=True).map(_card)  # ASCII: _card checks Luhn
pii = st.one_of(emails, phones, cards)
filler = st.sampled_from(["Hi,", "the export crashes", "please call me at", "or mail", "my card", "thanks!",
                          "It started after the update to 2.4.0 on 2026-11-20 at 10:30.", "order 12345"])


@settings(max_examples=25)
@given(subject_pii=pii, items=st.lists(st.tuples(filler, pii), min_size=1, max_size=5))
def test_customer_pii_in_a_conversation_never_reaches_jira(world, subject_pii, items):
    sandbox, tmp = world
    zendesk = sandbox.zendesk_state
    customer = zendesk.user_by_email("alice.adams@acme.example")
    agent = zendesk.user_by_email("erin@example.com")
    first, *rest = [f"{words} {value}" for words, value in items]
    ticket, _ = zendesk.create_ticket({"subject": f"Crash, reach me at {subject_pii}",
                                       "comment": {"body": first, "public": True},
                                       "requester_id": customer["id"], "priority": "high"}, agent["id"])
    for i, body in enumerate(rest):
        zendesk.update_ticket(ticket["id"], {"comment": {"body": body, "public": i % 2 == 0}},
                              customer["id"] if i % 2 == 0 else agent["id"])
    env = {**sandbox.env(), "BRIDGE_STORE_URL": f"sqlite:///{tmp / f'store-{next(_counter)}.db'}",
           "BRIDGE_BRIDGE_ACTOR": ACTOR}
    services = Services(load_config(None, env=env))
    sandbox.jira.knobs.reset_counters()

    result = services.escalator().escalate(EscalationRequest(ticket=str(ticket["id"]), actor=ACTOR))
    assert result.jira_key

    sent_to_jira = "\n".join(entry.body for entry in sandbox.jira.knobs.received())
    assert sent_to_jira  # the Bug really was written
    for value in [subject_pii, *(value for _, value in items)]:
        assert value not in sent_to_jira
        assert value.replace(" ", "") not in sent_to_jira.replace(" ", "") or "@" in value


_FULL_WIDTH = {c: chr(ord(c) + 0xFEE0) for c in "0123456789@.+-()abcdefghijklmnopqrstuvwxyz"}


@st.composite
def disguised(draw, values):
    """A value as a customer's client may mangle it: characters full-width, zero-width
    spaces and joiners between them, a line break where a space was."""
    value = draw(values)
    out = []
    for ch in value:
        if ch in _FULL_WIDTH and draw(st.booleans()):
            ch = _FULL_WIDTH[ch]
        elif ch == " " and draw(st.booleans()):
            ch = draw(st.sampled_from(["\n", "\r\n", "\t"]))
        out.append(ch)
        if draw(st.integers(0, 4)) == 0:
            out.append(draw(st.sampled_from(["\u200b", "\u200c", "\u2060", "\ufeff"])))
    return value, "".join(out)


@settings(max_examples=15)
@given(subject=disguised(st.one_of(emails, phones)), body=disguised(pii))
def test_disguised_pii_in_subject_and_conversation_never_reaches_jira(world, subject, body):
    """The summary is one line of the subject and the description the conversation: what
    either holds in disguise is found as if written plainly."""
    sandbox, tmp = world
    zendesk = sandbox.zendesk_state
    customer = zendesk.user_by_email("alice.adams@acme.example")
    agent = zendesk.user_by_email("erin@example.com")
    ticket, _ = zendesk.create_ticket({"subject": f"Crash, reach me at {subject[1]}",
                                       "comment": {"body": f"or at {body[1]} thanks", "public": True},
                                       "requester_id": customer["id"], "priority": "high"}, agent["id"])
    env = {**sandbox.env(), "BRIDGE_STORE_URL": f"sqlite:///{tmp / f'store-{next(_counter)}.db'}",
           "BRIDGE_BRIDGE_ACTOR": ACTOR}
    sandbox.jira.knobs.reset_counters()
    result = Services(load_config(None, env=env)).escalator().escalate(
        EscalationRequest(ticket=str(ticket["id"]), actor=ACTOR))
    assert result.jira_key
    written = [json.loads(entry.body) for entry in sandbox.jira.knobs.received()
               if entry.method in ("POST", "PUT") and entry.body]
    assert written  # the Bug really was written
    text = "\n".join(json.dumps(w, ensure_ascii=False) for w in written)
    # What a reader of JIRA sees once the disguise is taken off again: no separators.
    seen = "".join(ch for ch in unicodedata.normalize("NFKC", text)
                   if unicodedata.category(ch) != "Cf" and not ch.isspace() and ch not in "-().+\\")
    for value, masked in (subject, body):
        assert masked not in text and value not in text
        bare = "".join(ch for ch in value if not ch.isspace() and ch not in "-().+")
        assert bare not in seen


@given(st.text(max_size=60))
def test_a_quoted_value_is_one_string_literal_whatever_it_holds(value):
    """`1" OR project = X` and every other value stays a single literal in the query."""
    try:
        quoted = jql_string(value)
    except InvalidValue:
        assert any(ord(ch) < 32 for ch in value)  # only control characters are refused
        return
    query = parse(f"labels = {quoted} ORDER BY created ASC")
    assert query.where == Clause(field="labels", op="=", operand=Value(text=value, quoted=True), pos=0)


@pytest.mark.parametrize("label", ['1" OR project = X', "a b", "x' OR 1=1", "bridge-zendesk-1\nOR", ""])
def test_labels_that_could_change_a_query_are_refused_before_any_request(label):
    with pytest.raises(InvalidValue):
        check_label(label)
