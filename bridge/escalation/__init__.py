"""`bridge escalate`: fetch (:mod:`.flow`), plan (:mod:`.plan`, pure), execute
(:mod:`bridge.executor`). See :mod:`bridge.escalation.flow` for the whole story."""

from bridge.actions import ACK_TAG, ESCALATED_TAG
from bridge.escalation.flow import Escalator
from bridge.escalation.request import EscalationRequest, EscalationResult

__all__ = ["ACK_TAG", "ESCALATED_TAG", "EscalationRequest", "EscalationResult", "Escalator"]
