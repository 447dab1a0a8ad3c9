"""JQL for the JIRA emulator: a tokenizer, a recursive-descent parser and an evaluator.

The emulator answers searches the way Jira does, so the bridge's queries (labels, status,
``updated >= "yyyy/MM/dd HH:mm"`` windows, ``ORDER BY``) are checked by a real grammar rather
than by string matching. The pipeline is::

    text --tokenize--> tokens --parse--> Query (AST) --compile(schema, ctx)--> CompiledQuery
                                                                                  .matches(doc)
                                                                                  .sort(docs)

* :func:`tokenize` / :func:`parse` know nothing about fields; syntax errors carry Jira's
  message and the 1-based line and character, e.g. ``Error in the JQL Query: Expecting
  operator but got 'query'. ... (line 1, character 9)``.
* :func:`compile_query` resolves field names and values against a :class:`JqlSchema` the
  emulator supplies (which fields exist, which values exist, how a document holds them).
  Unknown fields and values raise :class:`JqlValueError` with Jira's wording, once per
  query — the per-issue predicate never re-reads the query text.
* Dates without a zone are read in the *requesting user's* time zone (``EvalContext.tz``),
  as Jira does; JQL dates are minute-precise.

Grammar (keywords and field names are case-insensitive)::

    query    := [or_expr] [ORDER BY sort (',' sort)*]
    or_expr  := and_expr ((OR | '||') and_expr)*
    and_expr := not_expr ((AND | '&&') not_expr)*
    not_expr := (NOT | '!') not_expr | '(' or_expr ')' | clause
    clause   := field operator operand
    operator := = | != | < | > | <= | >= | ~ | !~ | IN | NOT IN | IS | IS NOT
    operand  := EMPTY | NULL | value | function | '(' operand (',' operand)* ')'
    function := word '(' [value (',' value)*] ')'
    sort     := field [ASC | DESC]
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any, Callable, Iterable, Mapping, Protocol, Sequence

__all__ = [
    "JqlError", "JqlSyntaxError", "JqlValueError", "Token", "tokenize", "parse", "quote",
    "Query", "Clause", "And", "Or", "Not", "Value", "Function", "ListOperand", "Empty",
    "SortKey", "JqlField", "JqlSchema", "EvalContext", "CompiledQuery", "compile_query",
    "parse_date", "render", "EMPTY_TOKEN",
]


# -- errors ------------------------------------------------------------------------------

class JqlError(Exception):
    """A query Jira would refuse with 400; ``str(exc)`` is Jira's message."""


class JqlSyntaxError(JqlError):
    """The text is not JQL. The message carries the position as Jira prints it."""

    def __init__(self, problem: str, position: int | None = None, text: str = "") -> None:
        self.problem = problem
        self.position = position
        if position is None:
            where = ""
        else:
            line = text.count("\n", 0, position) + 1
            column = position - (text.rfind("\n", 0, position) + 1) + 1
            where = f" (line {line}, character {column})"
        super().__init__(f"Error in the JQL Query: {problem}{where}")


class JqlValueError(JqlError):
    """Well-formed JQL naming a field, value, operator or function that is not valid here."""


# -- tokens ------------------------------------------------------------------------------

#: Characters that end an unquoted word (they are operators or punctuation).
_DELIMITERS = set(" \t\r\n\"'=!<>()~,")
#: Characters Jira reserves: they must be quoted or escaped to be used in a value.
_RESERVED = set("+;?|*%^$#[]{}&")
_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "n": "\n", "t": "\t", "r": "\r", " ": " "}
_KEYWORDS = {"and", "or", "not", "in", "is", "empty", "null", "order", "by", "asc", "desc"}
_CUSTOM_FIELD_REF = re.compile(r"cf\[(\d+)\]", re.IGNORECASE)


@dataclass(frozen=True)
class Token:
    """One lexical unit. ``kind`` is WORD, STRING, OP, LPAREN, RPAREN, COMMA, AND, OR, NOT or EOF."""

    kind: str
    text: str  # as written in the query (for error messages)
    value: str  # the unescaped value (for WORD and STRING)
    pos: int  # 0-based offset in the query

    def is_keyword(self, word: str) -> bool:
        return self.kind == "WORD" and self.value.lower() == word

    def describe(self) -> str:
        return self.text


def tokenize(text: str) -> list[Token]:
    """Split JQL into tokens; raises :class:`JqlSyntaxError` on bad quoting or reserved characters."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        start = i
        two = text[i:i + 2]
        if two in ("!=", "<=", ">=", "!~"):
            tokens.append(Token("OP", two, two, start))
            i += 2
        elif two == "&&":
            tokens.append(Token("AND", two, two, start))
            i += 2
        elif two == "||":
            tokens.append(Token("OR", two, two, start))
            i += 2
        elif c in "=<>~":
            tokens.append(Token("OP", c, c, start))
            i += 1
        elif c == "!":
            tokens.append(Token("NOT", c, c, start))
            i += 1
        elif c == "(":
            tokens.append(Token("LPAREN", c, c, start))
            i += 1
        elif c == ")":
            tokens.append(Token("RPAREN", c, c, start))
            i += 1
        elif c == ",":
            tokens.append(Token("COMMA", c, c, start))
            i += 1
        elif c in "\"'":
            value, i = _read_string(text, i)
            tokens.append(Token("STRING", text[start:i], value, start))
        else:
            match = _CUSTOM_FIELD_REF.match(text, i)
            if match:
                # cf[10100] is the one place brackets are part of a name.
                i = match.end()
                tokens.append(Token("WORD", text[start:i], f"cf[{match.group(1)}]", start))
                continue
            chars: list[str] = []
            while i < n and text[i] not in _DELIMITERS:
                ch = text[i]
                if ch in _RESERVED:
                    raise JqlSyntaxError(
                        f"The character '{ch}' is a reserved JQL character. You must enclose it in a "
                        f"string or use the escape '\\u{ord(ch):04x}' instead.", i, text)
                if ch == "\\":
                    decoded, i = _read_escape(text, i, "".join(chars))
                    chars.append(decoded)
                    continue
                chars.append(ch)
                i += 1
            tokens.append(Token("WORD", text[start:i], "".join(chars), start))
    tokens.append(Token("EOF", "", "", n))
    return tokens


def _read_string(text: str, start: int) -> tuple[str, int]:
    quote_char = text[start]
    i = start + 1
    chars: list[str] = []
    while i < len(text):
        c = text[i]
        if c == quote_char:
            return "".join(chars), i + 1
        if c == "\\":
            decoded, i = _read_escape(text, i, "".join(chars))
            chars.append(decoded)
            continue
        chars.append(c)
        i += 1
    raise JqlSyntaxError(f"The quoted string '{''.join(chars)}' has not been completed.", start, text)


def _read_escape(text: str, i: int, so_far: str) -> tuple[str, int]:
    """Decode the escape sequence starting at the backslash at ``i``."""
    nxt = text[i + 1:i + 2]
    if nxt in _ESCAPES:
        return _ESCAPES[nxt], i + 2
    if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", text[i + 2:i + 6] or ""):
        return chr(int(text[i + 2:i + 6], 16)), i + 6
    raise JqlSyntaxError(
        f"'\\{nxt}' is an illegal JQL escape sequence. The valid escape sequences are \\', \\\", "
        "\\t, \\n, \\r, \\\\, '\\ ' and \\uXXXX.", i, text)


def quote(value: str) -> str:
    """Quote any string as a JQL value: wrap in ``"`` and escape ``\\`` and ``"``.

    ``parse`` reads the result back as exactly ``value``, whatever it contains, so values
    coming from tickets can never change a query's meaning.
    """
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# -- AST ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Value:
    """A literal operand; ``quoted`` tells ``"2"`` from ``2`` (epoch millis vs text)."""

    text: str
    quoted: bool = False


@dataclass(frozen=True)
class Function:
    name: str
    args: tuple[str, ...] = ()


@dataclass(frozen=True)
class Empty:
    pass


@dataclass(frozen=True)
class ListOperand:
    items: tuple["Value | Function | Empty", ...]


Operand = Value | Function | Empty | ListOperand


@dataclass(frozen=True)
class Clause:
    field: str
    op: str  # "=", "!=", "<", ">", "<=", ">=", "~", "!~", "in", "not in", "is", "is not"
    operand: Operand
    #: Where the clause starts in the query (for messages); not part of its meaning.
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class And:
    items: tuple["Node", ...]


@dataclass(frozen=True)
class Or:
    items: tuple["Node", ...]


@dataclass(frozen=True)
class Not:
    item: "Node"


Node = Clause | And | Or | Not


@dataclass(frozen=True)
class SortKey:
    field: str
    descending: bool = False


@dataclass(frozen=True)
class Query:
    where: Node | None
    order_by: tuple[SortKey, ...] = ()


# -- parser ------------------------------------------------------------------------------

_OPERATOR_LIST = ("The valid operators are '=', '!=', '<', '>', '<=', '>=', '~', '!~', 'IN', "
                  "'NOT IN', 'IS' and 'IS NOT'.")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    # helpers
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def fail(self, expecting: str, suffix: str = "") -> JqlSyntaxError:
        tok = self.tok
        if tok.kind == "EOF":
            return JqlSyntaxError(f"Expecting {expecting} before the end of the query.")
        return JqlSyntaxError(f"Expecting {expecting} but got '{tok.describe()}'.{suffix}", tok.pos, self.text)

    # grammar
    def query(self) -> Query:
        where = None
        if not (self.tok.kind == "EOF" or self.tok.is_keyword("order")):
            where = self.or_expr()
        order: list[SortKey] = []
        if self.tok.is_keyword("order"):
            self.advance()
            if not self.tok.is_keyword("by"):
                raise self.fail("'BY'")
            self.advance()
            order.append(self.sort_key())
            while self.tok.kind == "COMMA":
                self.advance()
                order.append(self.sort_key())
        if self.tok.kind != "EOF":
            if where is not None and not order:
                raise self.fail("either 'OR' or 'AND'")
            raise self.fail("either 'ASC', 'DESC', ',' or the end of the query")
        return Query(where, tuple(order))

    def sort_key(self) -> SortKey:
        name = self.field_name()
        descending = False
        if self.tok.is_keyword("asc") or self.tok.is_keyword("desc"):
            descending = self.advance().value.lower() == "desc"
        return SortKey(name, descending)

    def or_expr(self) -> Node:
        items = [self.and_expr()]
        while self.tok.kind == "OR" or self.tok.is_keyword("or"):
            self.advance()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self) -> Node:
        items = [self.not_expr()]
        while self.tok.kind == "AND" or self.tok.is_keyword("and"):
            self.advance()
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else And(tuple(items))

    def not_expr(self) -> Node:
        if self.tok.kind == "NOT" or self.tok.is_keyword("not"):
            self.advance()
            return Not(self.not_expr())
        if self.tok.kind == "LPAREN":
            self.advance()
            inner = self.or_expr()
            if self.tok.kind != "RPAREN":
                raise self.fail("')'")
            self.advance()
            return inner
        return self.clause()

    def field_name(self) -> str:
        tok = self.tok
        if tok.kind == "STRING" or (tok.kind == "WORD" and tok.value.lower() not in _KEYWORDS):
            self.advance()
            return tok.value
        raise self.fail("a field name")

    def clause(self) -> Clause:
        pos = self.tok.pos
        name = self.field_name()
        op = self.operator()
        if op in ("is", "is not"):
            if not (self.tok.is_keyword("empty") or self.tok.is_keyword("null")):
                raise self.fail("'EMPTY'")
            self.advance()
            return Clause(name, op, Empty(), pos)
        if op in ("in", "not in"):
            if self.tok.kind != "LPAREN":
                if self.tok.kind == "WORD" and self.tokens[self.i + 1].kind == "LPAREN":
                    return Clause(name, op, self.function(), pos)
                raise self.fail("'('")
            return Clause(name, op, self.list_operand(), pos)
        if self.tok.kind == "LPAREN":
            return Clause(name, op, self.list_operand(), pos)
        return Clause(name, op, self.single_operand(), pos)

    def operator(self) -> str:
        tok = self.tok
        if tok.kind == "OP":
            self.advance()
            return tok.value
        if tok.is_keyword("in"):
            self.advance()
            return "in"
        if tok.is_keyword("not") or tok.kind == "NOT":
            if self.tokens[self.i + 1].is_keyword("in"):
                self.i += 2
                return "not in"
        if tok.is_keyword("is"):
            self.advance()
            if self.tok.is_keyword("not") or self.tok.kind == "NOT":
                self.advance()
                return "is not"
            return "is"
        raise self.fail("operator", " " + _OPERATOR_LIST)

    def list_operand(self) -> ListOperand:
        self.advance()  # '('
        items = [self.single_operand()]
        while self.tok.kind == "COMMA":
            self.advance()
            items.append(self.single_operand())
        if self.tok.kind != "RPAREN":
            raise self.fail("either ',' or ')'")
        self.advance()
        return ListOperand(tuple(items))

    def single_operand(self) -> Value | Function | Empty:
        tok = self.tok
        if tok.kind == "STRING":
            self.advance()
            return Value(tok.value, quoted=True)
        if tok.kind == "WORD":
            low = tok.value.lower()
            if low in ("empty", "null"):
                self.advance()
                return Empty()
            if low in _KEYWORDS:
                raise self.fail(
                    "either a value, list or function",
                    f" You must surround '{tok.text}' in quotation marks to use it as a value.")
            if self.tokens[self.i + 1].kind == "LPAREN":
                return self.function()
            self.advance()
            return Value(tok.value)
        raise self.fail("either a value, list or function")

    def function(self) -> Function:
        name = self.advance().value
        self.advance()  # '('
        args: list[str] = []
        if self.tok.kind != "RPAREN":
            while True:
                if self.tok.kind not in ("WORD", "STRING"):
                    raise self.fail("a function argument")
                args.append(self.advance().value)
                if self.tok.kind != "COMMA":
                    break
                self.advance()
        if self.tok.kind != "RPAREN":
            raise self.fail("')'")
        self.advance()
        return Function(name, tuple(args))


@functools.lru_cache(maxsize=512)
def parse(text: str) -> Query:
    """Parse JQL text into a :class:`Query`; raises :class:`JqlSyntaxError`.

    The AST is immutable, so parses are memoized: a sync job pages through the same query.
    """
    return _Parser(text).query()


def render(node: Node | Query) -> str:
    """Write an AST back as JQL (every value quoted), e.g. for logs and tests."""
    if isinstance(node, Query):
        parts = [render(node.where)] if node.where is not None else []
        if node.order_by:
            keys = ", ".join(f"{quote(k.field)} {'DESC' if k.descending else 'ASC'}" for k in node.order_by)
            parts.append(f"ORDER BY {keys}")
        return " ".join(parts)
    if isinstance(node, And):
        return "(" + " AND ".join(render(item) for item in node.items) + ")"
    if isinstance(node, Or):
        return "(" + " OR ".join(render(item) for item in node.items) + ")"
    if isinstance(node, Not):
        return f"NOT {render(node.item)}"
    return f"{quote(node.field)} {node.op.upper()} {_render_operand(node.operand)}"


def _render_operand(operand: Operand) -> str:
    if isinstance(operand, Empty):
        return "EMPTY"
    if isinstance(operand, Value):
        return quote(operand.text) if operand.quoted or not operand.text.isdigit() else operand.text
    if isinstance(operand, Function):
        return f"{operand.name}({', '.join(quote(a) for a in operand.args)})"
    return "(" + ", ".join(_render_operand(item) for item in operand.items) + ")"


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

    query: Query
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

    def node(self, node: Node) -> Predicate:
        if isinstance(node, And):
            return functools.reduce(_both, [self.node(item) for item in node.items])
        if isinstance(node, Or):
            return functools.reduce(_either, [self.node(item) for item in node.items])
        if isinstance(node, Not):
            inner = self.node(node.item)
            return lambda doc: not inner(doc)
        return self.clause(node)

    def clause(self, clause: Clause) -> Predicate:
        spec = self.field(clause.field)
        op = clause.op
        if op not in _OPERATORS[spec.kind]:
            raise JqlValueError(f"The operator '{op}' is not supported by the '{clause.field}' field.")
        operand = clause.operand
        get = spec.get
        if isinstance(operand, ListOperand) and op not in ("in", "not in"):
            raise JqlValueError(f"The operator '{op}' does not support the list value '{_render_operand(operand)}' "
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
