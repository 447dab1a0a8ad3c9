"""`bridge escalate`: fetch (:mod:`.flow`), plan (:mod:`.plan`, pure), execute
(:mod:`bridge.executor`). See :mod:`bridge.escalation.flow` for the whole story.

The names below load on first use, so importing the pure planner does not pull in the
I/O shell (connectors, the store) through this package.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ACK_TAG", "ESCALATED_TAG", "EscalationRequest", "EscalationResult", "Escalator"]

_HOMES = {
    "ACK_TAG": "bridge.actions", "ESCALATED_TAG": "bridge.actions",
    "EscalationRequest": "bridge.escalation.request", "EscalationResult": "bridge.escalation.request",
    "Escalator": "bridge.escalation.flow",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'bridge.escalation' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(_HOMES[name]), name)
