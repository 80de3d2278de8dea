"""Worker throughput: photos/s and latency through Redis + the real worker, against calling the model
directly one photo at a time in one process.

A private `redis-server` and one `scenetag-worker` subprocess (batching on, as deployed) serve a closed
loop of N photos in flight: N client threads each enqueue a photo exactly as the bot does
(`worker.queue.enqueue_photo`), block on its result (`Job.latest_result`, as the bot does), record
enqueue-to-result latency and send the next. The baseline decodes and predicts the same photos one at
a time in this process, with the same thread count. Photos: real MiniPlaces photos from ../shared
scaled to Telegram's usual 1280 px long side and re-encoded as JPEG (synthetic ones if absent).

    python benchmarks/worker_throughput.py                          # 1, 8, 64 in flight; TTA 1 and 8
    python benchmarks/worker_throughput.py --in-flight 1,8 --tta 1 --device cuda

Prints a table and writes JSON to benchmarks/results/worker_throughput_<device>.json. On a shared
machine other processes compete for the CPU: the JSON records the load average before and after.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run as a script: make `tests` and the project importable

from redis import Redis  # noqa: E402

from ml.serving.images import decode_image  # noqa: E402
from tests.services import RedisServer, launch_worker  # noqa: E402
from worker.contract import ClassifyResult  # noqa: E402
from worker.queue import build_request, enqueue_photo, photo_queue  # noqa: E402
from worker.settings import DEFAULT_MODEL_PATH  # noqa: E402

DEFAULT_PHOTOS = REPO.parent / "shared" / "data" / "miniplaces" / "train"
RESULTS = REPO / "benchmarks" / "results"


@dataclass(frozen=True)
class Row:
    path: str  # "worker/<backend>" (Redis + worker process) or "direct/torch" (in-process baseline)
    tta: int
    in_flight: int
    photos: int
    wall_s: float
    photos_per_s: float
    p50_ms: float
    p95_ms: float
    mean_batch: float  # photos per forward pass the worker reported (1 for direct)


def load_photos(folder: Path, count: int, long_side: int) -> list[bytes]:
    """`count` JPEGs: real photos from `folder` scaled up to `long_side`, or smooth synthetic ones."""
    every = sorted(folder.rglob("*.jpg"))
    files = every[:: max(1, len(every) // count)][:count]  # spread over the scene classes
    photos = []
    rng = np.random.default_rng(0)
    for index in range(count):
        if files:
            image = Image.open(files[index % len(files)]).convert("RGB")
        else:  # a smooth random field compresses like a photo, unlike pixel noise
            image = Image.fromarray(rng.integers(0, 255, (6, 8, 3), dtype=np.uint8))
        image = image.resize((long_side, long_side * 3 // 4), Image.Resampling.BICUBIC)
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=87)
        photos.append(buffer.getvalue())
    return photos


def p95(ordered: Sequence[float]) -> float:
    """The 95th percentile of sorted values (the nearest rank)."""
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def summarise(
    path: str, tta: int, in_flight: int, *, latencies_ms: Sequence[float], wall_s: float, batch: float
) -> Row:
    ordered = sorted(latencies_ms)
    return Row(
        path,
        tta,
        in_flight,
        len(ordered),
        wall_s,
        len(ordered) / wall_s,
        statistics.median(ordered),
        p95(ordered),
        batch,
    )


def run_through_worker(
    redis_url: str, backend: str, photos: Sequence[bytes], *, tta: int, in_flight: int, total: int
) -> Row:
    """Closed loop: `in_flight` clients, `total` photos in all."""
    latencies: list[float] = []
    batches: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    counter = iter(range(total))

    def client() -> None:
        try:
            serve_photos()
        except BaseException as exc:  # re-raised in the main thread
            errors.append(exc)

    def serve_photos() -> None:
        connection = Redis.from_url(redis_url, socket_timeout=10)
        queue = photo_queue(connection)
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                break
            begin = time.perf_counter()
            job = enqueue_photo(queue, build_request(photos[index % len(photos)], f"b{index}", tta=tta))
            result = None
            while result is None and time.perf_counter() - begin < 600:
                result = job.latest_result(timeout=1)  # short blocking reads, as the bot does
            elapsed_ms = (time.perf_counter() - begin) * 1000
            if result is None or result.type != result.Type.SUCCESSFUL:
                raise RuntimeError(f"photo {index}: no successful result ({result and result.exc_string})")
            parsed = ClassifyResult.model_validate(result.return_value)
            if not parsed.ok:
                raise RuntimeError(f"photo {index}: {parsed.error} {parsed.error_detail}")
            with lock:
                latencies.append(elapsed_ms)
                batches.append(parsed.timings.batch_photos if parsed.timings else 1)
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(in_flight)]
    begin = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - begin
    if errors:
        raise errors[0]
    path = f"worker/{backend}"
    return summarise(
        path, tta, in_flight, latencies_ms=latencies, wall_s=wall, batch=statistics.fmean(batches)
    )


def run_direct(model: Path, device: str, photos: Sequence[bytes], tta: int, total: int) -> Row:
    """Baseline: decode + predict one photo at a time in this process."""
    from ml.serving.loading import load_classifier

    classifier = load_classifier(model, device, backend="torch")
    classifier.warmup()
    latencies = []
    begin = time.perf_counter()
    for index in range(total):
        start = time.perf_counter()
        classifier.predict([decode_image(photos[index % len(photos)])], tta=tta)
        latencies.append((time.perf_counter() - start) * 1000)
    return summarise(
        "direct/torch", tta, 1, latencies_ms=latencies, wall_s=time.perf_counter() - begin, batch=1.0
    )


def photos_for(in_flight: int, tta: int, scale: float) -> int:
    """Enough photos to reach a steady state: several rounds of the in-flight window, fewer with TTA 8."""
    base = max(3 * in_flight, 24) if tta == 1 else max(2 * in_flight, 12)
    return max(in_flight, round(base * scale))


def print_table(rows: Sequence[Row], header: bool = True) -> None:
    if header:
        title = (
            f"{'path':<12} {'TTA':>3} {'in flight':>9} {'photos':>6} {'photos/s':>9} "
            f"{'p50 ms':>8} {'p95 ms':>8} {'batch':>6}"
        )
        print(title)
        print("-" * len(title))
    for r in rows:
        print(
            f"{r.path:<12} {r.tta:>3} {r.in_flight:>9} {r.photos:>6} {r.photos_per_s:>9.2f} "
            f"{r.p50_ms:>8.0f} {r.p95_ms:>8.0f} {r.mean_batch:>6.1f}"
        )


@dataclass(frozen=True)
class Plan:
    """What to measure, from the command line."""

    model: Path
    device: str
    threads: int
    batch_size: int
    ttas: tuple[int, ...]
    in_flights: tuple[int, ...]
    scale: float


def run_worker_scenarios(
    plan: Plan, redis_url: str, log_dir: Path, backend: str, photos: Sequence[bytes]
) -> list[Row]:
    """Every TTA x in-flight scenario through one fresh worker process using `backend`."""
    env = {"DEVICE": plan.device, "TORCH_THREADS": str(plan.threads), "OMP_NUM_THREADS": str(plan.threads)}
    env |= {"BACKEND": backend, "BATCH_SIZE": str(plan.batch_size)}
    worker = launch_worker(redis_url, log_dir, model_path=plan.model, **env)
    rows = []
    try:
        worker.wait_ready()
        for tta in plan.ttas:
            for in_flight in plan.in_flights:
                total = photos_for(in_flight, tta, plan.scale)
                rows.append(
                    run_through_worker(redis_url, backend, photos, tta=tta, in_flight=in_flight, total=total)
                )
                print_table(rows[-1:], header=False)
    finally:
        worker.terminate()
    return rows


def model_description(path: Path) -> dict[str, object]:
    from ml.serving.model import file_version, read_model_file

    spec, _ = read_model_file(path)
    return {
        "path": str(path),
        "version": file_version(path),
        "backbone": spec.backbone,
        "input_size": spec.input_size,
    }


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", type=Path, default=DEFAULT_MODEL_PATH, help="model file (default: shipped)"
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default: cpu)")
    parser.add_argument("--in-flight", default="1,8,64", help="photos in flight (default: 1,8,64)")
    parser.add_argument("--tta", default="1,8", help="test-time copies (default: 1,8)")
    parser.add_argument(
        "--threads", type=int, default=os.cpu_count() or 1, help="torch threads (default: cores)"
    )
    parser.add_argument("--backends", default="onnx,torch", help="worker BACKENDs (default: onnx,torch)")
    parser.add_argument("--batch-size", type=int, default=16, help="worker BATCH_SIZE (default: 16)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply photos per scenario (default: 1)")
    parser.add_argument(
        "--photos", type=Path, default=DEFAULT_PHOTOS, help="folder of JPEGs (default: MiniPlaces)"
    )
    parser.add_argument("--long-side", type=int, default=1280, help="photo size sent (default: 1280)")
    parser.add_argument(
        "--out", type=Path, default=None, help="JSON path (default: results/worker_throughput_<device>.json)"
    )
    return parser


def main(args: argparse.Namespace) -> int:
    if not args.model.is_file():
        raise SystemExit(f"no model file at {args.model}")
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import torch

    torch.set_num_threads(args.threads)
    plan = Plan(
        model=args.model,
        device=args.device,
        threads=args.threads,
        batch_size=args.batch_size,
        ttas=tuple(int(v) for v in args.tta.split(",")),
        in_flights=tuple(int(v) for v in args.in_flight.split(",")),
        scale=args.scale,
    )
    photos = load_photos(args.photos, 32, args.long_side)
    load_before = os.getloadavg()
    model_before = model_description(args.model)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="scenetag-bench-") as tmp:
        server = RedisServer(Path(tmp))
        server.start()
        try:
            for backend in args.backends.split(","):
                rows += run_worker_scenarios(plan, server.url(), Path(tmp), backend, photos)
        finally:
            server.stop()
        for tta in plan.ttas:
            rows.append(run_direct(plan.model, plan.device, photos, tta, photos_for(1, tta, plan.scale)))
    print()
    print_table(rows)
    out = args.out or RESULTS / f"worker_throughput_{args.device}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "command": " ".join(sys.argv),
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "torch": torch.__version__},
        "model": model_before,
        "torch_threads": args.threads,
        "batch_size": args.batch_size,
        "photo_long_side": args.long_side,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "rows": [asdict(r) for r in rows],
    }
    if model_description(args.model) != model_before:
        report["warning"] = "the model file changed during the run: rows may mix two models"
        print(f"\nWARNING: {report['warning']}")
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
