"""Worker throughput: photos/s and latency through Redis + the real worker, against calling the model
directly one photo at a time in one process.

A private `redis-server` and one `scenetag-worker` subprocess (batching on, as deployed) serve a closed
loop of N photos in flight: N client threads each enqueue a photo exactly as the bot does
(`worker.queue.enqueue_photo`), block on its result (`Job.latest_result`, as the bot does), record
enqueue-to-result latency and send the next. The baseline decodes and predicts the same photos one at
a time in this process, with the same thread count. Photos: real MiniPlaces photos from ../shared
scaled to Telegram's usual 1280 px long side and re-encoded as JPEG (synthetic ones if absent); with
`--sizes largest,fit` also as the copy the bot downloads (ml.photo_sizes.fitting_size for the model's input).

How far from the limit: each row shows the GFLOP per photo of the served network (2 x its convolutions' and
linear layers' multiply-adds, times TTA) and the GFLOP/s it reached, against the peak of these cores measured
in the same run with a dense matrix product of the same precision (fp32: torch.mm; int8: ONNX Runtime's
MatMulInteger, the u8 x s8 kernels its quantized convolutions use). "decode" rows time `decode_image` alone
(as the worker calls it); "queue ms" is the part of a photo's latency that is neither decode nor inference
(Redis, RQ, JSON, base64), from the worker's own timings; "job bytes" what RQ stores per queued photo.

    python benchmarks/worker_throughput.py                          # 1, 8, 64 in flight; TTA 1 and 8
    python benchmarks/worker_throughput.py --in-flight 1,8 --tta 1 --device cuda
    # fp32 against int8 (a model file from `ml quantize`), 1280 px against the copy the bot downloads:
    python benchmarks/worker_throughput.py --model runs/int8.pt --backends onnx --precisions fp32,int8 \
        --sizes largest,fit --in-flight 1,8 --tta 1 --threads 2

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
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run as a script: make `tests` and the project importable

from redis import Redis  # noqa: E402

from ml.photo_sizes import TELEGRAM_LONG_SIDES, fitting_size  # noqa: E402
from ml.serving.images import decode_image  # noqa: E402
from tests.services import RedisServer, launch_worker  # noqa: E402
from worker.contract import ClassifyResult  # noqa: E402
from worker.queue import build_request, enqueue_photo, photo_queue  # noqa: E402
from worker.settings import DEFAULT_MODEL_PATH  # noqa: E402

DEFAULT_PHOTOS = REPO.parent / "shared" / "data" / "miniplaces" / "train"
RESULTS = REPO / "benchmarks" / "results"


@dataclass(frozen=True)
class Row:
    # "worker/<backend>[-<precision>]" (Redis + worker process), "direct/torch" (in-process baseline) or
    # "decode" (decode_image alone)
    path: str
    tta: int
    in_flight: int
    photos: int
    wall_s: float
    photos_per_s: float
    p50_ms: float
    p95_ms: float
    mean_batch: float  # photos per forward pass the worker reported (1 for direct)
    photo: str = ""  # the photos' size, e.g. "1280x960"
    queue_ms: float = 0.0  # median latency less the worker's decode and inference time (worker rows)
    gflop_per_photo: float = 0.0  # the network's, times TTA (0 for decode rows)
    gflop_per_s: float = 0.0
    peak_share: float = 0.0  # gflop_per_s over the measured peak of the same precision


def load_photos(folder: Path, count: int, long_side: int, input_side: int | None = None) -> list[bytes]:
    """`count` 4:3 JPEGs: real photos from `folder` scaled up to `long_side`, or smooth synthetic ones; with
    `input_side`, Telegram's copy of each that the bot downloads for a model of that input instead."""
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
        if input_side is not None:
            copies = [(side, side * 3 // 4) for side in TELEGRAM_LONG_SIDES if side <= long_side]
            image = image.resize(copies[fitting_size(copies, input_side)], Image.Resampling.BICUBIC)
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


def photo_size(photos: Sequence[bytes]) -> str:
    with Image.open(io.BytesIO(photos[0])) as image:
        return f"{image.width}x{image.height}"


def network_gflop(model: Path) -> float:
    """GFLOP of one forward pass of the model file's network on one photo: 2 x the multiply-adds of its
    convolutions and linear layers (what the int8 graph computes too; pooling, activations and the
    ensemble's resize are under 1 %)."""
    import torch

    from ml.serving.model import load_model

    network, spec = load_model(model)
    flop = [0]

    def count(module: torch.nn.Module, _: object, output: torch.Tensor) -> None:
        if isinstance(module, torch.nn.Conv2d):
            per_output = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
        else:
            per_output = module.in_features
        flop[0] += 2 * output.numel() * per_output

    handles = [m.register_forward_hook(count) for m in network.modules()
               if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)]
    with torch.inference_mode():
        network(torch.zeros(1, 3, spec.input_size, spec.input_size))
    for handle in handles:
        handle.remove()
    return flop[0] / 1e9


def timed_rate(step: object, flop: float, seconds: float = 2.0) -> float:
    """GFLOP/s of calling `step()` (`flop` each) repeatedly for about `seconds`, after one warm-up call."""
    step()  # type: ignore[operator]
    calls, begin = 0, time.perf_counter()
    while time.perf_counter() - begin < seconds:
        step()  # type: ignore[operator]
        calls += 1
    return calls * flop / (time.perf_counter() - begin) / 1e9


def peak_fp32(threads: int, n: int = 2048) -> float:
    """GFLOP/s of a dense fp32 n x n x n matrix product in torch (MKL/oneDNN) on `threads` threads."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    return timed_rate(lambda: torch.mm(a, b), 2.0 * n**3)


def peak_int8(threads: int, n: int = 2048) -> float:
    """GOP/s of a dense u8 x s8 -> s32 n x n x n matrix product in ONNX Runtime (MatMulInteger: MLAS, the
    VNNI kernels behind its quantized convolutions) on `threads` threads."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from ml.serving.onnx_runtime import cpu_session

    rng = np.random.default_rng(0)
    weights = numpy_helper.from_array(rng.integers(-128, 128, (n, n), dtype=np.int8), "b")
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["a", "b"], ["c"])], "peak",
        [helper.make_tensor_value_info("a", TensorProto.UINT8, [n, n])],
        [helper.make_tensor_value_info("c", TensorProto.INT32, [n, n])], initializer=[weights])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    session = cpu_session(onnx.shape_inference.infer_shapes(model).SerializeToString(), threads)
    a = rng.integers(0, 256, (n, n), dtype=np.uint8)
    return timed_rate(lambda: session.run(None, {"a": a}), 2.0 * n**3)


def run_decode(photos: Sequence[bytes], min_side: int, total: int) -> Row:
    """`decode_image` alone, one photo at a time, as the worker decodes (JPEG draft mode to `min_side`)."""
    latencies = []
    begin = time.perf_counter()
    for index in range(total):
        start = time.perf_counter()
        decode_image(photos[index % len(photos)], min_side=min_side)
        latencies.append((time.perf_counter() - start) * 1000)
    row = summarise("decode", 1, 1, latencies_ms=latencies, wall_s=time.perf_counter() - begin, batch=1.0)
    return replace(row, photo=photo_size(photos))


def job_bytes(redis_url: str, photos: Sequence[bytes]) -> float:
    """Mean bytes RQ stores per queued photo (its job hash's `data` field: the JSON payload with the base64
    photo, zlib-compressed), from photos enqueued on a queue nobody serves."""
    from rq import Queue

    with Redis.from_url(redis_url) as connection:
        queue = Queue("bytes-probe", connection=connection, serializer=photo_queue(connection).serializer)
        sizes = []
        for index, photo in enumerate(photos):
            job = enqueue_photo(queue, build_request(photo, f"size{index}"))
            sizes.append(connection.hstrlen(job.key, "data"))
            job.delete()
        queue.delete()
    return statistics.fmean(sizes)


def run_through_worker(
    redis_url: str, label: str, photos: Sequence[bytes], *, tta: int, in_flight: int, total: int
) -> Row:
    """Closed loop: `in_flight` clients, `total` photos in all."""
    latencies: list[float] = []
    queue_ms: list[float] = []
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
                if parsed.timings:
                    queue_ms.append(elapsed_ms - parsed.timings.decode_ms - parsed.timings.inference_ms)
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
    row = summarise(
        label, tta, in_flight, latencies_ms=latencies, wall_s=wall, batch=statistics.fmean(batches)
    )
    return replace(row, photo=photo_size(photos), queue_ms=statistics.median(queue_ms) if queue_ms else 0.0)


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
    row = summarise(
        "direct/torch", tta, 1, latencies_ms=latencies, wall_s=time.perf_counter() - begin, batch=1.0
    )
    return replace(row, photo=photo_size(photos))


def photos_for(in_flight: int, tta: int, scale: float) -> int:
    """Enough photos to reach a steady state: several rounds of the in-flight window, fewer with TTA 8."""
    base = max(3 * in_flight, 24) if tta == 1 else max(2 * in_flight, 12)
    return max(in_flight, round(base * scale))


def print_table(rows: Sequence[Row], header: bool = True) -> None:
    if header:
        title = (
            f"{'path':<17} {'photo':>9} {'TTA':>3} {'in flight':>9} {'photos':>6} {'photos/s':>9} "
            f"{'p50 ms':>8} {'p95 ms':>8} {'batch':>6} {'queue ms':>8} {'GFLOP/photo':>11} {'GFLOP/s':>8} "
            f"{'of peak':>7}"
        )
        print(title)
        print("-" * len(title))
    for r in rows:
        print(
            f"{r.path:<17} {r.photo:>9} {r.tta:>3} {r.in_flight:>9} {r.photos:>6} {r.photos_per_s:>9.2f} "
            f"{r.p50_ms:>8.0f} {r.p95_ms:>8.0f} {r.mean_batch:>6.1f} {r.queue_ms:>8.1f} "
            f"{r.gflop_per_photo:>11.2f} {r.gflop_per_s:>8.1f} {r.peak_share:>7.1%}"
        )


def with_arithmetic(row: Row, gflop: float, peaks: dict[str, float]) -> Row:
    """`row` with the network's GFLOP per photo, the GFLOP/s reached and its share of the same precision's
    peak (int8 rows against the int8 peak, all others against fp32)."""
    if row.path == "decode":
        return row
    per_photo = gflop * row.tta
    rate = per_photo * row.photos_per_s
    peak = peaks["int8" if row.path.endswith("int8") else "fp32"]
    return replace(row, gflop_per_photo=per_photo, gflop_per_s=rate, peak_share=rate / peak)


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
    plan: Plan, redis_url: str, log_dir: Path, backend: str, *, precision: str,
    photo_sets: Sequence[Sequence[bytes]],
) -> list[Row]:
    """Every photo size x TTA x in-flight scenario through one fresh worker process using `backend` (and, for
    ONNX Runtime, `precision`)."""
    env = {"DEVICE": plan.device, "TORCH_THREADS": str(plan.threads), "OMP_NUM_THREADS": str(plan.threads)}
    env |= {"BACKEND": backend, "BATCH_SIZE": str(plan.batch_size), "PRECISION": precision}
    label = f"worker/{backend}-{precision}" if backend == "onnx" else f"worker/{backend}"
    worker = launch_worker(redis_url, log_dir, model_path=plan.model, **env)
    rows = []
    try:
        worker.wait_ready()
        for photos in photo_sets:
            for tta in plan.ttas:
                for in_flight in plan.in_flights:
                    total = photos_for(in_flight, tta, plan.scale)
                    rows.append(run_through_worker(redis_url, label, photos, tta=tta, in_flight=in_flight,
                                                   total=total))
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
    parser.add_argument("--precisions", default="fp32",
                        help="ONNX Runtime PRECISIONs, fp32 and/or int8 (int8: a model file from "
                        "`ml quantize`; default: fp32)")
    parser.add_argument("--sizes", default="largest",
                        help="photos sent: largest (--long-side) and/or fit (the copy the bot downloads for "
                        "the model's input; default: largest)")
    parser.add_argument("--no-direct", action="store_true", help="skip the in-process torch baseline")
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
    model_before = model_description(args.model)
    input_side = int(model_before["input_size"])  # type: ignore[call-overload]
    sizes = args.sizes.split(",")
    if unknown := set(sizes) - {"largest", "fit"}:
        raise SystemExit(f"--sizes: unknown {sorted(unknown)}; use largest and/or fit")
    photo_sets = [load_photos(args.photos, 32, args.long_side, input_side if size == "fit" else None)
                  for size in sizes]
    load_before = os.getloadavg()
    # The peaks first, back to back with the rows, on the same threads.
    peaks = {"fp32": peak_fp32(args.threads), "int8": peak_int8(args.threads)}
    print(f"peak on {args.threads} threads: fp32 {peaks['fp32']:.0f} GFLOP/s (torch.mm), "
          f"int8 {peaks['int8']:.0f} GOP/s (ONNX Runtime MatMulInteger)")
    gflop = network_gflop(args.model)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="scenetag-bench-") as tmp:
        server = RedisServer(Path(tmp))
        server.start()
        try:
            bytes_per_job = {photo_size(p): job_bytes(server.url(), p) for p in photo_sets}
            for backend in args.backends.split(","):
                for precision in args.precisions.split(",") if backend == "onnx" else ["auto"]:
                    rows += run_worker_scenarios(plan, server.url(), Path(tmp), backend, precision=precision,
                                                 photo_sets=photo_sets)
        finally:
            server.stop()
        for photos in photo_sets:
            rows.append(run_decode(photos, 2 * input_side, photos_for(1, 1, plan.scale)))
        for tta in plan.ttas if not args.no_direct else ():
            total = photos_for(1, tta, plan.scale)
            rows.append(run_direct(plan.model, plan.device, photo_sets[0], tta, total))
    rows = [with_arithmetic(row, gflop, peaks) for row in rows]
    print()
    print_table(rows)
    print("\nbytes RQ stores per queued photo: "
          + ", ".join(f"{size} {value / 1000:.1f} kB" for size, value in bytes_per_job.items()))
    out = args.out or RESULTS / f"worker_throughput_{args.device}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "command": " ".join(sys.argv),
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "torch": torch.__version__},
        "model": model_before,
        "torch_threads": args.threads,
        "batch_size": args.batch_size,
        "photo_long_side": args.long_side,
        "network_gflop_per_photo": gflop,
        "peak_gflop_per_s": peaks,
        "job_bytes": bytes_per_job,
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
