"""JQL for the JIRA emulator: a tokenizer, a parser and an evaluator, none of them recursive.

The emulator answers searches the way Jira does, so the bridge's queries (labels, status,
``updated >= "yyyy/MM/dd HH:mm"`` windows, ``ORDER BY``) are checked by a real grammar rather
than by string matching. The pipeline is::

    text --tokenize--> tokens --parse--> Query (AST) --compile(schema, ctx)--> CompiledQuery
                                                                                  .matches(doc)
                                                                                  .sort(docs)

* :mod:`bridge.sandbox.jira_jql_tokens` — the tokenizer, :func:`quote` and the errors;
  :mod:`bridge.sandbox.jira_jql_syntax` — the AST, the parser and :func:`render`. Neither
  knows about fields. Syntax errors carry Jira's message and position.
* :mod:`bridge.sandbox.jira_jql_eval` — :func:`compile_query` binds a query to a
  :class:`JqlSchema` the emulator supplies and an :class:`EvalContext` (who searches, when).

Jira answers 200 to 2,000 ``OR`` clauses or 400 nested parentheses, so neither stage recurses
on the query's shape. This module is the one name the rest of the emulator imports.
"""

from __future__ import annotations

from bridge.sandbox.jira_jql_eval import (
    CLOSURE_DEPTH_LIMIT, DATE_FORMATS_HINT, EMPTY_TOKEN, CompiledQuery, EvalContext, JqlField, JqlSchema,
    compile_query, parse_date,
)
from bridge.sandbox.jira_jql_syntax import (
    And, Clause, Empty, Function, ListOperand, Node, Not, Operand, Or, Query, SortKey, Value, depth, parse,
    render, render_operand, walk,
)
from bridge.sandbox.jira_jql_tokens import JqlError, JqlSyntaxError, JqlValueError, Token, quote, tokenize

__all__ = [
    "JqlError", "JqlSyntaxError", "JqlValueError", "Token", "tokenize", "parse", "quote",
    "Query", "Clause", "And", "Or", "Not", "Value", "Function", "ListOperand", "Empty", "Node", "Operand",
    "SortKey", "JqlField", "JqlSchema", "EvalContext", "CompiledQuery", "compile_query",
    "parse_date", "render", "render_operand", "walk", "depth", "EMPTY_TOKEN", "DATE_FORMATS_HINT",
    "CLOSURE_DEPTH_LIMIT",
]
