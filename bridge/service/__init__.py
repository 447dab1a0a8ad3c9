"""`bridge serve`: the webhook receiver, the durable inbox's workers, the Escalate button.

How a delivery travels (a webhook is a doorbell, not data):

1. :mod:`bridge.service.webhooks` verifies what the vendor signs and reads from the body
   only *which* issue, ticket or Sentry issue to look at (pure functions);
2. :mod:`bridge.service.app` writes that pointer to the inbox (``store.inbox``), keyed by
   the vendor's delivery id, *before* answering 2xx; a redelivery is a no-op 2xx;
3. :mod:`bridge.service.worker` threads claim inbox items under a lease, map them to
   escalations (:mod:`bridge.service.routing`) and run the same core as ``bridge sync`` for
   just those escalations, which re-reads the current state through the APIs;
4. :mod:`bridge.service.server` runs it all on cheroot with a graceful SIGTERM.

The Escalate button (:mod:`bridge.service.button`) enters through the same inbox.
"""
