"""The photo queue as RQ sees it, read through RQ's own API (sync: call it in a worker thread)."""

from __future__ import annotations

from dataclasses import dataclass

from redis import Redis

from worker.queue import live_workers, photo_queue


@dataclass(frozen=True)
class QueueState:
    queued: int  # waiting for a worker
    started: int  # being classified now
    failed: int  # in RQ's FailedJobRegistry (kept for a week)
    workers: int  # registered workers listening on the queue


def queue_state(connection: Redis) -> QueueState:
    queue = photo_queue(connection)
    return QueueState(
        queued=queue.count,
        started=queue.started_job_registry.count,
        failed=queue.failed_job_registry.count,
        workers=live_workers(queue),  # a SIGKILLed worker's stale registration is not counted
    )
