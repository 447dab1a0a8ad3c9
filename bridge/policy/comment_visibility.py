"""Which JIRA comments may reach a customer: only those JIRA provably shows to everyone.

JIRA marks a comment non-public in several ways, and the ``jira`` library (3.10.5) hands
each of them out in more than one shape: a role or group ``visibility`` restriction; JIRA
Service Management's ``jsdPublic: false``; and the ``sd.public.comment`` comment property
(``{"internal": true}``), which the REST API returns as a list of ``{"key", "value"}``
objects and the library as ``PropertyHolder`` objects — neither dicts nor resources with a
``raw``. Missing one of these shapes once posted an internal comment to customers, so the
decision below reads all of them and treats whatever it cannot read as internal.

Pure: no I/O. :mod:`bridge.policy.visibility` re-exports it with the rest of what may be
shown on the customer side.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["JIRA_INTERNAL_PROPERTY", "jira_comment_is_public"]

#: The comment property in which JIRA Service Management marks a comment internal.
JIRA_INTERNAL_PROPERTY = "sd.public.comment"


def jira_comment_is_public(comment: Any, *, properties_known: bool = True) -> bool:
    """Whether a JIRA comment may be shown to customers; anything uncertain is internal.

    ``comment`` is a comment in any form JIRA or the ``jira`` library hands out: the REST
    JSON as a dict, a library ``Comment`` resource (its ``raw`` dict is read), or nested
    ``PropertyHolder`` objects (what the library turns JSON objects into). A comment is
    public only when all of these hold:

    * it has no role or group ``visibility`` restriction;
    * JIRA Service Management does not call it non-public (``jsdPublic: false``);
    * its ``sd.public.comment`` property, when present, says ``internal: false`` — the value
      may be a JSON object, a JSON text of one, a ``PropertyHolder`` or a bare boolean or
      ``"true"``/``"false"`` string; any other shape cannot be read and means internal;
    * its properties were read (``properties_known``; ``expand=properties``) and come in a
      shape this function understands: without them an internal mark cannot be ruled out.

    Pure: no I/O. The connector fetches the comment with its properties and asks here.
    """
    data = _plain(comment)
    if not isinstance(data, dict):
        return False
    if data.get("visibility") not in (None, {}):
        return False
    if "jsdPublic" in data and data["jsdPublic"] is not True:
        return False
    if not properties_known:
        return False
    properties = data.get("properties")
    if properties is None:
        return False  # not expanded, or JIRA left them out: undetermined
    if isinstance(properties, dict):  # {key: value}, as some endpoints render them
        entries = [{"key": k, "value": v} for k, v in properties.items()]
    elif isinstance(properties, list):
        entries = properties
    else:
        return False
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
            return False  # an entry we cannot read may be the internal mark
        if entry["key"] == JIRA_INTERNAL_PROPERTY and _internal_flag(entry.get("value")) is not False:
            return False
    return True


def _plain(value: Any, depth: int = 0) -> Any:
    """JSON-like data from a dict, a library resource (``raw``) or a ``PropertyHolder``."""
    if depth > 8:
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, depth + 1) for v in value]
    raw = getattr(value, "raw", None)
    if isinstance(raw, dict):
        return _plain(raw, depth + 1)
    attributes = getattr(value, "__dict__", None)
    if isinstance(attributes, dict):
        # A PropertyHolder: its JSON keys are its attributes (the library's own are private).
        return {k: _plain(v, depth + 1) for k, v in attributes.items() if not k.startswith("_")}
    return None


def _internal_flag(value: Any) -> bool | None:
    """The ``internal`` flag of an ``sd.public.comment`` value; None when unreadable."""
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        try:
            value = json.loads(text)
        except ValueError:
            return None
    if isinstance(value, bool):
        return value
    if isinstance(value, dict) and "internal" in value:
        flag = value["internal"]
        if isinstance(flag, str) and flag.strip().lower() in ("true", "false"):
            return flag.strip().lower() == "true"
        return flag if isinstance(flag, bool) else None
    return None
