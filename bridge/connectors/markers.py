"""Marker tags carried inside a message's text, for helpdesks that cannot tag a ticket in the
same call that adds the message (django-helpdesk, Freshdesk).

Why: the escalation and sync flows make each customer message exactly-once by writing a
*marker tag* together with the message and skipping the write when a re-read shows the
marker. Zendesk takes a comment and tags in one ``PUT``. django-helpdesk has no tags at all,
and Freshdesk adds a note or reply with one call and changes tags with another; a run that
dies between the two would, on its next try, not see the marker and send the message again.
So the connector puts the tag changes into the message itself, and ``get_ticket`` reads
them back from the conversation into ``Ticket.tags``: the message and its marker are one
write.

How: the tag changes (``+bridge_acknowledged -old``) are encoded as a run of invisible
characters appended to the text — each bit a ZERO WIDTH SPACE (0) or ZERO WIDTH NON-JOINER
(1), the run framed by INVISIBLE SEPARATOR. Customers read the message (in the helpdesk, in
the e-mail, plain text or HTML) without seeing anything; any HTML sanitiser keeps the
characters, since they are text, not markup. Decoding checks a fixed prefix, so a stray
invisible character in a customer's text is never taken for a marker.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

_ZERO, _ONE, _FRAME = "\u200b", "\u200c", "\u2063"
_PREFIX = "bridge-tags "
_RUN = re.compile(f"{_FRAME}([{_ZERO}{_ONE}]+){_FRAME}")

__all__ = ["apply_tag_ops", "encode", "split", "tag_ops"]


def tag_ops(add: Iterable[str] = (), remove: Iterable[str] = ()) -> list[str]:
    """Tag changes as operations: ``+tag`` to add, ``-tag`` to remove."""
    return [f"+{t}" for t in add] + [f"-{t}" for t in remove]


def encode(ops: Sequence[str]) -> str:
    """The invisible marker run for ``ops`` ("" when there are none)."""
    if not ops:
        return ""
    for op in ops:
        if not op[:1] in ("+", "-") or not op[1:] or any(c.isspace() for c in op):
            raise ValueError(f"a tag operation is +tag or -tag without spaces, not {op!r}")
    payload = (_PREFIX + " ".join(ops)).encode("utf-8")
    bits = "".join(f"{byte:08b}" for byte in payload)
    return _FRAME + bits.replace("0", _ZERO).replace("1", _ONE) + _FRAME


def split(text: str) -> tuple[str, list[str]]:
    """``text`` without its marker runs, and the tag operations they carried, in order."""
    ops: list[str] = []

    def _take(match: re.Match) -> str:
        bits = match.group(1).replace(_ZERO, "0").replace(_ONE, "1")
        if len(bits) % 8:
            return match.group(0)
        try:
            payload = int(bits, 2).to_bytes(len(bits) // 8, "big").decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return match.group(0)
        if not payload.startswith(_PREFIX):
            return match.group(0)
        ops.extend(payload[len(_PREFIX):].split())
        return ""

    return _RUN.sub(_take, text), ops


def apply_tag_ops(tags: Iterable[str], ops: Iterable[str]) -> tuple[str, ...]:
    """Replay ``ops`` over ``tags``, keeping first-seen order."""
    result = list(dict.fromkeys(tags))
    for op in ops:
        tag = op[1:]
        if op.startswith("+") and tag not in result:
            result.append(tag)
        elif op.startswith("-") and tag in result:
            result.remove(tag)
    return tuple(result)
