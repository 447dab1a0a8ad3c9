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


#: Operators and punctuation, each with its token kind; two-character ones are tried first.
_SYMBOLS = {"!=": "OP", "<=": "OP", ">=": "OP", "!~": "OP", "&&": "AND", "||": "OR",
            "=": "OP", "<": "OP", ">": "OP", "~": "OP", "!": "NOT", "(": "LPAREN", ")": "RPAREN", ",": "COMMA"}


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
        symbol = next((s for s in (text[i:i + 2], c) if s in _SYMBOLS), None)
        if symbol is not None:
            tokens.append(Token(_SYMBOLS[symbol], symbol, symbol, start))
            i += len(symbol)
        elif c in "\"'":
            value, i = _read_string(text, i)
            tokens.append(Token("STRING", text[start:i], value, start))
        elif match := _CUSTOM_FIELD_REF.match(text, i):
            # cf[10100] is the one place brackets are part of a name.
            i = match.end()
            tokens.append(Token("WORD", text[start:i], f"cf[{match.group(1)}]", start))
        else:
            value, i = _read_chars(text, i, _DELIMITERS, words=True)
            tokens.append(Token("WORD", text[start:i], value, start))
    tokens.append(Token("EOF", "", "", n))
    return tokens


def _read_chars(text: str, i: int, ends: set[str] | str, *, words: bool) -> tuple[str, int]:
    """The unescaped characters from ``i`` up to (not including) one of ``ends`` or the end of
    ``text``, and where they stopped. In an unquoted word (``words``) reserved characters are refused."""
    chars: list[str] = []
    while i < len(text) and text[i] not in ends:
        ch = text[i]
        if words and ch in _RESERVED:
            raise JqlSyntaxError(
                f"The character '{ch}' is a reserved JQL character. You must enclose it in a "
                f"string or use the escape '\\u{ord(ch):04x}' instead.", i, text)
        if ch == "\\":
            decoded, i = _read_escape(text, i)
            chars.append(decoded)
            continue
        chars.append(ch)
        i += 1
    return "".join(chars), i


def _read_string(text: str, start: int) -> tuple[str, int]:
    value, end = _read_chars(text, start + 1, text[start], words=False)
    if end >= len(text):
        raise JqlSyntaxError(f"The quoted string '{value}' has not been completed.", start, text)
    return value, end + 1


def _read_escape(text: str, i: int) -> tuple[str, int]:
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
