"""The one way the bridge reads its own files: YAML parsed strictly, validated by strict
pydantic models, every problem reported as ``file: key.path: expected form``.

Used by the configuration (``bridge.toml``, :mod:`bridge.config`), the mappings and the
policy profiles (:mod:`bridge.mapping.load`); the models themselves derive from
:class:`StrictModel`. Nothing here opens a file — callers read the text and hand it over —
so pure modules (the policy profiles' schema) can share the base model.

Problems never echo the value found: a value in the wrong place may be a secret.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from bridge.errors import MappingError

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")

# ---------------------------------------------------------------------------------------
# YAML text -> a mapping
# ---------------------------------------------------------------------------------------


#: How deep the bridge's files may nest; the deepest shipped key is a handful of levels,
#: and a limit here keeps a hostile file from exhausting Python's recursion further on.
MAX_DEPTH = 64
#: How many values a file may hold once its aliases are followed. A mapping file of a few
#: hundred lines holds a few thousand; every walk of the data (validation, the profiles'
#: origin tracking, merging) visits each, so a few hundred bytes of nested aliases ("billion
#: laughs", 9**10 values) must be refused before anything walks them.
MAX_VALUES = 100_000


class _Refused(yaml.MarkedYAMLError):
    """Valid YAML the bridge's files do not accept (nesting too deep, aliases that expand
    too far or into themselves)."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses duplicate keys, deep nesting and alias bombs.

    PyYAML silently keeps the last of two equal keys; in a mapping file that hides a pasted
    block or a typo fixed in one place only, so a duplicate is an error with its line.
    Anchors and aliases are allowed (the shipped profiles share ``hours: &eastern``), but
    what they expand to counts towards :data:`MAX_VALUES`.
    """

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._depth = 0
        self._values = 0  # values composed so far, each alias counting what it expands to
        self._sizes: dict[str, int] = {}  # anchor -> values it expands to, once composed

    def _count(self, values: int, mark: yaml.Mark) -> None:
        self._values += values
        if self._values > MAX_VALUES:
            raise _Refused(None, None, f"more than {MAX_VALUES} values once the YAML aliases "
                           "(*name) are followed; share fewer, smaller values", mark)

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            node = super().compose_node(parent, index)  # raises for an undefined alias
            if event.anchor not in self._sizes:
                # The anchored value is still being composed: it would contain itself.
                raise _Refused(None, None, f"YAML alias *{event.anchor} is inside the value it "
                               "names", event.start_mark)
            self._count(self._sizes[event.anchor], event.start_mark)
            return node
        if self._depth >= MAX_DEPTH:
            raise _Refused(None, None, f"nested too deeply (more than {MAX_DEPTH} levels)",
                           event.start_mark)
        before = self._values
        self._count(1, event.start_mark)
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if event.anchor is not None:
            self._sizes[event.anchor] = self._values - before
        return node


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict:
    loader.flatten_mapping(node)
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        try:
            hash(key)
        except TypeError:
            # `[a, b]: 1` or `{a: 1}: 2`: not a key any bridge file has, and unhashable.
            raise yaml.constructor.ConstructorError(
                None, None, "a key must be a plain word or number, not a list or mapping",
                key_node.start_mark) from None
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first on line {seen[key] + 1})", key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def parse_yaml(text: str, file: str, *, top_level: str = "keys") -> dict[str, Any]:
    """Parse the YAML ``text`` of ``file`` into a mapping; an empty document is ``{}``.

    Raises :class:`MappingError` naming ``file`` when the text is not valid YAML (with the
    line), has duplicate keys, or its top level is not a mapping (``top_level`` says what
    the file should hold, for the message).
    """
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except _Refused as exc:
        mark = exc.problem_mark
        raise MappingError(file, f"line {mark.line + 1}" if mark is not None else "", str(exc.problem)) from None
    except RecursionError:
        # Defence in depth: MAX_DEPTH should stop nesting long before Python's limit.
        raise MappingError(file, "", "nested too deeply") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}" if mark is not None else ""
        column = f" (column {mark.column + 1})" if mark is not None else ""
        problem = exc.problem or exc.context or "not YAML"
        raise MappingError(file, where, f"invalid YAML{column}: {problem}") from None
    except yaml.YAMLError as exc:
        raise MappingError(file, "", f"invalid YAML: {exc.__class__.__name__}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise MappingError(file, "", f"expected a mapping of {top_level} at the top level")
    return data


# ---------------------------------------------------------------------------------------
# pydantic errors -> "key.path: expected form"
# ---------------------------------------------------------------------------------------


def key_path(loc: Iterable[str | int]) -> str:
    """Render a pydantic location as ``a.b[0].c``, quoting keys that are not plain words."""
    out = ""
    for part in loc:
        if part == "[key]":  # pydantic's marker for "the key itself was invalid"
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out


_TYPE_WORDS = {
    "string_type": "expected a string",
    "int_type": "expected an integer",
    "int_parsing": "expected an integer",
    "int_from_float": "expected a whole number",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "dict_type": "expected a mapping (key: value)",
    "model_type": "expected a mapping (key: value)",
    "model_attributes_type": "expected a mapping (key: value)",
    "list_type": "expected a list",
    "tuple_type": "expected a list",
    "date_type": "expected a date like 2026-12-24",
    "date_from_datetime_parsing": "expected a date like 2026-12-24",
    "missing": "required, but missing",
    "extra_forbidden": "unknown key",
}


def _problem(err: Mapping[str, Any]) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "literal_error":
        return f"expected one of {ctx.get('expected', '')}"
    if kind in ("value_error", "assertion_error"):
        # Our validators raise ValueError("expected ..."); pydantic prefixes "Value error, ".
        return str(ctx.get("error", err["msg"]))
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return err["msg"].replace("Input should be", "expected a number")
    return _TYPE_WORDS.get(kind, err["msg"])


def validation_problems(exc: ValidationError) -> list[tuple[str, str]]:
    """``(key_path, problem)`` for each error of a pydantic validation, inputs never echoed."""
    problems: list[tuple[str, str]] = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = list(err["loc"])
        if err["type"] == "unknown_key":
            loc.append(err["ctx"]["key"])
        problems.append((key_path(loc), _problem(err)))
    return problems


def mapping_error(file: str, exc: ValidationError, *, file_of: Callable[[str], str] | None = None) -> MappingError:
    """The first problem of ``exc`` as a :class:`MappingError` on ``file``, counting the rest.

    ``file_of(key_path)`` names the file that set a key when several files were merged (a
    profile's ``extends`` chain); by default every key is ``file``'s.
    """
    problems = validation_problems(exc)
    key, problem = problems[0]
    if len(problems) > 1:
        problem += f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})"
    return MappingError(file_of(key) if file_of is not None else file, key, problem)


def did_you_mean(key: str, known: Iterable[str]) -> str | None:
    """The closest known name to a mistyped ``key``, if one is close enough."""
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    return close[0] if close else None


class StrictModel(BaseModel):
    """Base of every validated file model: frozen, and unknown keys are errors.

    An unknown key is almost always a typo that would otherwise silently fall back to a
    default, so it fails with a did-you-mean suggestion.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_keys(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            known = set(cls.model_fields)
            known |= {f.alias for f in cls.model_fields.values() if f.alias}
            for key in data:
                if key in known:
                    continue
                suggestion = did_you_mean(str(key), sorted(known))
                hint = f"; did you mean {suggestion!r}?" if suggestion else (
                    f"; expected one of: {', '.join(sorted(known))}")
                raise PydanticCustomError("unknown_key", "unknown key{hint}", {"key": str(key), "hint": hint})
        return data


__all__ = ["StrictModel", "did_you_mean", "key_path", "mapping_error", "parse_yaml", "validation_problems"]
