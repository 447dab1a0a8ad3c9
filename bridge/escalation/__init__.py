"""`bridge escalate` (transitional: the flow moves to plan.py / execute.py)."""

from bridge.escalation.legacy_flow import *  # noqa: F401,F403
from bridge.escalation.legacy_flow import (ACK_TAG, ESCALATED_TAG, EscalationRequest, EscalationResult,  # noqa: F401
                                           Escalator)
