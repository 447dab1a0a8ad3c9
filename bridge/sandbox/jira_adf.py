"""Atlassian Document Format (ADF) for the JIRA emulator.

Jira Cloud's REST v3 takes and returns rich text (issue descriptions, comment bodies) as ADF
documents; REST v2 and Data Center use plain text. The emulator stores ADF and converts at
the edge, so a v2 client and a v3 client see the same issue:

* :func:`text_to_adf` — plain text to a document: paragraphs split on blank lines, single
  newlines as ``hardBreak`` nodes. ``adf_to_text(text_to_adf(s)) == s`` for every string, so
  a v2 client reads back exactly what it wrote.
* :func:`adf_to_text` — any document to text (inline text, mentions, emoji, links; blocks
  separated like Jira's own plain-text rendering).
* :func:`is_adf_document` — the check behind Cloud's 400 "Operation value must be an
  Atlassian Document".
"""

from __future__ import annotations

from typing import Any

ADF_REQUIRED = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"

#: Block nodes whose children are inline content; text of sibling blocks is joined by a blank line.
_PARAGRAPH_LIKE = {"paragraph", "heading", "codeBlock"}


def text_to_adf(text: str) -> dict[str, Any]:
    """Wrap plain text in an ADF document, losslessly (see module docstring)."""
    if text == "":
        return {"type": "doc", "version": 1, "content": []}
    paragraphs = []
    for chunk in text.split("\n\n"):
        inline: list[dict[str, Any]] = []
        for i, line in enumerate(chunk.split("\n")):
            if i:
                inline.append({"type": "hardBreak"})
            if line:
                inline.append({"type": "text", "text": line})
        paragraphs.append({"type": "paragraph", "content": inline})
    return {"type": "doc", "version": 1, "content": paragraphs}


def adf_to_text(node: Any) -> str:
    """Plain text of an ADF document (or of any node in one)."""
    if not isinstance(node, dict):
        return ""
    kind = node.get("type")
    if kind == "text":
        return str(node.get("text", ""))
    if kind == "hardBreak":
        return "\n"
    if kind == "mention":
        return str(node.get("attrs", {}).get("text", ""))
    if kind == "emoji":
        attrs = node.get("attrs", {})
        return str(attrs.get("text") or attrs.get("shortName", ""))
    if kind in ("inlineCard", "blockCard"):
        return str(node.get("attrs", {}).get("url", ""))
    if kind == "rule":
        return "----"
    children = node.get("content") or []
    if kind in _PARAGRAPH_LIKE:
        return "".join(adf_to_text(child) for child in children)
    # Containers (doc, lists, panels, tables...): one block per child.
    separator = "\n\n" if kind == "doc" else "\n"
    return separator.join(adf_to_text(child) for child in children)


def is_adf_document(value: Any) -> bool:
    """Whether ``value`` is a well-formed ADF document (as far as Jira checks on write)."""
    if not isinstance(value, dict) or value.get("type") != "doc" or value.get("version") != 1:
        return False
    content = value.get("content")
    return isinstance(content, list) and all(_is_node(child) for child in content)


def _is_node(node: Any) -> bool:
    if not isinstance(node, dict) or not isinstance(node.get("type"), str):
        return False
    if node["type"] == "text" and not isinstance(node.get("text"), str):
        return False
    if "attrs" in node and not isinstance(node["attrs"], dict):
        return False
    content = node.get("content", [])
    return isinstance(content, list) and all(_is_node(child) for child in content)
