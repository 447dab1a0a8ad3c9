"""JQL tokens for the JIRA emulator: Jira's error classes, the tokenizer and value quoting.

Syntax errors carry Jira's message and the 1-based line and character, e.g. ``Error in the JQL
Query: The character '%' is a reserved JQL character. ... (line 1, character 9)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
KEYWORDS = {"and", "or", "not", "in", "is", "empty", "null", "order", "by", "asc", "desc"}
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
