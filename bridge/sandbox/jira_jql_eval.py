"""JQL meaning for the JIRA emulator: dates, the field schema, compiling and evaluating queries.

:func:`compile_query` resolves field names and values against a :class:`JqlSchema` the
emulator supplies (which fields exist, which values exist, how a document holds them).
Unknown fields and values raise :class:`JqlValueError` with Jira's wording, once per query —
the per-issue predicate never re-reads the query text. Dates without a zone are read in the
*requesting user's* time zone (``EvalContext.tz``), as Jira does; JQL dates are minute-precise.

Nothing recurses on the query's shape: clauses are compiled in one explicit-stack pass, long
runs of ``OR``/``AND`` become balanced closures (depth log2 n), and a query nested deeper than
:data:`CLOSURE_DEPTH_LIMIT` is evaluated by a flat program with short-circuit jumps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any, Callable, Iterable, Mapping, Protocol, Sequence

from bridge.sandbox.jira_jql_syntax import (
    And, Clause, Empty, Function, ListOperand, Node, Not, Query, Value, fold, parse, render_operand,
)
from bridge.sandbox.jira_jql_tokens import JqlValueError


# -- dates -------------------------------------------------------------------------------

_ABSOLUTE_DATE = re.compile(
    r"(?P<y>\d{4})(?P<sep>[/-])(?P<mo>\d{1,2})(?P=sep)(?P<d>\d{1,2})(?:\s+(?P<h>\d{1,2}):(?P<mi>\d{2}))?")
_PERIOD = re.compile(r"([+-]?)\s*((?:\d+\s*[wdhm]\s*)+)")
_PERIOD_PART = re.compile(r"(\d+)\s*([wdhm])")
_UNIT = {"w": timedelta(weeks=1), "d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}
DATE_FORMATS_HINT = ("Valid formats include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', "
                     "'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'.")


def parse_date(text: str, *, now: datetime, tz: tzinfo, field_name: str = "date") -> datetime:
    """Read a JQL date value as a tz-aware instant.

    Absolute dates carry no zone and are read in ``tz`` (the searching user's profile time
    zone); a bare number is epoch milliseconds; ``-5m``, ``-1h``, ``-2d``, ``-1w``, ``"4w 2d"``
    are relative to ``now``.
    """
    value = text.strip()
    if value.isdigit() and len(value) > 8:
        return datetime.fromtimestamp(int(value) / 1000, tz=timezone.utc)
    match = _ABSOLUTE_DATE.fullmatch(value)
    if match:
        try:
            local = datetime(int(match["y"]), int(match["mo"]), int(match["d"]),
                             int(match["h"] or 0), int(match["mi"] or 0), tzinfo=tz)
        except ValueError:
            pass
        else:
            # Round-trip through UTC so a zoneinfo tz resolves DST offsets for that date.
            return local.astimezone(timezone.utc)
    match = _PERIOD.fullmatch(value)
    if match:
        delta = sum((int(n) * _UNIT[u] for n, u in _PERIOD_PART.findall(match.group(2))), timedelta())
        return now - delta if match.group(1) == "-" else now + delta
    raise JqlValueError(f"Date value '{text}' for field '{field_name}' is invalid. {DATE_FORMATS_HINT}")


# -- schema the emulator provides ---------------------------------------------------------

@dataclass(frozen=True)
class EvalContext:
    """Who searches and when: relative dates and zone-less dates depend on both."""

    now: datetime
    tz: tzinfo = timezone.utc
    user: str | None = None  # the searching user's id, for currentUser()


Doc = Mapping[str, Any]

#: Operators each kind of field accepts.
_OPERATORS = {
    "value": {"=", "!=", "in", "not in", "is", "is not"},
    "ordered": {"=", "!=", "in", "not in", "is", "is not", "<", ">", "<=", ">="},
    "key": {"=", "!=", "in", "not in", "is", "is not", "<", ">", "<=", ">="},
    "date": {"=", "!=", "in", "not in", "is", "is not", "<", ">", "<=", ">="},
    "number": {"=", "!=", "in", "not in", "is", "is not", "<", ">", "<=", ">="},
    "text": {"~", "!~", "is", "is not"},
}


@dataclass(frozen=True)
class JqlField:
    """How one searchable field behaves.

    ``kind``:
      * ``value`` — a set of tokens per issue (status, labels, project...). ``resolve``
        turns a literal into the tokens it stands for, or raises :class:`JqlValueError`.
      * ``ordered`` — like value, plus ``<``/``>`` by ``rank`` (priority).
      * ``key`` — ``(project_key, number)`` per issue; ``resolve`` gives one such tuple.
      * ``date`` — a datetime or None; ``number`` — a float or None; ``text`` — a string
        searched with ``~``.
    ``get`` reads the field from a document; ``sort_key`` orders by it (None = not sortable).
    """

    name: str
    kind: str
    get: Callable[[Doc], Any]
    resolve: Callable[[str], Any] | None = None
    functions: Mapping[str, Callable[[tuple[str, ...], EvalContext], frozenset[str]]] = field(default_factory=dict)
    rank: Callable[[str], int] | None = None
    sort_key: Callable[[Doc], Any] | None = None


class JqlSchema(Protocol):
    """Looks up fields by any of their JQL names (case-insensitive)."""

    def jql_field(self, name: str) -> JqlField | None: ...


# -- compile and evaluate -----------------------------------------------------------------

Predicate = Callable[[Doc], bool]


@dataclass(frozen=True)
class CompiledQuery:
    """A query bound to a schema and a context: match documents, order them."""

    query: Query = field(repr=False)  # a deep AST's repr would recurse
    predicate: Predicate
    sorters: tuple[tuple[Callable[[Doc], Any], bool], ...]
    warnings: tuple[str, ...] = ()

    def matches(self, doc: Doc) -> bool:
        return self.predicate(doc)

    def sort(self, docs: Iterable[Doc], default: Sequence[tuple[Callable[[Doc], Any], bool]] = ()) -> list[Doc]:
        """Order ``docs`` by ORDER BY (or ``default`` when the query has none)."""
        ordered = list(docs)
        # Stable sorts from the least to the most significant key give a multi-key order
        # with a direction per key.
        for key, descending in reversed(self.sorters or tuple(default)):
            ordered.sort(key=key, reverse=descending)
        return ordered


def compile_query(query: Query | str, schema: JqlSchema, ctx: EvalContext, *, strict: bool = True) -> CompiledQuery:
    """Bind ``query`` to ``schema``: every field, operator and value is checked once, here.

    With ``strict=False`` (Data Center's ``validateQuery=false``) unknown values become
    warnings and match nothing instead of failing the search.
    """
    if isinstance(query, str):
        query = parse(query)
    warnings: list[str] = []
    compiler = _Compiler(schema, ctx, strict, warnings)
    predicate = compiler.node(query.where) if query.where is not None else (lambda doc: True)
    sorters = []
    for key in query.order_by:
        spec = compiler.field(key.field)
        if spec.sort_key is None:
            raise JqlValueError(f"Field '{key.field}' does not support sorting.")
        sorters.append((_nulls_last(spec.sort_key), key.descending))
    return CompiledQuery(query, predicate, tuple(sorters), tuple(warnings))


def _both(first: Predicate, second: Predicate) -> Predicate:
    # Nested two-way closures short-circuit without a generator per document.
    return lambda doc: first(doc) and second(doc)


def _either(first: Predicate, second: Predicate) -> Predicate:
    return lambda doc: first(doc) or second(doc)


def _balanced(combine: Callable[[Predicate, Predicate], Predicate],
              compiled: list[tuple[Predicate, int]]) -> tuple[Predicate, int]:
    """Pair predicates up level by level: 2,000 ORs nest 11 closures deep, not 2,000."""
    while len(compiled) > 1:
        paired = [(combine(a, b), max(da, db) + 1) for (a, da), (b, db) in zip(compiled[::2], compiled[1::2])]
        if len(compiled) % 2:
            paired.append(compiled[-1])
        compiled = paired
    return compiled[0]


#: Closures nested deeper than this are not called; the query runs as a :class:`_FlatProgram`.
#: Python's default recursion limit is 1,000 frames, shared with the web server's own.
CLOSURE_DEPTH_LIMIT = 200

_PRED, _JUMP_IF_FALSE, _JUMP_IF_TRUE, _NEGATE = range(4)


class _FlatProgram:
    """A boolean tree as a flat instruction list evaluated in a loop (no recursion).

    AND and OR short-circuit by jumping to the end of their node with the result in the
    accumulator, so a deep query costs no more per document than a wide one.
    """

    def __init__(self, root: Node, leaves: dict[int, Predicate]) -> None:
        code: list[list[Any]] = []
        labels: dict[int, int] = {}
        # Work items: ("node", n) emits n; ("jump", op, label) emits a jump to be patched;
        # ("label", label) marks where a node's code ends; ("negate",).
        work: list[tuple] = [("node", root)]
        next_label = 0
        while work:
            item = work.pop()
            if item[0] == "node":
                current = item[1]
                if isinstance(current, Clause):
                    code.append([_PRED, leaves[id(current)]])
                elif isinstance(current, Not):
                    work.append(("negate",))
                    work.append(("node", current.item))
                else:
                    label, next_label = next_label, next_label + 1
                    op = _JUMP_IF_FALSE if isinstance(current, And) else _JUMP_IF_TRUE
                    work.append(("label", label))
                    for index in range(len(current.items) - 1, -1, -1):
                        work.append(("node", current.items[index]))
                        if index:
                            work.append(("jump", op, label))
            elif item[0] == "jump":
                code.append([item[1], item[2]])
            elif item[0] == "label":
                labels[item[1]] = len(code)
            else:
                code.append([_NEGATE, None])
        for instruction in code:
            if instruction[0] in (_JUMP_IF_FALSE, _JUMP_IF_TRUE):
                instruction[1] = labels[instruction[1]]
        self.code = [tuple(instruction) for instruction in code]

    def __call__(self, doc: Doc) -> bool:
        code, size = self.code, len(self.code)
        acc, pc = False, 0
        while pc < size:
            op, arg = code[pc]
            if op == _PRED:
                acc = bool(arg(doc))
            elif op == _NEGATE:
                acc = not acc
            elif (op == _JUMP_IF_FALSE and not acc) or (op == _JUMP_IF_TRUE and acc):
                pc = arg
                continue
            pc += 1
        return acc


def _nulls_last(sort_key: Callable[[Doc], Any]) -> Callable[[Doc], Any]:
    # An empty value sorts after every value (so first when descending), and values of
    # different issues stay comparable.
    def key(doc: Doc) -> tuple:
        value = sort_key(doc)
        return (1, 0) if value is None else (0, value)
    return key


class _Compiler:
    def __init__(self, schema: JqlSchema, ctx: EvalContext, strict: bool, warnings: list[str]) -> None:
        self.schema, self.ctx, self.strict, self.warnings = schema, ctx, strict, warnings

    def field(self, name: str) -> JqlField:
        spec = self.schema.jql_field(name)
        if spec is None:
            raise JqlValueError(f"Field '{name}' does not exist or you do not have permission to view it.")
        return spec

    def node(self, root: Node) -> Predicate:
        """The predicate for ``root``; clauses are checked left to right, as Jira reports them."""
        # Each node folds to (predicate, depth), where depth is how deeply its closures
        # nest when called.
        leaves: dict[int, Predicate] = {}

        def leaf(clause: Clause) -> tuple[Predicate, int]:
            predicate = self.clause(clause)
            leaves[id(clause)] = predicate
            return predicate, 1

        def branch(current: Node, compiled: list[tuple[Predicate, int]]) -> tuple[Predicate, int]:
            if isinstance(current, Not):
                inner, inner_depth = compiled[0]
                return (lambda doc, inner=inner: not inner(doc)), inner_depth + 1
            return _balanced(_both if isinstance(current, And) else _either, compiled)

        predicate, nesting = fold(root, leaf, branch)
        if nesting <= CLOSURE_DEPTH_LIMIT:
            return predicate
        return _FlatProgram(root, leaves)

    def clause(self, clause: Clause) -> Predicate:
        spec = self.field(clause.field)
        op = clause.op
        if op not in _OPERATORS[spec.kind]:
            raise JqlValueError(f"The operator '{op}' is not supported by the '{clause.field}' field.")
        operand = clause.operand
        get = spec.get
        if isinstance(operand, ListOperand) and op not in ("in", "not in"):
            raise JqlValueError(f"The operator '{op}' does not support the list value '{render_operand(operand)}' "
                                f"for field '{clause.field}'.")
        # EMPTY: "= EMPTY" and "IS EMPTY" mean the same.
        if isinstance(operand, Empty):
            if op in ("is", "="):
                return lambda doc: _is_empty(get(doc))
            if op in ("is not", "!="):
                return lambda doc: not _is_empty(get(doc))
            raise JqlValueError(f"The operator '{op}' does not support searching for EMPTY values.")
        if spec.kind == "text":
            return self.text_clause(spec, clause)
        if op in ("in", "not in"):
            items = operand.items if isinstance(operand, ListOperand) else (operand,)
            wants_empty = any(isinstance(item, Empty) for item in items)
            values = [self.value(spec, clause, item) for item in items if not isinstance(item, Empty)]
            test = self.equality(spec, values)
            if op == "in":
                return lambda doc: test(doc) or (wants_empty and _is_empty(get(doc)))
            # Like Jira, NOT IN and != never match issues where the field is empty.
            return lambda doc: not _is_empty(get(doc)) and not test(doc) and not wants_empty
        value = self.value(spec, clause, operand)
        if op == "=":
            return self.equality(spec, [value])
        if op == "!=":
            test = self.equality(spec, [value])
            return lambda doc: not _is_empty(get(doc)) and not test(doc)
        return self.comparison(spec, op, value)

    # value resolution ------------------------------------------------------------------
    def value(self, spec: JqlField, clause: Clause, operand: Value | Function | Empty) -> Any:
        try:
            if isinstance(operand, Function):
                return self.function(spec, clause, operand)
            assert isinstance(operand, Value)
            if spec.kind == "date":
                return parse_date(operand.text, now=self.ctx.now, tz=self.ctx.tz, field_name=clause.field)
            if spec.kind == "number":
                try:
                    return float(operand.text)
                except ValueError:
                    raise JqlValueError(f"The value '{operand.text}' is an invalid number for the field "
                                        f"'{clause.field}'.") from None
            if spec.resolve is None:
                return frozenset({operand.text.lower()})
            return spec.resolve(operand.text)
        except JqlValueError as exc:
            if self.strict or spec.kind in ("date", "number"):
                raise
            self.warnings.append(str(exc))
            return _NOTHING

    def function(self, spec: JqlField, clause: Clause, fn: Function) -> Any:
        name = fn.name.lower()
        if spec.kind == "date" and name in _DATE_FUNCTIONS:
            return _DATE_FUNCTIONS[name](fn.args, self.ctx)
        for fname, impl in spec.functions.items():
            if fname.lower() == name:
                return impl(fn.args, self.ctx)
        if name in _DATE_FUNCTIONS or any(name == f.lower() for f in _KNOWN_FUNCTIONS):
            raise JqlValueError(f"Function '{fn.name}' cannot be used with the field '{clause.field}'.")
        raise JqlValueError(f"Unable to find JQL function '{fn.name}({', '.join(fn.args)})'.")

    # predicates -------------------------------------------------------------------------
    def equality(self, spec: JqlField, values: list[Any]) -> Predicate:
        get = spec.get
        if spec.kind in ("value", "ordered"):
            wanted: frozenset = frozenset().union(*[v for v in values if v is not _NOTHING]) if values else frozenset()
            if EMPTY_TOKEN in wanted:
                # A value that means "none", like resolution = Unresolved.
                return lambda doc: not get(doc) or not wanted.isdisjoint(get(doc))
            return lambda doc: not wanted.isdisjoint(get(doc) or ())
        wanted_set = {v for v in values if v is not _NOTHING}
        return lambda doc: get(doc) in wanted_set

    def comparison(self, spec: JqlField, op: str, value: Any) -> Predicate:
        compare = _COMPARE[op]
        get = spec.get
        if value is _NOTHING:
            return lambda doc: False
        if spec.kind == "ordered":
            rank = spec.rank
            assert rank is not None
            # A set of tokens resolves to one rank: the value's position in the scheme.
            target = min(rank(token) for token in value)
            return lambda doc: any(compare(rank(token), target) for token in (get(doc) or ()))
        if spec.kind == "key":
            # Keys compare by number within one project only: "key > SUP-5" never matches OPS-9.
            project, number = value

            def in_project(doc: Doc) -> bool:
                current = get(doc)
                return current is not None and current[0] == project and compare(current[1], number)
            return in_project

        def predicate(doc: Doc) -> bool:
            current = get(doc)
            return current is not None and compare(current, value)
        return predicate

    def text_clause(self, spec: JqlField, clause: Clause) -> Predicate:
        operand = clause.operand
        if not isinstance(operand, Value):
            raise JqlValueError(f"The operator '{clause.op}' does not support the value for field '{clause.field}'.")
        matcher = _text_matcher(operand.text)
        get = spec.get
        if clause.op == "~":
            return lambda doc: matcher(get(doc) or "")
        return lambda doc: not _is_empty(get(doc)) and not matcher(get(doc) or "")


#: A token a schema's ``resolve`` returns for a value meaning "no value" (``resolution = Unresolved``).
EMPTY_TOKEN = ""
_NOTHING = object()  # a value that could not be resolved (validateQuery=false): matches nothing


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, (tuple, list, frozenset, set)) and not value)


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda a, b: a < b, ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b,
}

_WORD = re.compile(r"\w+", re.UNICODE)


def _text_matcher(query: str) -> Callable[[str], bool]:
    """Jira's text search, simplified: every term must occur as a word (``term*`` = prefix).

    A query in inner quotes (``summary ~ "\\"exact phrase\\""``) matches the phrase.
    """
    stripped = query.strip()
    if len(stripped) >= 2 and stripped[0] == stripped[-1] == '"':
        phrase = " ".join(_WORD.findall(stripped.lower()))
        return lambda text: phrase in " ".join(_WORD.findall(text.lower()))
    terms = [(t.rstrip("*"), t.endswith("*")) for t in re.findall(r"[\w*]+", query.lower())]
    terms = [(t, prefix) for t, prefix in terms if t]

    def matcher(text: str) -> bool:
        words = set(_WORD.findall(text.lower()))
        for term, prefix in terms:
            if prefix:
                if not any(w.startswith(term) for w in words):
                    return False
            elif term not in words:
                return False
        return bool(terms)
    return matcher


def _day_offset(args: tuple[str, ...]) -> timedelta:
    if not args:
        return timedelta()
    match = _PERIOD.fullmatch(args[0].strip())
    if not match:
        raise JqlValueError(f"The argument '{args[0]}' is not a valid period, e.g. '-1d' or '+2w'.")
    delta = sum((int(n) * _UNIT[u] for n, u in _PERIOD_PART.findall(match.group(2))), timedelta())
    return -delta if match.group(1) == "-" else delta


def _start_of_day(args: tuple[str, ...], ctx: EvalContext) -> datetime:
    local = ctx.now.astimezone(ctx.tz)
    start = datetime(local.year, local.month, local.day, tzinfo=ctx.tz)
    return (start + _day_offset(args)).astimezone(timezone.utc)


def _end_of_day(args: tuple[str, ...], ctx: EvalContext) -> datetime:
    return _start_of_day(args, ctx) + timedelta(days=1) - timedelta(milliseconds=1)


_DATE_FUNCTIONS: dict[str, Callable[[tuple[str, ...], EvalContext], datetime]] = {
    "now": lambda args, ctx: ctx.now,
    "startofday": _start_of_day,
    "endofday": _end_of_day,
}
#: Functions Jira has that only some fields accept (so the error says "cannot be used with").
_KNOWN_FUNCTIONS = ("currentUser", "releasedVersions", "unreleasedVersions", "membersOf")
