"""What may go into a JQL query: every value quoted, every label checked.

JIRA's query language has no bound parameters, so a value (a label derived from a ticket
id, a version name) is only safe once it is quoted: :func:`jql_string` escapes it and
refuses what cannot be escaped. Pure functions, no I/O: the sync pass builds its queries
with them and the JIRA connector checks labels before writing them.
"""

from __future__ import annotations

import re

from bridge.errors import InvalidValue

__all__ = ["check_label", "jql_string"]

_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,254}$")


def jql_string(value: str) -> str:
    """Quote a value for JQL: inside double quotes, backslash and quote escaped.

    Control characters cannot be expressed safely and are refused.
    """
    if any(ord(ch) < 32 for ch in value):
        raise InvalidValue(f"{value!r} cannot be used in a JIRA query (control characters)")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def check_label(label: str) -> str:
    """JIRA labels cannot hold spaces; ours are also restricted to a safe alphabet."""
    if not _LABEL.match(label):
        raise InvalidValue(f"{label!r} is not a valid JIRA label", hint="letters, digits, '_', '-', '.', ':' only")
    return label
