"""`BatchingWorker`: an RQ worker that classifies the photos waiting on its queue in one forward pass.

RQ runs one job at a time and has no batching (rq issue #928). This worker keeps RQ's model and
adds one step: when it dequeues a photo job it also claims up to `batch_size - 1` more waiting jobs
of the same queue with RQ's own dequeue primitive (`Queue.lmove`, which parks them in RQ's
intermediate queue), registers an RQ execution for each (so they sit in the StartedJobRegistry with
a heartbeat and a dead worker's jobs are found abandoned and retried or failed by RQ's cleanup),
classifies them together, then finishes each job through RQ's ordinary `perform_job` (timeouts,
results, registries, retries, callbacks), which just picks up the precomputed result.

It never forks (a `SimpleWorker`): the model stays loaded, and CUDA cannot be re-initialised in a
forked child (rq issue #1088). SIGTERM finishes the batch in hand, then exits (RQ's warm shutdown).

Before each dequeue, with no job in hand, it follows the model registry (`ml promote`, `ml rollback`):
one GET when nothing changed; new versions load in the background (`worker.models.RegistryFollower`) and
it switches to them at such a check, so a batch always finishes on the models it started with.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.client import Pipeline
from rq import Queue, SimpleWorker, worker_registration
from rq.exceptions import DeserializationError, NoSuchJobError
from rq.executions import Execution
from rq.job import Job
from rq.timeouts import JobTimeoutException
from rq.utils import as_text
from rq.worker import WorkerStatus

from worker import jobs, metrics
from worker.contract import MODEL_INFO_KEY
from worker.queue import ContractJob

DEFAULT_BATCH_SIZE = 16
DEFAULT_ABANDON_GRACE_S = 60  # RQ's SimpleWorker uses job timeout + 60 s too
# RQ's default (420 s) keeps a SIGKILLed worker's registration for 8 minutes, during which the bot counts it
# as serving and users wait for a timeout instead of hearing "busy"; heartbeats come at least every
# maintenance interval (dequeue_timeout below), so 60 s (key lifetime 120 s) is ample.
DEFAULT_WORKER_TTL_S = 60
# An idle worker stops waiting for a photo this often to look for a promoted model (one GET).
MODEL_CHECK_INTERVAL_S = 5


class BatchingWorker(SimpleWorker):
    """A non-forking RQ worker that classifies up to `batch_size` waiting photos per forward pass. It runs
    only photo jobs: `ContractJob` refuses any other function or callback before importing it."""

    job_class = ContractJob

    def __init__(
        self,
        *args: Any,
        batch_size: int = DEFAULT_BATCH_SIZE,
        abandon_grace_s: int = DEFAULT_ABANDON_GRACE_S,
        models: jobs.ModelService | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("worker_ttl", DEFAULT_WORKER_TTL_S)
        super().__init__(*args, **kwargs)
        if not issubclass(self.job_class, ContractJob):  # `rq worker` passes RQ's Job unless told -j
            self.job_class = ContractJob
        self.batch_size = batch_size
        # The models this worker serves: scenetag-worker's, built from its settings, or (under a plain
        # `rq worker -w ...`) the process's, built from the environment.
        self.models = models if models is not None else jobs.installed()
        self.abandon_grace_s = abandon_grace_s
        self.stop_signalled = False

    def request_stop(self, signum: int, frame: Any) -> None:
        # RQ's work() returns normally both after a stop signal and when its loop gives up on an unhandled
        # error; remembering the signal lets scenetag-worker exit non-zero in the second case.
        self.stop_signalled = True
        super().request_stop(signum, frame)

    def bootstrap(self, *args: Any, **kwargs: Any) -> None:
        # Load and warm up the models before registering: the registry's active version (and canary), else
        # MODEL_PATH (a no-op when already installed), so a bad MODEL_PATH fails before this worker
        # announces itself in Redis.
        jobs.install(self.models)  # the service RQ's job function finds
        self.models.load(self.connection)
        self.publish_model_info()
        super().bootstrap(*args, **kwargs)

    def publish_model_info(self) -> None:
        """Tell the bot (and operators) what this worker's models can suggest."""
        info = jobs.model_info(self.models.serving)
        self.connection.set(MODEL_INFO_KEY, info.model_dump_json())
        metrics.record_serving_model(info)

    @property
    def dequeue_timeout(self) -> int:
        # RQ blocks ~7 minutes on an idle queue and runs maintenance only between blocks; wake up every
        # maintenance interval instead, so an idle worker soon finds a dead worker's jobs, and every few
        # seconds to follow the model registry.
        return max(1, min(super().dequeue_timeout, self.maintenance_interval, MODEL_CHECK_INTERVAL_S))

    def dequeue_job_and_maintain_ttl(
        self, timeout: int | None, max_idle_time: int | None = None
    ) -> tuple[Job, Queue] | None:
        # RQ waits for a photo in a loop of its own; bounding each wait by `timeout` (as an idle limit)
        # brings an idle worker back here, where no job is in hand, to follow the registry.
        while True:
            if self.models.follow_registry(self.connection):
                self.publish_model_info()
            if timeout is None or max_idle_time is not None:  # burst mode, or the caller limits idling
                return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
            result = super().dequeue_job_and_maintain_ttl(timeout, max_idle_time=timeout)
            if result is not None:
                return result

    def heartbeat(self, timeout: int | None = None, pipeline: Pipeline | None = None) -> None:
        if pipeline is None and not self.connection.exists(self.key):
            # Redis lost its data (restarted without persistence): announce this worker again, or
            # clients that check for a live worker (the bot does) would see none until a restart.
            self.log.warning("Worker %s: registration missing in Redis; registering again", self.name)
            with self.connection.pipeline() as registration:
                registration.hset(self.key, mapping=self.serialize())
                worker_registration.register(self, registration)
                registration.execute()
        super().heartbeat(timeout, pipeline)

    def get_heartbeat_ttl(self, job: Job) -> int:
        """How long a started job may go without news before RQ's cleanup calls it abandoned."""
        return int(job.timeout or self.queue_class.DEFAULT_TIMEOUT) + self.abandon_grace_s

    def execute_job(self, job: Job, queue: Queue) -> None:
        # Registered (and the worker BUSY) first: a SIGTERM from here on waits for the whole batch.
        executions = {job.id: self.prepare_execution(job)}
        batch = [job]
        for extra in self.claim_waiting(queue, self.batch_size - 1):
            executions[extra.id] = self.prepare_execution(extra)
            batch.append(extra)
        try:
            self.classify_ahead(batch)
            for member in batch:
                self.execution = executions[member.id]
                self.refresh_execution(self.execution, member, queue)
                self.perform_job(member, queue)
        finally:
            self.models.discard_ahead()
        self.set_state(WorkerStatus.IDLE)

    def claim_waiting(self, queue: Queue, limit: int) -> list[Job]:
        """Take up to `limit` jobs waiting on `queue` now, without blocking, as RQ's dequeue would."""
        # The same choice `Queue.dequeue_any` makes: BLMOVE into the intermediate queue for one queue.
        via_intermediate = len(self.queues) == 1 and self.get_redis_server_version() >= (6, 2, 0)
        claimed: list[Job] = []
        while len(claimed) < limit:
            if via_intermediate:
                popped = self.queue_class.lmove(self.connection, queue.key, None)
            else:
                popped = self.queue_class.lpop([queue.key], None, connection=self.connection)
            if popped is None:
                break
            job_id = as_text(popped[1])
            try:
                job = self.job_class.fetch(job_id, connection=self.connection, serializer=self.serializer)
            except NoSuchJobError:  # expired by its queue TTL while waiting: RQ drops it
                if via_intermediate:
                    queue.intermediate_queue.remove(job_id)
                continue
            claimed.append(job)
        if claimed:
            self.log.info("Worker %s: claimed %d more waiting job(s) for one batch", self.name, len(claimed))
        return claimed

    def classify_ahead(self, batch: Sequence[Job]) -> None:
        """Classify the batch's photo jobs in one pass. On any failure, log it and leave each job to
        classify itself inside `perform_job`, so one bad job cannot fail the others."""
        payloads: dict[str, object] = {}
        for member in batch:
            try:
                if isinstance(member, ContractJob) and member.refusal() is None and len(member.args) == 1:
                    payloads[member.id] = member.args[0]
            except DeserializationError:
                continue  # perform_job fails it with the reason
        if len(payloads) < 2:
            return  # a single photo is classified by its own job, under RQ's timeout as usual
        timeout = max(member.timeout or self.queue_class.DEFAULT_TIMEOUT for member in batch)
        try:
            with self.death_penalty_class(timeout, JobTimeoutException):
                self.models.classify_ahead(payloads)
        except Exception:
            count = len(payloads)
            self.log.exception("Worker %s: batch of %d failed; running its jobs one by one", self.name, count)

    def refresh_execution(self, execution: Execution, job: Job, queue: Queue) -> None:
        """Restart a claimed job's heartbeat clock just before it runs (it may have waited for the batch)."""
        with self.connection.pipeline() as pipeline:
            execution.heartbeat(queue.started_job_registry, self.get_heartbeat_ttl(job), pipeline)
            pipeline.execute()
