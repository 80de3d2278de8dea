"""`scenetag-worker`: serve the photo queue with the model loaded once.

Usage: `scenetag-worker [--burst]`; configuration from the environment (see `WorkerSettings`).
The equivalent with RQ's own CLI (the model then loads from the same variables at worker start):

    rq worker --url "$REDIS_URL" -w worker.batching.BatchingWorker -j worker.queue.ContractJob
              --serializer rq.serializers.JSONSerializer scenetag

(`-j`: RQ's registry cleanup then resolves callbacks through `ContractJob` too; the worker itself always
does, whatever `-j` says.)
"""

from __future__ import annotations

import argparse
import logging
import sys

from rq.serializers import JSONSerializer

from config import configuration_error
from config.clients import connected
from config.exposition import serve_metrics
from ml.serving import UnsafeCacheDir, private_dir
from worker.batching import BatchingWorker
from worker.jobs import ModelService
from worker.queue import photo_queue
from worker.settings import WorkerSettings

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scenetag-worker", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--burst", action="store_true", help="exit when the queue is empty (default: run forever)"
    )
    parser.add_argument("--name", default=None, help="worker name shown by RQ (default: random)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = WorkerSettings.from_env()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not settings.model_path.is_file():
        raise SystemExit(configuration_error("MODEL_PATH", f"no model file at {settings.model_path}"))
    caches = {"ONNX_CACHE_DIR": settings.onnx_cache_dir, "MODEL_CACHE_DIR": settings.model_cache_dir}
    for variable, folder in caches.items():
        try:
            private_dir(folder)  # what lies there is loaded as a model
        except (UnsafeCacheDir, OSError) as exc:
            raise SystemExit(configuration_error(variable, str(exc))) from None
    # no socket timeout: RQ's blocking dequeue waits on this connection
    connection = connected(settings.redis_url, socket_timeout=None)
    models = ModelService(settings)
    try:
        models.load(connection)  # before /metrics answers: a worker that answers is one that can classify
    except ValueError as exc:  # e.g. PRECISION=int8 for a file without an int8 graph
        raise SystemExit(f"cannot serve the model: {exc}") from None
    metrics_server = serve_metrics(settings.metrics_port)
    worker = BatchingWorker(
        [photo_queue(connection)],
        name=args.name,
        connection=connection,
        serializer=JSONSerializer,
        maintenance_interval=settings.maintenance_interval,
        batch_size=settings.batch_size,
        abandon_grace_s=settings.abandon_grace_s,
        models=models,
    )
    try:
        worker.work(burst=args.burst, logging_level=settings.log_level)
    finally:
        metrics_server.close()
    if not args.burst and not worker.stop_signalled:
        # so a supervisor (compose's restart policy, systemd) restarts a worker whose loop died
        logger.error("the RQ work loop ended without a stop request (see above); exiting with status 1")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
