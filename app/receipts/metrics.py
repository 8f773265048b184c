"""Delivery metrics on the service's Prometheus registry."""

from prometheus_client import Counter, Gauge

from app.core.observability import registry

SENT = Counter(
    "brandcast_deliveries_total",
    "E-mails and chat posts handled by the sender, by channel and result "
    "(sent, retry, failed, cancelled, released)",
    ["channel", "result"],
    registry=registry,
)
DELIVERY_LAG = Gauge(
    "brandcast_delivery_lag_seconds",
    "How long the oldest due, unsent delivery has waited, as of the sender's last pass",
    registry=registry,
)
