"""Webhook metrics on the service's Prometheus registry."""

from prometheus_client import Counter, Gauge, Histogram

from app.core.observability import registry

OUTBOX_DEPTH = Gauge(
    "brandcast_webhook_outbox_depth",
    "Webhook deliveries not yet done (pending or being delivered), as of the last dispatch",
    registry=registry,
)
DELIVERIES = Counter(
    "brandcast_webhook_deliveries_total",
    "Webhook delivery attempts by webhook and result (delivered, retry, failed, blocked)",
    ["webhook", "result"],
    registry=registry,
)
DELIVERY_LATENCY = Histogram(
    "brandcast_webhook_delivery_duration_seconds",
    "Webhook delivery attempt latency by webhook",
    ["webhook"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=registry,
)
