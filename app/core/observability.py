"""Request ids, JSON logs and Prometheus metrics."""

import contextvars
import json
import logging
import sys
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Histogram

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)


def current_request_id() -> str | None:
    return request_id_var.get()


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the request id when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    # below WARNING these log every statement's parameters and result rows (token hashes,
    # e-mails), whatever the engine's hide_parameters: never, even at DEBUG
    for name in ("sqlalchemy", "aiosqlite", "asyncpg"):
        logging.getLogger(name).setLevel(max(root.level, logging.WARNING))


registry = CollectorRegistry(auto_describe=True)
REQUESTS = Counter(
    "brandcast_http_requests_total",
    "HTTP requests by route and status",
    ["method", "route", "status"],
    registry=registry,
)
LATENCY = Histogram(
    "brandcast_http_request_duration_seconds",
    "HTTP request latency by route",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=registry,
)
# `app.core.batching`: how many statements the coalesced work took (the acknowledgement),
# and how many requests' items they carried (the ratio: the mean batch)
BATCHES = Counter(
    "brandcast_coalesced_statements_total",
    "Statements run for coalesced work (app.core.batching), by work",
    ["work"],
    registry=registry,
)
BATCHED_ITEMS = Counter(
    "brandcast_coalesced_items_total",
    "Requests' items carried by those statements, by work",
    ["work"],
    registry=registry,
)
