"""Prometheus metrics of one `bridge serve` process (``/metrics``).

Each app gets its own registry, so tests can run several apps in one process and a scrape
shows only this process's numbers. Queue depth is read from the store at scrape time: the
inbox is shared by every process on the store, and the number people want is its length.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]


class Metrics:
    """The counters, gauges and histograms `bridge serve` keeps."""

    def __init__(self, backlog=None) -> None:
        self.registry = CollectorRegistry()
        self.deliveries = Counter(
            "bridge_webhook_deliveries", "Webhook deliveries by source and outcome "
            "(accepted, duplicate, ignored, unsigned, bad_signature, stale, malformed, too_large, not_configured).",
            ["source", "outcome"], registry=self.registry)
        self.processed = Counter(
            "bridge_inbox_items_processed", "Inbox items processed by outcome (done, retry, failed, released).",
            ["source", "outcome"], registry=self.registry)
        self.latency = Histogram(
            "bridge_inbox_processing_seconds", "Time from accepting a delivery to finishing its item.",
            ["source"], registry=self.registry,
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800))
        self.escalate_limited = Counter(
            "bridge_escalate_rate_limited", "Escalate button requests answered 429 by a rate limit, by limit "
            "(client: one address; ticket: one ticket's links; all: presses this process plans).",
            ["limit"], registry=self.registry)
        self.messages = Counter(
            "bridge_customer_messages_sent", "Customer messages sent by the inbox workers.",
            registry=self.registry)
        self.depth = Gauge("bridge_inbox_depth", "Inbox items waiting or being worked on.",
                           ["state"], registry=self.registry)
        self._backlog = backlog
        self.throttled = Gauge("bridge_http_throttled_responses",
                               "429 answers the services gave, by service (every worker on the store, "
                               "PostgreSQL stores).", ["service"], registry=self.registry)
        #: Reads the shared 429 counts at scrape time (set by bridge/jobs on PostgreSQL).
        self.throttled_counts = None

    def render(self) -> bytes:
        """The exposition text, with the queue depth read now."""
        if self._backlog is not None:
            backlog = self._backlog()
            self.depth.labels("waiting").set(backlog.waiting)
            self.depth.labels("working").set(backlog.working)
            self.depth.labels("failed").set(backlog.failed)
        if self.throttled_counts is not None:
            for service, count in self.throttled_counts().items():
                self.throttled.labels(service).set(count)
        return generate_latest(self.registry)
