"""The web service's own Prometheus metrics (served at /metrics with the process's default collectors)."""

from __future__ import annotations

from prometheus_client import Counter

# `route` is the matched path template (/chats/{chat_id}), never the raw path: bounded label values.
REQUESTS = Counter(
    "scenetag_web_requests_total", "HTTP requests answered by scenetag-web", ["method", "route", "status"]
)
