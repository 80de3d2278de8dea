"""What users see while `ml promote` switches a running worker to a new model: photo latency and throughput
before the promote (the baseline, in the same run), while the worker fetches, exports and loads the new
version in the background, and after it switched; how long the switch took; and whether any photo was lost.

A private `redis-server` and one `scenetag-worker` subprocess serve a closed loop of N clients, each
enqueueing a photo as the bot does and waiting for its result. After `--before` seconds the candidate is
promoted (in this process, as an operator would run `ml promote`); the run goes on until the worker has
answered with the candidate for `--after` seconds. The candidate is the model re-saved under another
training note: the same network under a new version, so the switch costs what a real one costs (download,
hash check, ONNX export, load, warm-up).

    python benchmarks/model_switch.py                       # shipped model, 4 in flight, 2 threads
    python benchmarks/model_switch.py --in-flight 8 --threads 1

Prints a table and writes JSON to benchmarks/results/model_switch.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run as a script: make `tests` and the project importable

from redis import Redis  # noqa: E402
from worker_throughput import DEFAULT_PHOTOS, RESULTS, load_photos, p95  # noqa: E402

from ml.cli import main as ml  # noqa: E402
from ml.serving.model import file_version, read_model_file, save_with_spec  # noqa: E402
from tests.services import RedisServer, launch_worker  # noqa: E402
from worker.contract import ClassifyResult  # noqa: E402
from worker.queue import build_request, enqueue_photo, photo_queue  # noqa: E402
from worker.settings import DEFAULT_MODEL_PATH  # noqa: E402


@dataclass(frozen=True)
class Answer:
    sent_s: float  # since the run began
    done_s: float
    version: str


@dataclass(frozen=True)
class Phase:
    name: str
    photos: int
    photos_per_s: float
    p50_ms: float
    p95_ms: float
    max_ms: float
    versions: str


def candidate_copy(model: Path, out: Path) -> Path:
    """The same network under a new version (its file differs only in the training note)."""
    spec, state = read_model_file(model)
    spec.train_command = f"{spec.train_command} [model_switch benchmark copy]"
    save_with_spec(out, spec, state)
    return out


class Clients:
    """`n` threads, each sending a photo and waiting for its answer, until `stop()`."""

    def __init__(self, redis_url: str, photos: Sequence[bytes], n: int) -> None:
        self.answers: list[Answer] = []
        self.failures: list[str] = []
        self.began = time.perf_counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(redis_url, photos, i)) for i in range(n)]

    def start(self) -> None:
        self.began = time.perf_counter()
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def versions_seen(self) -> set[str]:
        with self._lock:
            return {answer.version for answer in self.answers}

    def _run(self, redis_url: str, photos: Sequence[bytes], offset: int) -> None:
        with Redis.from_url(redis_url, socket_timeout=10) as connection:
            queue = photo_queue(connection)
            index = offset
            while not self._stop.is_set():
                sent = time.perf_counter() - self.began
                job = enqueue_photo(queue, build_request(photos[index % len(photos)], f"switch-{index}"))
                result = None
                while result is None and time.perf_counter() - self.began - sent < 120:
                    result = job.latest_result(timeout=1)
                parsed = ClassifyResult.model_validate(result.return_value) if result is not None else None
                with self._lock:
                    if parsed is None or not parsed.ok:
                        why = result.exc_string if result is not None and result.exc_string else parsed
                        self.failures.append(f"photo {index}: {why}")
                    else:
                        done = time.perf_counter() - self.began
                        self.answers.append(Answer(sent, done, parsed.model_version))
                index += len(self._threads)


def phase(name: str, answers: Sequence[Answer], seconds: float) -> Phase:
    latencies = sorted((a.done_s - a.sent_s) * 1000 for a in answers)
    if not latencies:
        return Phase(name, 0, 0.0, 0.0, 0.0, 0.0, "")
    versions = ", ".join(sorted({a.version for a in answers}))
    return Phase(name, len(latencies), len(latencies) / seconds, statistics.median(latencies), p95(latencies),
                 latencies[-1], versions)


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.1)


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_PATH,
                        help="model file (default: shipped)")
    parser.add_argument("--in-flight", type=int, default=4, help="clients, one photo each (default: 4)")
    parser.add_argument("--threads", type=int, default=2, help="the worker's TORCH_THREADS (default: 2)")
    parser.add_argument("--before", type=float, default=20.0, help="seconds before the promote (default: 20)")
    parser.add_argument("--after", type=float, default=20.0,
                        help="seconds after the first answer by the candidate (default: 20)")
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS,
                        help="folder of JPEGs (default: MiniPlaces)")
    parser.add_argument("--out", type=Path, default=RESULTS / "model_switch.json", help="JSON path")
    return parser


def main(args: argparse.Namespace) -> int:
    photos = load_photos(args.photos, 32, 1280)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="scenetag-switch-") as tmp:
        folder = Path(tmp)
        candidate = candidate_copy(args.model, folder / "candidate.pt")
        incumbent_version, candidate_version = file_version(args.model), file_version(candidate)
        server = RedisServer(folder)
        server.start()
        os.environ["REDIS_URL"] = server.url()  # for `ml promote`, as an operator's shell has it
        worker = launch_worker(server.url(), folder, model_path=args.model, TORCH_THREADS=str(args.threads),
                               OMP_NUM_THREADS=str(args.threads), MODEL_CACHE_DIR=str(folder / "models"),
                               ONNX_CACHE_DIR=str(folder / "onnx"))
        clients = Clients(server.url(), photos, args.in_flight)
        try:
            worker.wait_ready()
            assert ml(["promote", str(args.model)]) == 0  # the registry starts at what the worker serves
            clients.start()
            time.sleep(args.before)
            promoted_s = time.perf_counter() - clients.began
            assert ml(["promote", str(candidate)]) == 0
            promote_command_s = time.perf_counter() - clients.began - promoted_s
            wait_until(lambda: candidate_version in clients.versions_seen(), 600,
                       "an answer by the candidate")
            switched_s = min(a.done_s for a in clients.answers if a.version == candidate_version)
            time.sleep(args.after)
        finally:
            clients.stop()
            worker.terminate()
            server.stop()
    ended_s = max(a.done_s for a in clients.answers)
    phases = [
        phase("before the promote", [a for a in clients.answers if a.done_s < promoted_s], promoted_s),
        phase("promote -> switch", [a for a in clients.answers if promoted_s <= a.done_s < switched_s],
              switched_s - promoted_s),
        phase("after the switch", [a for a in clients.answers if a.done_s >= switched_s],
              ended_s - switched_s),
    ]
    old_after = sum(a.version == incumbent_version and a.sent_s > switched_s for a in clients.answers)
    print(f"\nincumbent {incumbent_version}, candidate {candidate_version}; {args.in_flight} in flight, "
          f"worker TORCH_THREADS {args.threads}")
    print(f"{'phase':<20} {'photos':>7} {'photos/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  versions")
    for row in phases:
        print(f"{row.name:<20} {row.photos:>7} {row.photos_per_s:>9.2f} {row.p50_ms:>8.0f} "
              f"{row.p95_ms:>8.0f} {row.max_ms:>8.0f}  {row.versions}")
    print(f"switch: {switched_s - promoted_s:.1f} s from the promote to the candidate's first answer "
          f"(`ml promote` itself {promote_command_s:.1f} s); failed or lost photos: {len(clients.failures)}; "
          f"sent after the switch but answered by the incumbent: {old_after}")
    report = {
        "command": " ".join(sys.argv),
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
        "model": str(args.model), "incumbent": incumbent_version, "candidate": candidate_version,
        "in_flight": args.in_flight, "worker_threads": args.threads,
        "switch_s": switched_s - promoted_s, "promote_command_s": promote_command_s,
        "failures": clients.failures, "sent_after_switch_answered_by_incumbent": old_after,
        "phases": [asdict(row) for row in phases],
        "load_average_before": load_before, "load_average_after": os.getloadavg(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 1 if clients.failures else 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
