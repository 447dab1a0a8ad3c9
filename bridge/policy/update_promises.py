"""When the customers of many escalations will hear next, all told at one instant.

A sync batch announces to hundreds of tickets at once, and each announcement says when the
next status update is due (:func:`bridge.policy.sla.next_update_after`). That answer is
one check of the ticket's targets at opening, and a walk of the business calendar from
``now`` that depends on the profile, severity and tier alone. :class:`UpdatePromises`
keeps the walks of one instant, so a batch makes one per (profile, severity, tier).
"""

from __future__ import annotations

from datetime import datetime

from bridge.policy.profiles import Profile
from bridge.policy.sla import next_update_after, require_aware

__all__ = ["UpdatePromises"]


class UpdatePromises:
    """:func:`~bridge.policy.sla.next_update_after` at one instant ``now``, for many
    escalations: the same answers, with the part that depends on ``now`` remembered."""

    def __init__(self, now: datetime) -> None:
        require_aware(now, "now")
        self.now = now
        #: (profile name, severity, tier, customer zone) -> (the profile, its answer from ``now``).
        self._from_now: dict[tuple[str, str, str, str | None], tuple[Profile, datetime | None]] = {}

    def after(self, profile: Profile, severity: str, tier: str | None, opened_at: datetime,
              customer_zone: str | None = None) -> datetime | None:
        """When the next status update is due if the customers of a ticket opened at
        ``opened_at`` (in ``customer_zone``, where the tier's hours are the customer's) are
        told something now; None when no update is promised. Raises as
        :func:`~bridge.policy.sla.next_update_after` does."""
        return next_update_after(profile, severity, tier, opened_at, self.now, remembered=self._from_now,
                                 customer_zone=customer_zone)
