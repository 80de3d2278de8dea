"""Serving a process's Prometheus metrics on its own port: `serve_metrics(port, *collectors)`, then `close()`.

The bot and the worker each define their metric objects (`bot.metrics`, `worker.metrics`) in
prometheus_client's default registry and call this once at start. Extra collectors (the bot's queue
collector) are read at scrape time by the server's own registry, so nothing polls between scrapes.

Multi-process mode. prometheus_client keeps a metric's value in the memory of the process that changed it,
so one process serves only its own. Where several processes of one service share one port (several
`scenetag-worker` processes in one container under a supervisor, a worker each per GPU or per core), give
them all the same `PROMETHEUS_MULTIPROC_DIR`: an empty directory, emptied at every start of the container,
set in the environment before the processes start (prometheus_client reads it when it is imported). Each
process then writes its values to files there; the first process to bind the port serves the sum over all
of them (`MultiProcessCollector`) and the others leave the port to it. A process that exits marks itself
dead, so the live gauges it set (the model it served) disappear. Leave it unset for one process per
container, as in docker-compose.yml.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, CollectorRegistry, multiprocess, start_http_server
from prometheus_client.registry import Collector

from config import configuration_error

logger = logging.getLogger(__name__)

MULTIPROC_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> str | None:
    """The shared directory of multi-process mode, or None in the usual one-process mode."""
    return os.environ.get(MULTIPROC_DIR_VARIABLE) or None


@dataclass
class MetricsServer:
    """What `serve_metrics` started; `close()` it when the process stops."""

    port: int  # 0: metrics not served
    server: WSGIServer | None = None  # None when the port is 0 or another process of the group serves it
    thread: threading.Thread | None = None

    @property
    def serving(self) -> bool:
        return self.server is not None

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
        if multiprocess_dir() is not None:
            multiprocess.mark_process_dead(os.getpid())


def metrics_registry(*collectors: Collector) -> CollectorRegistry:
    """What a scrape reads: this process's metrics (or, in multi-process mode, every process's), then
    `collectors`, read at scrape time."""
    registry = CollectorRegistry()
    if multiprocess_dir() is None:
        registry.register(REGISTRY)
    else:
        multiprocess.MultiProcessCollector(registry)
    for collector in collectors:
        registry.register(collector)
    return registry


def serve_metrics(port: int, *collectors: Collector) -> MetricsServer:
    """Serve /metrics on `port` of every interface (Prometheus scrapes from another container); port 0
    serves nothing. A port in use stops the process with one line, unless in multi-process mode another
    process of the group holds it."""
    if port == 0:
        return MetricsServer(port)
    try:
        server, thread = start_http_server(port, registry=metrics_registry(*collectors))
    except OSError as error:
        if error.errno == errno.EADDRINUSE and multiprocess_dir() is not None:
            logger.info("metrics: port %d is served by another process sharing %s", port, multiprocess_dir())
            return MetricsServer(port)
        raise SystemExit(configuration_error("METRICS_PORT", f"cannot serve on {port}: {error}")) from None
    logger.info("metrics: serving /metrics on port %d", port)
    return MetricsServer(port, server, thread)
