"""JQL syntax for the JIRA emulator: the AST, a parser without recursion, and rendering.

Jira answers 200 to a JQL of thousands of ``OR`` clauses or hundreds of nested parentheses,
so nothing here recurses on the shape of a query: the parser keeps one explicit frame per open
parenthesis, and :func:`walk` and :func:`render` traverse with explicit stacks. Syntax errors
carry Jira's message and the 1-based line and character, e.g. ``Error in the JQL Query:
Expecting operator but got 'query'. ... (line 1, character 9)``.

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

A run of the same operator at one level is one n-ary node (``a OR b OR c`` is one ``Or`` of
three); parentheses always make a node of their own.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable, Iterator, TypeVar

from bridge.sandbox.jira_jql_tokens import (
    KEYWORDS,
    JqlSyntaxError,
    Token,
    quote,
    tokenize,
)

T = TypeVar("T")

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


@dataclass
class _Frame:
    """One parenthesis level while parsing: finished AND runs, the current run, pending NOTs."""

    wrap: int = 0  # NOTs written before this level's '(' (applied when it closes)
    nots: int = 0  # NOTs read for the next operand
    or_items: list = field(default_factory=list)
    and_items: list = field(default_factory=list)

    def close_run(self) -> None:
        items = self.and_items
        self.or_items.append(items[0] if len(items) == 1 else And(tuple(items)))
        self.and_items = []

    def node(self) -> "Node":
        self.close_run()
        return self.or_items[0] if len(self.or_items) == 1 else Or(tuple(self.or_items))


def _negate(node: "Node", times: int) -> "Node":
    for _ in range(times):
        node = Not(node)
    return node


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
        """``or_expr`` of the grammar, read with one explicit frame per open parenthesis.

        Python's recursion limit would otherwise turn 400 nested parentheses or a long
        ``NOT`` chain into a 500; Jira answers those with 200.
        """
        frames = [_Frame()]
        while True:
            frame = frames[-1]
            # operand position: NOTs and open parentheses, then a clause
            while True:
                if self.tok.kind == "NOT" or self.tok.is_keyword("not"):
                    self.advance()
                    frame.nots += 1
                elif self.tok.kind == "LPAREN":
                    self.advance()
                    frame = _Frame(wrap=frame.nots)
                    frames[-1].nots = 0
                    frames.append(frame)
                else:
                    break
            frame.and_items.append(_negate(self.clause(), frame.nots))
            frame.nots = 0
            # operator position: AND / OR continue this level, ')' closes levels
            while True:
                if self.tok.kind == "AND" or self.tok.is_keyword("and"):
                    self.advance()
                    break
                if self.tok.kind == "OR" or self.tok.is_keyword("or"):
                    self.advance()
                    frame.close_run()
                    break
                if len(frames) == 1:
                    return frame.node()
                if self.tok.kind != "RPAREN":
                    raise self.fail("')'")
                self.advance()
                frames.pop()
                inner = _negate(frame.node(), frame.wrap)
                frame = frames[-1]
                frame.and_items.append(inner)

    def field_name(self) -> str:
        tok = self.tok
        if tok.kind == "STRING" or (tok.kind == "WORD" and tok.value.lower() not in KEYWORDS):
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
            if low in KEYWORDS:
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

    def branch(current: Node, parts: list[str]) -> str:
        if isinstance(current, Not):
            return f"NOT {parts[0]}"
        return "(" + (" AND " if isinstance(current, And) else " OR ").join(parts) + ")"

    return fold(node, lambda c: f"{quote(c.field)} {c.op.upper()} {render_operand(c.operand)}", branch)


def fold(root: Node, leaf: Callable[[Clause], T], branch: Callable[[Node, list[T]], T]) -> T:
    """Reduce a condition tree bottom-up: each :class:`Clause` to ``leaf(clause)``, each
    And/Or/Not to ``branch(node, its children's results, first to last)``.

    Clauses are visited left to right (so errors are reported in the order Jira reports
    them), with an explicit stack rather than recursion: a generated query can nest deeper
    than Python's call stack.
    """
    results: list[T] = []
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        current, children_done = stack.pop()
        if isinstance(current, Clause):
            results.append(leaf(current))
            continue
        children = current.items if isinstance(current, (And, Or)) else (current.item,)
        if not children_done:
            stack.append((current, True))
            stack.extend((child, False) for child in reversed(children))
            continue
        parts = results[len(results) - len(children):]
        del results[len(results) - len(children):]
        results.append(branch(current, parts))
    return results[0]


def walk(node: Node | None) -> Iterator[Node]:
    """Every node under ``node`` (itself included), depth first, left to right, without recursion."""
    stack = [node] if node is not None else []
    while stack:
        current = stack.pop()
        yield current
        if isinstance(current, (And, Or)):
            stack.extend(reversed(current.items))
        elif isinstance(current, Not):
            stack.append(current.item)


def depth(node: Node | None) -> int:
    """How deep the boolean structure nests (a lone clause is 1)."""
    deepest = 0
    stack = [(node, 1)] if node is not None else []
    while stack:
        current, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(current, (And, Or)):
            stack.extend((item, level + 1) for item in current.items)
        elif isinstance(current, Not):
            stack.append((current.item, level + 1))
    return deepest


def render_operand(operand: Operand) -> str:
    if isinstance(operand, Empty):
        return "EMPTY"
    if isinstance(operand, Value):
        return quote(operand.text) if operand.quoted or not operand.text.isdigit() else operand.text
    if isinstance(operand, Function):
        return f"{operand.name}({', '.join(quote(a) for a in operand.args)})"
    return "(" + ", ".join(render_operand(item) for item in operand.items) + ")"
