"""The JQL tokenizer, parser and evaluator of the JIRA emulator (no HTTP: pure logic).

Most tests evaluate against a real seeded ``JiraState`` through ``JiraState.search``, the
same path the HTTP search endpoints take; the property tests use a small schema over plain
documents so hypothesis can throw thousands of queries at the grammar quickly.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.sandbox import jql
from bridge.sandbox.jira import DEMO_LOGINS, JiraState

T0 = datetime(2025, 3, 10, 12, 0, tzinfo=timezone.utc)


# -- tokenizer and parser --------------------------------------------------------------------

def test_parses_boolean_structure_with_precedence_and_order_by():
    query = jql.parse('project = SUP AND labels IN (a, "b c") OR NOT status = Done ORDER BY updated DESC, key')
    assert query.order_by == (jql.SortKey("updated", True), jql.SortKey("key", False))
    assert isinstance(query.where, jql.Or)
    left, right = query.where.items
    assert isinstance(left, jql.And)
    assert left.items[1] == jql.Clause("labels", "in", jql.ListOperand(
        (jql.Value("a"), jql.Value("b c", quoted=True))), pos=18)
    assert right == jql.Not(jql.Clause("status", "=", jql.Value("Done"), pos=46))


def test_keywords_and_symbolic_operators_are_case_insensitive_synonyms():
    words = jql.parse("a = 1 and not (b = 2 or c is not empty) order by a asc")
    symbols = jql.parse("a = 1 && !(b = 2 || c IS NOT EMPTY) ORDER BY a ASC")
    assert jql.render(words) == jql.render(symbols)


def test_operators_parse_to_their_names():
    ops = {"=": "=", "!=": "!=", "<": "<", ">": ">", "<=": "<=", ">=": ">=", "~": "~", "!~": "!~",
           "in": "in", "NOT IN": "not in"}
    for written, name in ops.items():
        operand = "(1)" if "in" in name else "1"
        assert jql.parse(f"f {written} {operand}").where.op == name
    assert jql.parse("f is EMPTY").where == jql.Clause("f", "is", jql.Empty())
    assert jql.parse("f is not null").where.op == "is not"
    assert jql.parse("cf[10100] > 2").where.field == "cf[10100]"


def test_quoted_strings_take_both_quote_characters_and_escapes():
    query = jql.parse(r"""summary ~ 'it\'s "x"' AND labels = "a\\b\u00e9\n" """)
    first, second = query.where.items
    assert first.operand == jql.Value('it\'s "x"', quoted=True)
    assert second.operand == jql.Value("a\\bé\n", quoted=True)


def test_functions_parse_with_arguments():
    clause = jql.parse('updated > startOfDay("-1d") AND fixVersion in releasedVersions(SUP)').where
    assert clause.items[0].operand == jql.Function("startOfDay", ("-1d",))
    assert clause.items[1].operand == jql.Function("releasedVersions", ("SUP",))


@pytest.mark.parametrize("text, message", [
    ("invalid query", "Error in the JQL Query: Expecting operator but got 'query'. The valid operators are "
                      "'=', '!=', '<', '>', '<=', '>=', '~', '!~', 'IN', 'NOT IN', 'IS' and 'IS NOT'. "
                      "(line 1, character 9)"),
    ("status = ", "Error in the JQL Query: Expecting either a value, list or function before the end of the query."),
    ('summary ~ "open', "Error in the JQL Query: The quoted string 'open' has not been completed. (line 1, character 11)"),
    ("a = 1 b = 2", "Error in the JQL Query: Expecting either 'OR' or 'AND' but got 'b'. (line 1, character 7)"),
    ("(a = 1", "Error in the JQL Query: Expecting ')' before the end of the query."),
    ("a = 1 ORDER key", "Error in the JQL Query: Expecting 'BY' but got 'key'. (line 1, character 13)"),
    ("status = and", "Error in the JQL Query: Expecting either a value, list or function but got 'and'. "
                     "You must surround 'and' in quotation marks to use it as a value. (line 1, character 10)"),
    ("a in (1 2)", "Error in the JQL Query: Expecting either ',' or ')' but got '2'. (line 1, character 9)"),
    ("a = b%c", "Error in the JQL Query: The character '%' is a reserved JQL character. You must enclose it "
                "in a string or use the escape '\\u0025' instead. (line 1, character 6)"),
    ("a = 1\nAND = 2", "Error in the JQL Query: Expecting a field name but got '='. (line 2, character 5)"),
])
def test_syntax_errors_carry_jira_message_and_position(text, message):
    with pytest.raises(jql.JqlSyntaxError) as caught:
        jql.parse(text)
    assert str(caught.value) == message


def test_illegal_escape_is_a_syntax_error():
    with pytest.raises(jql.JqlSyntaxError, match=r"'\\q' is an illegal JQL escape sequence"):
        jql.parse(r'summary ~ "a\q"')


@given(st.text())
def test_quoting_any_string_parses_back_to_the_same_value(value):
    clause = jql.parse(f"labels = {jql.quote(value)}").where
    assert clause.operand == jql.Value(value, quoted=True)


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30))
def test_tokenizer_never_fails_with_anything_but_a_jql_error(text):
    try:
        jql.parse(text)
    except jql.JqlSyntaxError as exc:
        assert str(exc).startswith("Error in the JQL Query: ")


# -- evaluation: property tests over a tiny schema ---------------------------------------------

class _LabelSchema:
    """Fields f0..f3 hold label sets; enough to check the boolean algebra."""

    def jql_field(self, name):
        if name.lower() in ("f0", "f1", "f2", "f3"):
            key = name.lower()
            return jql.JqlField(key, "value", lambda doc: doc[key])
        return None


_leaf = st.tuples(st.sampled_from(["f0", "f1", "f2", "f3"]), st.sampled_from(["x", "y"]),
                  st.sampled_from(["=", "!=", "in", "not in", "is empty", "is not empty"]))
_tree = st.recursive(_leaf, lambda children: st.one_of(
    st.tuples(st.just("and"), st.lists(children, min_size=2, max_size=3)),
    st.tuples(st.just("or"), st.lists(children, min_size=2, max_size=3)),
    st.tuples(st.just("not"), children)), max_leaves=8)
_docs = st.fixed_dictionaries({f: st.frozensets(st.sampled_from(["x", "y"])) for f in ("f0", "f1", "f2", "f3")})


def _as_jql(tree) -> str:
    if tree[0] == "and":
        return "(" + " AND ".join(_as_jql(t) for t in tree[1]) + ")"
    if tree[0] == "or":
        return "(" + " OR ".join(_as_jql(t) for t in tree[1]) + ")"
    if tree[0] == "not":
        return f"NOT {_as_jql(tree[1])}"
    field, value, op = tree
    if op.startswith("is"):
        return f"{field} {op.upper()}"
    return f"{field} {op} ({value})" if "in" in op else f"{field} {op} {value}"


def _as_python(tree, doc) -> bool:
    if tree[0] == "and":
        return all(_as_python(t, doc) for t in tree[1])
    if tree[0] == "or":
        return any(_as_python(t, doc) for t in tree[1])
    if tree[0] == "not":
        return not _as_python(tree[1], doc)
    field, value, op = tree
    present = value in doc[field]
    # Jira's rule: != and NOT IN never match an empty field.
    return {"=": present, "in": present, "!=": bool(doc[field]) and not present,
            "not in": bool(doc[field]) and not present, "is empty": not doc[field],
            "is not empty": bool(doc[field])}[op]


@settings(max_examples=200)
@given(_tree, _docs)
def test_random_boolean_trees_evaluate_like_python(tree, doc):
    compiled = jql.compile_query(_as_jql(tree), _LabelSchema(), jql.EvalContext(now=T0))
    assert compiled.matches(doc) == _as_python(tree, doc)


@given(_tree)
def test_render_parses_back_to_the_same_ast(tree):
    query = jql.parse(_as_jql(tree))
    assert jql.parse(jql.render(query)).where == _strip_positions(query.where)


def _strip_positions(node):
    if isinstance(node, (jql.And, jql.Or)):
        return type(node)(tuple(_strip_positions(n) for n in node.items))
    if isinstance(node, jql.Not):
        return jql.Not(_strip_positions(node.item))
    return jql.Clause(node.field, node.op, _requote(node.operand))


def _requote(operand):
    if isinstance(operand, jql.Value):
        return jql.Value(operand.text, quoted=not operand.text.isdigit())
    if isinstance(operand, jql.ListOperand):
        return jql.ListOperand(tuple(_requote(o) for o in operand.items))
    return operand


# -- size and depth: nothing recurses on the query's shape ------------------------------------

@settings(max_examples=150)
@given(_tree, _docs)
def test_deeply_nested_trees_take_the_flat_program_and_agree_with_python(tree, doc):
    # 101 double negations nest the tree past CLOSURE_DEPTH_LIMIT, so the flat program runs.
    text = "NOT NOT " * 101 + "(" + _as_jql(tree) + ")"
    assert jql.depth(jql.parse(text).where) > jql.CLOSURE_DEPTH_LIMIT
    compiled = jql.compile_query(text, _LabelSchema(), jql.EvalContext(now=T0))
    assert compiled.matches(doc) == _as_python(tree, doc)


def _nested(depth: int) -> str:
    """``(f0 = x OR (f1 = y AND (f0 = x OR ...)))``: alternating operators, ``depth`` parentheses deep."""
    text = "f2 = x"
    for level in range(depth):
        text = f"(f{level % 2} = {'y' if level % 2 else 'x'} {'AND' if level % 2 else 'OR'} {text})"
    return text


def _nested_in_python(depth: int, doc) -> bool:
    value = "x" in doc["f2"]
    for level in range(depth):
        value = ("y" in doc["f1"] and value) if level % 2 else ("x" in doc["f0"] or value)
    return value


def _docs_over_f0_f1_f2():
    sets = [frozenset(), frozenset({"x"}), frozenset({"y"}), frozenset({"x", "y"})]
    return [{"f0": a, "f1": b, "f2": c, "f3": frozenset()} for a in sets for b in sets for c in sets]


def test_two_thousand_or_clauses_parse_render_and_evaluate():
    text = " OR ".join(f"f0 = v{i}" for i in range(2000))
    query = jql.parse(text)
    assert isinstance(query.where, jql.Or) and len(query.where.items) == 2000
    assert jql.parse(jql.render(query)).where == _strip_positions_flat(query.where)
    compiled = jql.compile_query(query, _LabelSchema(), jql.EvalContext(now=T0))
    assert compiled.matches({"f0": frozenset({"v1999"})})
    assert compiled.matches({"f0": frozenset({"v0"})})
    assert not compiled.matches({"f0": frozenset({"v2000"})})


def test_four_hundred_nested_parentheses_and_long_not_chains():
    text = _nested(400)
    assert jql.depth(jql.parse(text).where) == 401
    compiled = jql.compile_query(text, _LabelSchema(), jql.EvalContext(now=T0))
    for doc in _docs_over_f0_f1_f2():
        assert compiled.matches(doc) == _nested_in_python(400, doc), doc
    # Parentheses around a single clause add no node, however many there are.
    assert jql.parse("(" * 400 + "f0 = x" + ")" * 400).where == jql.Clause("f0", "=", jql.Value("x"))
    odd = jql.compile_query("NOT " * 3001 + "f0 = x", _LabelSchema(), jql.EvalContext(now=T0))
    assert odd.matches({"f0": frozenset()}) and not odd.matches({"f0": frozenset({"x"})})
    assert jql.render(jql.parse("NOT " * 3000 + "f0 = x")).count("NOT") == 3000


@pytest.mark.parametrize("text, message", [
    ("(" * 400 + "f0 = x" + ")" * 399, "Expecting ')' before the end of the query."),
    ("(" * 3 + "f0 = x" + ")" * 4, "Expecting either 'OR' or 'AND' but got ')'."),
    ("NOT " * 500, "Expecting a field name before the end of the query."),
])
def test_unbalanced_deep_queries_are_syntax_errors(text, message):
    with pytest.raises(jql.JqlSyntaxError) as caught:
        jql.parse(text)
    assert message in str(caught.value)


def _strip_positions_flat(node):
    return type(node)(tuple(jql.Clause(c.field, c.op, _requote(c.operand)) for c in node.items))


# -- dates -----------------------------------------------------------------------------------

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize("text, expected", [
    ("2025/03/10 14:30", datetime(2025, 3, 10, 13, 30, tzinfo=timezone.utc)),
    ("2025-03-10 14:30", datetime(2025, 3, 10, 13, 30, tzinfo=timezone.utc)),
    ("2025/03/10", datetime(2025, 3, 9, 23, 0, tzinfo=timezone.utc)),
    ("2025-07-01", datetime(2025, 6, 30, 22, 0, tzinfo=timezone.utc)),  # summer time: +02:00
    ("1741608000000", datetime(2025, 3, 10, 12, 0, tzinfo=timezone.utc)),
    ("-5m", T0 - timedelta(minutes=5)),
    ("-1h", T0 - timedelta(hours=1)),
    ("-2d", T0 - timedelta(days=2)),
    ("-1w", T0 - timedelta(weeks=1)),
    ("-4w 2d", T0 - timedelta(weeks=4, days=2)),
    ("3d", T0 + timedelta(days=3)),
])
def test_dates_without_zone_are_read_in_the_users_zone(text, expected):
    assert jql.parse_date(text, now=T0, tz=BERLIN) == expected


@pytest.mark.parametrize("text", ["2025-13-01", "yesterday", "10/03/2025", "-5x", "2025-03-10T14:30"])
def test_invalid_dates_answer_jiras_message(text):
    with pytest.raises(jql.JqlValueError, match=rf"Date value '{text}' for field 'updated' is invalid\. Valid formats"):
        jql.parse_date(text, now=T0, tz=BERLIN, field_name="updated")


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1)),
       st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Sydney"]))
def test_absolute_minute_dates_round_trip_in_any_zone(moment, zone):
    tz = ZoneInfo(zone)
    local = moment.replace(second=0, microsecond=0, tzinfo=tz)
    parsed = jql.parse_date(local.strftime("%Y/%m/%d %H:%M"), now=T0, tz=tz)
    # A wall-clock time that does not exist or exists twice (DST) still lands within an hour.
    assert abs(parsed - local.astimezone(timezone.utc)) <= timedelta(hours=1)
    assert parsed.astimezone(tz).strftime("%M") == local.strftime("%M")


# -- evaluation against the emulator's own schema ------------------------------------------

@pytest.fixture
def state() -> JiraState:
    clock = {"now": T0}
    state = JiraState("cloud", base_url="http://sandbox.invalid", clock=lambda: clock["now"])
    state.seed_demo()
    state.test_clock = clock  # type: ignore[attr-defined]
    return state


def _user(state: JiraState, name: str):
    return state.user_by(name=name)


def _create(state: JiraState, summary: str, *, project="SUP", issuetype="Bug", at=None, **fields):
    if at is not None:
        state.test_clock["now"] = at  # type: ignore[attr-defined]
    payload = {"fields": {"project": {"key": project}, "issuetype": {"name": issuetype}, "summary": summary, **fields}}
    return state.create_issue(payload, _user(state, "bridge"), adf=False)


def _keys(state: JiraState, query: str, user: str = "bridge", **kwargs) -> list[str]:
    records, _ = state.search(query, _user(state, user), **kwargs)
    return [r.key for r in records]


def test_fields_and_values_resolve_by_name_or_id_case_insensitively(state):
    _create(state, "Login crash", labels=["Mobile-Crash"], priority={"name": "High"})
    _create(state, "Slow search", issuetype="Task", priority={"name": "Low"})
    assert _keys(state, "PROJECT = sup AND IssueType = bug") == ["SUP-1"]
    assert _keys(state, "project = 10000 AND type = 10002") == ["SUP-2"]
    assert _keys(state, 'labels = "mobile-crash"') == ["SUP-1"]
    assert _keys(state, "priority > Medium") == ["SUP-1"]
    assert _keys(state, "priority <= Medium") == ["SUP-2"]
    assert _keys(state, 'summary ~ "crash"') == ["SUP-1"]
    assert _keys(state, 'text ~ "slow*"') == ["SUP-2"]
    assert _keys(state, "statusCategory = \"To Do\" ORDER BY key ASC") == ["SUP-1", "SUP-2"]
    assert _keys(state, "key = SUP-2 OR id = 10000 ORDER BY key") == ["SUP-1", "SUP-2"]
    assert _keys(state, "key > SUP-1") == ["SUP-2"]


def test_not_equal_and_not_in_skip_issues_where_the_field_is_empty(state):
    _create(state, "labelled", labels=["a"])
    _create(state, "unlabelled")
    assert _keys(state, "labels != b") == ["SUP-1"]
    assert _keys(state, "labels not in (a)") == []
    assert _keys(state, "NOT labels = a") == ["SUP-2"]
    assert _keys(state, "labels is EMPTY") == ["SUP-2"]
    assert _keys(state, "labels = EMPTY") == ["SUP-2"]
    assert _keys(state, "labels in (a, EMPTY) ORDER BY key") == ["SUP-1", "SUP-2"]


def test_resolution_unresolved_and_fix_versions(state):
    bridge = _user(state, "bridge")
    done = _create(state, "done")
    _create(state, "open")
    state.transition(done, {"transition": {"id": "41"}, "fields": {"resolution": {"name": "Fixed"}}}, bridge, adf=False)
    state.edit_issue(done, {"fields": {"fixVersions": [{"name": "2.3.1"}]}}, bridge, adf=False)
    assert _keys(state, "resolution = Unresolved") == ["SUP-2"]
    assert _keys(state, "resolution is EMPTY") == ["SUP-2"]
    assert _keys(state, "resolution = Fixed AND statusCategory = done") == ["SUP-1"]
    assert _keys(state, 'fixVersion = "2.3.1"') == ["SUP-1"]
    assert _keys(state, "fixVersion in releasedVersions()") == ["SUP-1"]
    assert _keys(state, "fixVersion in unreleasedVersions()") == []
    assert _keys(state, "resolved >= -1d") == ["SUP-1"]


def test_dates_in_queries_are_read_in_the_searching_users_time_zone(state):
    # 12:00 UTC is 13:00 in Berlin (dev's zone) and 12:00 for bridge (UTC).
    _create(state, "noon", at=T0)
    assert _keys(state, 'created >= "2025/03/10 12:30"', user="bridge") == []
    assert _keys(state, 'created >= "2025/03/10 12:30"', user="dev") == ["SUP-1"]
    assert _keys(state, 'created < "2025-03-10 13:01"', user="dev") == ["SUP-1"]
    assert _keys(state, "created >= 1741607940000") == ["SUP-1"]
    assert _keys(state, "created > 1741608000000") == []


def test_relative_dates_and_functions_follow_the_clock(state):
    _create(state, "old", at=T0)
    _create(state, "new", at=T0 + timedelta(hours=3))
    assert _keys(state, "updated >= -2h") == ["SUP-2"]
    assert _keys(state, "created <= -3h") == ["SUP-1"]
    assert _keys(state, "created >= startOfDay() ORDER BY created") == ["SUP-1", "SUP-2"]
    assert _keys(state, "created <= now() AND created > startOfDay(-1d) ORDER BY created DESC") == ["SUP-2", "SUP-1"]


def test_order_by_several_keys_with_directions_and_default_order(state):
    _create(state, "b", priority={"name": "Low"})
    _create(state, "a", priority={"name": "High"})
    _create(state, "c", priority={"name": "Low"})
    assert _keys(state, "project = SUP") == ["SUP-3", "SUP-2", "SUP-1"]  # Jira: newest key first
    assert _keys(state, "project = SUP ORDER BY priority DESC, summary DESC") == ["SUP-2", "SUP-3", "SUP-1"]
    assert _keys(state, "project = SUP ORDER BY priority ASC, key ASC") == ["SUP-1", "SUP-3", "SUP-2"]
    assert _keys(state, "ORDER BY summary") == ["SUP-2", "SUP-1", "SUP-3"]


@pytest.mark.parametrize("query, message", [
    ("foo = 1", "Field 'foo' does not exist or you do not have permission to view it."),
    ("project = NOPE", "The value 'NOPE' does not exist for the field 'project'."),
    ("status in (Done, Closed)", "The value 'Closed' does not exist for the field 'status'."),
    ("key = SUP-99", "An issue with key 'SUP-99' does not exist for field 'key'."),
    ("key = banana", "The issue key 'banana' for field 'key' is invalid."),
    ("summary = crash", "The operator '=' is not supported by the 'summary' field."),
    ("labels ~ crash", "The operator '~' is not supported by the 'labels' field."),
    ("updated > yesterday", "Date value 'yesterday' for field 'updated' is invalid."),
    ("project = SUP ORDER BY labels", "Field 'labels' does not support sorting."),
    ("assignee = currentUser() AND status = bogus()", "Unable to find JQL function 'bogus()'."),
])
def test_invalid_fields_values_and_operators_answer_jiras_message(state, query, message):
    with pytest.raises(jql.JqlValueError) as caught:
        state.search(query, _user(state, "bridge"))
    assert str(caught.value).startswith(message)


def test_projects_the_user_cannot_browse_do_not_exist_for_them(state):
    _create(state, "ops task", project="OPS", issuetype="Task")
    assert _keys(state, "project = OPS") == ["OPS-1"]
    with pytest.raises(jql.JqlValueError, match="The value 'OPS' does not exist for the field 'project'"):
        state.search("project = OPS", _user(state, "viewer"))
    assert _keys(state, "issuetype = Task", user="viewer") == []


def test_lenient_validation_turns_unknown_values_into_warnings(state):
    _create(state, "x")
    records, warnings = state.search("project = NOPE OR project = SUP", _user(state, "bridge"), strict=False)
    assert [r.key for r in records] == ["SUP-1"]
    assert warnings == ("The value 'NOPE' does not exist for the field 'project'.",)


def test_current_user_and_custom_fields(state):
    _create(state, "mine", customfield_10100=12, customfield_10104="Enterprise",
            assignee={"accountId": DEMO_LOGINS["dev"].account_id})
    _create(state, "other", customfield_10100=2)
    assert _keys(state, "assignee = currentUser()", user="dev") == ["SUP-1"]
    assert _keys(state, "assignee = dev@example.com") == ["SUP-1"]
    assert _keys(state, "cf[10100] > 5") == ["SUP-1"]
    assert _keys(state, '"Affected customers" <= 2') == ["SUP-2"]
    assert _keys(state, 'cf[10104] ~ enterprise') == ["SUP-1"]
    assert _keys(state, "project = SUP ORDER BY cf[10100] DESC") == ["SUP-1", "SUP-2"]
