"""Plain text to and from the Atlassian Document Format, for JIRA's REST API v3.

On v3 (``jira.api_version = "3"``) JIRA Cloud takes and returns descriptions and comment
bodies as ADF documents; a plain string answers 400 ("Operation value must be an Atlassian
Document"). The bridge writes plain text, so it only needs the lossless plain-text subset:
paragraphs on blank lines, ``hardBreak`` for single newlines. Reading turns any document
back into text (the text of every node, blocks on their own lines), so a comment written in
JIRA's editor reads like its v2 rendering.
"""

from __future__ import annotations

from typing import Any

#: Block nodes whose siblings are separated by a blank line when read as text.
_BLOCKS = {"paragraph", "heading", "codeBlock", "blockquote", "bulletList", "orderedList", "listItem",
           "panel", "rule", "table", "tableRow", "tableCell", "tableHeader", "mediaSingle"}


def text_to_adf(text: str) -> dict[str, Any]:
    """A document holding ``text``: paragraphs split on blank lines, newlines as hard breaks."""
    paragraphs = []
    for chunk in text.split("\n\n") if text else []:
        inline: list[dict[str, Any]] = []
        for index, line in enumerate(chunk.split("\n")):
            if index:
                inline.append({"type": "hardBreak"})
            if line:
                inline.append({"type": "text", "text": line})
        paragraphs.append({"type": "paragraph", "content": inline})
    return {"type": "doc", "version": 1, "content": paragraphs}


def adf_to_text(value: Any) -> str:
    """The text of an ADF document; a string (a v2 body) comes back unchanged, and anything
    that is neither reads as empty."""
    if isinstance(value, str):
        return value
    if not isinstance(value, dict):
        return ""
    if value.get("type") == "doc":
        return "\n\n".join(_inline(block) for block in value.get("content") or [] if isinstance(block, dict))
    return _inline(value)


def _inline(node: dict[str, Any]) -> str:
    kind = node.get("type")
    if kind == "text":
        return str(node.get("text") or "")
    if kind == "hardBreak":
        return "\n"
    if kind in ("mention", "emoji"):
        attrs = node.get("attrs") or {}
        return str(attrs.get("text") or attrs.get("shortName") or "")
    if kind == "inlineCard":
        return str((node.get("attrs") or {}).get("url") or "")
    children = [c for c in node.get("content") or [] if isinstance(c, dict)]
    separator = "\n" if kind in _BLOCKS and any(c.get("type") in _BLOCKS for c in children) else ""
    return separator.join(_inline(c) for c in children)
