"""End-to-end photo-to-reply latency: simulated users -> fake Bot API -> real bot -> Redis -> real worker.

Every piece but Telegram is the production one, each in its own process as deployed: a private
`redis-server`, one `scenetag-worker` (restarted per TTA), one `scenetag-bot` long-polling the fake Bot
API server that this script runs. Each simulated user sends a photo in their private chat, waits for the
bot's reply, then sends the next (a closed loop). Latency runs from the moment the photo's update is
queued at the fake server to the moment the bot's reply arrives there, so it includes the bot's long
poll, getFile and download, the queue, the worker's decode and TTA inference, and sendMessage.

    python benchmarks/e2e_latency.py                      # 1, 5, 20 users; TTA 1 and 8
    python benchmarks/e2e_latency.py --users 1,5 --tta 1 --photos-per-user 3

Per TTA it also measures the worker alone, fed the photos the bot downloads (Telegram's copy that fits the
model's input, ml.photo_sizes) straight through the queue, with `--in-flight` (20) photos outstanding and
with one, and prints the bot path's share of capacity: replies/s with that many users divided by the
worker's photos/s (1.0: the bot costs nothing; the rest is what the bot side costs), and one user's p50
over the worker's p50 with one photo in flight, both against the same worker in the same run.

Every process shares the machine's cores, as they would on one box. For every measured stretch it also
prints each process's CPU milliseconds per photo (/proc: the benchmark process, which is the fake Bot API
server and the simulated users, the bot, redis-server, the worker, and "other": the rest of the machine,
e.g. other work running meanwhile): what tells how much of the gap the fake Telegram costs, which
production does not pay, and whether the cores were saturated.

Prints tables and writes JSON to benchmarks/results/e2e_latency.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from io import BytesIO
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run as a script: make `tests` and the project importable

from redis import Redis  # noqa: E402

from bot.i18n import text  # noqa: E402
from ml.photo_sizes import fitting_size  # noqa: E402
from tests.fake_telegram import FakeTelegram, User  # noqa: E402
from tests.fake_telegram.objects import FileStore  # noqa: E402
from tests.services import BotProcess, RedisServer, WorkerProcess, launch_bot, launch_worker  # noqa: E402
from worker.contract import RESULTS_STREAM  # noqa: E402
from worker.queue import build_request, enqueue_photo, photo_queue  # noqa: E402
from worker.settings import DEFAULT_MODEL_PATH  # noqa: E402

DEFAULT_PHOTOS = REPO.parent / "shared" / "data" / "miniplaces" / "train"
BOT_START_TIMEOUT_S = 120.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")  # /proc's CPU times are in these


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system, all threads) process `pid` has used so far, from /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) ": the name may hold spaces
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime (fields 14 and 15)


def machine_busy_s() -> float:
    """CPU seconds all cores have spent not idle so far (/proc/stat), whoever ran."""
    cpu = Path("/proc/stat").read_text().split()  # the first line: "cpu" and the totals of all cores
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, cpu[1:9])
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


class CpuMeter:
    """CPU time of the benchmark's processes over a measured stretch, per photo: every process shares the
    machine's cores, so this says where the photos' CPU goes (the benchmark process itself is the fake Bot API
    server and the simulated users, which production does not pay for). "other" is what the machine spent
    beyond them: other sessions' work, the kernel's."""

    def __init__(self, pids: dict[str, int]) -> None:
        self._pids = pids
        self._start: dict[str, float] = {}

    def start(self) -> None:
        self._start = self._read()

    def per_photo_ms(self, photos: int) -> dict[str, float]:
        """Each process's CPU milliseconds per photo since `start`, then "other"."""
        now = self._read()
        used = {name: now[name] - self._start[name] for name in now}
        used["other"] = used.pop("machine") - sum(used.values())
        return {name: round(seconds * 1000 / photos, 2) for name, seconds in used.items()}

    def _read(self) -> dict[str, float]:
        return {**{name: process_cpu_s(pid) for name, pid in self._pids.items()}, "machine": machine_busy_s()}


@dataclass(frozen=True)
class Row:
    tta: int
    users: int
    photos: int
    wall_s: float
    replies_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    pickup_p50_ms: float  # of which: until the bot fetched the photo (long poll + handler start)
    busy_or_timeout: int  # replies saying "busy" or "timed out" instead of a classification
    cpu_ms_per_photo: dict[str, float]  # per process (CpuMeter)


@dataclass(frozen=True)
class Plan:
    """What to measure, from the command line."""

    users: tuple[int, ...]  # concurrency levels
    ttas: tuple[int, ...]  # worker TTA settings
    per_user: int
    min_photos: int
    warmup: int
    worker_threads: int
    model_path: Path
    in_flight: int  # photos outstanding when the worker alone is measured
    input_side: int  # the model's: which Telegram copy the bot downloads
    precision: str  # the worker's PRECISION

    def photos_per_user(self, users: int) -> int:
        return max(self.per_user, -(-self.min_photos // users))  # ceil: at least min_photos per level


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # What is measured
    parser.add_argument("--users", default="1,5,20", help="concurrent users per level (default: 1,5,20)")
    parser.add_argument("--tta", default="1,8", help="worker TTA settings to measure (default: 1,8)")
    parser.add_argument("--photos-per-user", type=int, default=4, help="photos each user sends (default: 4)")
    parser.add_argument(
        "--min-photos", type=int, default=12, help="at least this many per level (default: 12)"
    )
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured photos per TTA (default: 3)")
    parser.add_argument(
        "--in-flight",
        type=int,
        default=20,
        help="photos outstanding when the worker alone is measured, and the users level the share of "
        "capacity compares with it (default: 20)",
    )
    # Inputs
    parser.add_argument(
        "--model-path",
        type=Path,
        default=Path(os.environ.get("MODEL_PATH", DEFAULT_MODEL_PATH)),
        help="model the worker serves (default: $MODEL_PATH or the shipped model)",
    )
    parser.add_argument(
        "--photo-dir",
        type=Path,
        default=DEFAULT_PHOTOS,
        help=f"JPEGs to send, searched recursively (default: {DEFAULT_PHOTOS})",
    )
    parser.add_argument(
        "--photo-side",
        type=int,
        default=1280,
        help="longest side photos are resized to, as Telegram serves them (default: 1280)",
    )
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "int8"),
                        help="PRECISION of the worker (default: auto: int8 when the model file has one)")
    parser.add_argument(
        "--worker-threads",
        type=int,
        default=os.cpu_count() or 1,
        help="TORCH_THREADS of the worker (default: CPU count)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=REPO / "benchmarks" / "results" / "e2e_latency.json",
        help="JSON results file (default: benchmarks/results/e2e_latency.json)",
    )
    return parser


def load_photos(directory: Path, count: int, side: int, seed: int = 0) -> list[bytes]:
    """`count` distinct scene photos, upscaled to `side` and re-encoded as Telegram's JPEGs."""
    paths = sorted(directory.rglob("*.jpg"))
    if not paths:
        raise SystemExit(f"no JPEG photos under {directory} (use --photo-dir)")
    photos = []
    for path in random.Random(seed).sample(paths, min(count, len(paths))):
        with Image.open(path) as image:
            scale = side / max(image.size)
            resized = image.convert("RGB").resize((round(image.width * scale), round(image.height * scale)))
        buffer = BytesIO()
        resized.save(buffer, "JPEG", quality=87)
        photos.append(buffer.getvalue())
    return photos


def start_worker(
    redis_url: str, directory: Path, *, tta: int, model_path: Path, threads: int, precision: str
) -> WorkerProcess:
    """The real worker, launched as the e2e tests launch it; returns once it is registered with RQ."""
    threads_env = {"TORCH_THREADS": str(threads), "OMP_NUM_THREADS": str(threads), "PRECISION": precision}
    worker = launch_worker(
        redis_url, directory, tta=tta, model_path=model_path, LOG_LEVEL="WARNING", **threads_env
    )
    worker.wait_ready()
    return worker


def start_bot(telegram: FakeTelegram, redis_url: str, directory: Path) -> BotProcess:
    """`python -m bot` long-polling the fake server, with the per-user rate limit out of the way."""
    env = {"RATE_LIMIT_PER_MINUTE": "100000", "REPLY_TIMEOUT_SECONDS": "300", "LOG_LEVEL": "WARNING"}
    return launch_bot(telegram.env(), redis_url, directory, **env)


@dataclass(frozen=True)
class WorkerRow:
    tta: int
    in_flight: int
    photos: int
    wall_s: float
    photos_per_s: float
    p50_ms: float  # enqueue -> its result in the stream
    cpu_ms_per_photo: dict[str, float]  # per process (CpuMeter)


def downloaded_copy(photo: bytes, input_side: int) -> bytes:
    """The copy of `photo` the bot downloads from the fake Bot API for a model of `input_side`."""
    store = FileStore()
    sizes = store.photo_sizes(photo)
    chosen = sizes[fitting_size([(s["width"], s["height"]) for s in sizes], input_side)]
    return store.by_id[chosen["file_id"]].data


def measure_worker(
    redis_url: str, photos: list[bytes], tta: int, in_flight: int, total: int, *, meter: CpuMeter
) -> WorkerRow:
    """The worker alone: `total` photos straight through the queue, `in_flight` outstanding at a time.
    Completions are read from the results stream the worker's callbacks write (worker.results)."""
    with Redis.from_url(redis_url) as connection:
        queue = photo_queue(connection)
        last_id = (
            connection.xinfo_stream(RESULTS_STREAM)["last-generated-id"]
            if connection.exists(RESULTS_STREAM)
            else "0-0"
        )
        outstanding: dict[str, float] = {}  # job id -> when it was enqueued
        latencies_ms: list[float] = []
        sent = 0
        meter.start()
        started = time.perf_counter()
        while len(latencies_ms) < total:
            while sent < total and len(outstanding) < in_flight:
                request = build_request(photos[sent % len(photos)])
                outstanding[enqueue_photo(queue, request).id] = time.perf_counter()
                sent += 1
            for _, entries in connection.xread({RESULTS_STREAM: last_id}, block=1000) or []:
                for entry_id, fields in entries:
                    last_id = entry_id
                    enqueued = outstanding.pop(fields[b"job_id"].decode(), None)
                    if enqueued is not None:
                        latencies_ms.append((time.perf_counter() - enqueued) * 1000)
        wall_s = time.perf_counter() - started
    return WorkerRow(tta, in_flight, total, round(wall_s, 2), round(total / wall_s, 2),
                     round(percentile(latencies_ms, 50), 1), meter.per_photo_ms(total))


@dataclass(frozen=True)
class Sample:
    latency_s: float  # update queued -> the bot's reply arrived
    pickup_s: float  # update queued -> the bot asked for the photo (getFile): polling and handler start
    reply: str


async def one_user(telegram: FakeTelegram, user: User, photos: list[bytes], count: int) -> list[Sample]:
    """Send `count` photos one after another, each after the previous reply."""
    samples = []
    for index in range(count):
        mark = len(telegram.calls)
        sent = await telegram.send_private_photo(user, photos[(user.id + index) % len(photos)])
        started = time.perf_counter()
        copies = {size["file_id"] for size in sent["photo"]}  # the bot fetches the one the model needs
        await telegram.wait_for_call(
            "getFile", lambda p, f=copies: p["file_id"] in f, timeout=300, after=mark
        )
        picked_up = time.perf_counter()
        reply = await telegram.wait_for_message(user.id, after_message_id=sent["message_id"], timeout=300)
        now = time.perf_counter()
        samples.append(Sample(now - started, picked_up - started, reply.get("text", "")))
    return samples


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarize(
    tta: int, users: int, samples: list[Sample], wall_s: float, cpu_ms_per_photo: dict[str, float]
) -> Row:
    latencies_ms = [sample.latency_s * 1000 for sample in samples]
    failures = {text(key, "en") for key in ("busy", "timeout")}
    return Row(
        tta=tta,
        users=users,
        photos=len(samples),
        wall_s=round(wall_s, 2),
        replies_per_s=round(len(samples) / wall_s, 2),
        p50_ms=round(percentile(latencies_ms, 50), 1),
        p95_ms=round(percentile(latencies_ms, 95), 1),
        p99_ms=round(percentile(latencies_ms, 99), 1),
        mean_ms=round(statistics.fmean(latencies_ms), 1),
        pickup_p50_ms=round(percentile([sample.pickup_s * 1000 for sample in samples], 50), 1),
        busy_or_timeout=sum(sample.reply in failures for sample in samples),
        cpu_ms_per_photo=cpu_ms_per_photo,
    )


async def measure_level(
    telegram: FakeTelegram, photos: list[bytes], tta: int, users: int, per_user: int, *, meter: CpuMeter
) -> Row:
    people = [telegram.new_user(f"User{users}-{i}") for i in range(users)]
    meter.start()
    started = time.perf_counter()
    per_person = await asyncio.gather(*(one_user(telegram, person, photos, per_user) for person in people))
    wall_s = time.perf_counter() - started
    samples = [sample for samples in per_person for sample in samples]
    return summarize(tta, users, samples, wall_s, meter.per_photo_ms(len(samples)))


async def measure_tta(
    telegram: FakeTelegram,
    *,
    tta: int,
    plan: Plan,
    photos: list[bytes],
    redis_url: str,
    directory: Path,
    pids: dict[str, int],
) -> tuple[list[Row], list[WorkerRow]]:
    """Every concurrency level against one worker started with this TTA (after unmeasured warm-up photos),
    then the same worker alone, fed the copies the bot downloads, with one and `plan.in_flight` photos
    outstanding. `pids`: the processes besides the worker whose CPU time is measured."""
    # In a thread: the fake server must keep answering the bot's long polls meanwhile.
    worker = await asyncio.to_thread(
        start_worker, redis_url, directory, tta=tta, model_path=plan.model_path, threads=plan.worker_threads,
        precision=plan.precision,
    )
    meter = CpuMeter({**pids, "worker": worker.process.pid})
    rows = []
    try:
        await measure_level(telegram, photos, tta, 1, plan.warmup, meter=meter)
        for users in plan.users:
            per_user = plan.photos_per_user(users)
            rows.append(await measure_level(telegram, photos, tta, users, per_user, meter=meter))
            print(f"  measured TTA {tta}, {users} users: p50 {rows[-1].p50_ms} ms", flush=True)
        total = max(row.photos for row in rows)
        copies = [downloaded_copy(photo, plan.input_side) for photo in photos]
        alone = []
        for in_flight in (1, plan.in_flight):
            alone.append(
                await asyncio.to_thread(measure_worker, redis_url, copies, tta, in_flight, total, meter=meter)
            )
            print(f"  measured TTA {tta}, worker alone, {in_flight} in flight: {alone[-1].photos_per_s} "
                  f"photos/s, p50 {alone[-1].p50_ms} ms", flush=True)
    finally:
        worker.terminate(timeout=30)
    return rows, alone


async def run(plan: Plan, photos: list[bytes], directory: Path) -> tuple[list[Row], list[WorkerRow]]:
    redis = RedisServer(directory)
    redis.start()
    rows: list[Row] = []
    alone: list[WorkerRow] = []
    try:
        async with FakeTelegram() as telegram:
            # Telegram's smaller copies of each photo, made now (the fake keeps them): resizing is Telegram's
            # work, which would otherwise count as the benchmark's CPU per photo in the first level measured.
            for photo in photos:
                telegram.state.files.photo_sizes(photo)
            bot = start_bot(telegram, redis.url(), directory)
            assert redis.process is not None  # started above
            pids = {"benchmark": os.getpid(), "bot": bot.process.pid, "redis": redis.process.pid}
            try:
                await telegram.wait_for_call("getUpdates", timeout=BOT_START_TIMEOUT_S)
                for tta in plan.ttas:
                    levels, worker_row = await measure_tta(
                        telegram,
                        tta=tta,
                        plan=plan,
                        photos=photos,
                        redis_url=redis.url(),
                        directory=directory,
                        pids=pids,
                    )
                    rows += levels
                    alone += worker_row
            finally:
                await asyncio.to_thread(bot.stop)
    finally:
        redis.stop()
    return rows, alone


def capacity_shares(rows: list[Row], alone: list[WorkerRow]) -> list[dict[str, float]]:
    """Per TTA and worker-alone row: replies/s with as many users as it had photos in flight ÷ its
    photos/s, and those users' p50 ÷ its p50 (with one user: what the bot adds to a photo's wait)."""
    shares = []
    for worker_row in alone:
        level = next((r for r in rows if r.tta == worker_row.tta and r.users == worker_row.in_flight), None)
        if level is not None:
            shares.append(
                {
                    "tta": worker_row.tta,
                    "users": level.users,
                    "replies_per_s": level.replies_per_s,
                    "worker_photos_per_s": worker_row.photos_per_s,
                    "share": round(level.replies_per_s / worker_row.photos_per_s, 3),
                    "p50_ms": level.p50_ms,
                    "worker_p50_ms": worker_row.p50_ms,
                    "p50_ratio": round(level.p50_ms / worker_row.p50_ms, 3),
                }
            )
    return shares


# (header, width, Row field, format) of the printed table.
TABLE = (
    ("TTA", 3, "tta", "d"), ("users", 5, "users", "d"), ("photos", 6, "photos", "d"),
    ("p50 ms", 7, "p50_ms", ".0f"), ("p95 ms", 7, "p95_ms", ".0f"), ("p99 ms", 7, "p99_ms", ".0f"),
    ("pickup p50 ms", 13, "pickup_p50_ms", ".0f"), ("replies/s", 9, "replies_per_s", ".2f"),
    ("busy", 4, "busy_or_timeout", "d"),
)  # fmt: skip


def print_table(rows: list[Row]) -> None:
    header = " ".join(f"{name:>{width}}" for name, width, _, _ in TABLE)
    print(header)
    print("-" * len(header))
    for row in rows:
        print(" ".join(f"{getattr(row, field):>{width}{spec}}" for _, width, field, spec in TABLE))


def print_cpu_table(rows: list[Row], alone: list[WorkerRow]) -> None:
    """CPU milliseconds per photo of each process, bot path and worker alone (CpuMeter)."""
    names = list((rows or alone)[0].cpu_ms_per_photo)
    print(f"CPU ms per photo, every process on the same {os.cpu_count()} cores "
          "(benchmark: the fake Bot API server and the simulated users; other: the rest of the machine)")
    columns = [*names, "total", "cores busy"]
    header = f"{'TTA':>3} {'measured':>22} " + " ".join(f"{name:>10}" for name in columns)
    print(header)
    print("-" * len(header))
    labelled = [(r.tta, f"bot path, {r.users} users", r.cpu_ms_per_photo, r.replies_per_s) for r in rows]
    labelled += [(w.tta, f"worker, {w.in_flight} in flight", w.cpu_ms_per_photo, w.photos_per_s)
                 for w in alone]
    for tta, label, cpu, per_s in labelled:
        total = sum(cpu.values())
        cells = [cpu[name] for name in names] + [total, total * per_s / 1000]
        print(f"{tta:>3} {label:>22} " + " ".join(f"{cell:>10.1f}" for cell in cells))


def describe_model(path: Path) -> dict[str, object]:
    """Which model the numbers belong to (the worker's latency depends on its backbone and input size)."""
    from ml.serving.model import file_version, read_model_file  # imports torch: only here

    spec, _ = read_model_file(path)
    return {
        "version": file_version(path),
        "backbone": spec.backbone,
        "input_size": spec.input_size,
        "train_command": spec.train_command[:120],
    }


def run_and_keep_logs(plan: Plan, photos: list[bytes], directory: Path) -> tuple[list[Row], list[WorkerRow]]:
    """Run; on failure show the tails of the bot's and workers' logs, which say why."""
    try:
        return asyncio.run(run(plan, photos, directory))
    except BaseException:
        for log in sorted(directory.glob("*.log")):
            print(f"----- {log.name} -----\n{log.read_text(errors='replace')[-3000:]}", file=sys.stderr)
        raise


def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    if not args.model_path.is_file():
        raise SystemExit(
            f"no model file at {args.model_path} (train one with `ml train` or pass --model-path)"
        )
    photos = load_photos(args.photo_dir, 32, args.photo_side)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="scenetag-e2e-") as scratch:
        # A private copy: the numbers stay tied to one model even if the file is replaced meanwhile.
        model_path = Path(shutil.copy(args.model_path, Path(scratch) / "model.pt"))
        plan = Plan(
            users=tuple(int(n) for n in args.users.split(",")),
            ttas=tuple(int(n) for n in args.tta.split(",")),
            per_user=args.photos_per_user,
            min_photos=args.min_photos,
            warmup=args.warmup,
            worker_threads=args.worker_threads,
            model_path=model_path,
            in_flight=args.in_flight,
            input_side=int(describe_model(model_path)["input_size"]),  # type: ignore[call-overload]
            precision=args.precision,
        )
        model = describe_model(model_path)
        rows, alone = run_and_keep_logs(plan, photos, Path(scratch))
    print_table(rows)
    print()
    print_cpu_table(rows, alone)
    shares = capacity_shares(rows, alone)
    print()
    for worker_row in alone:
        print(
            f"worker alone, TTA {worker_row.tta}, {worker_row.in_flight} in flight: "
            f"{worker_row.photos_per_s:.2f} photos/s, p50 {worker_row.p50_ms:.0f} ms "
            f"({worker_row.photos} photos)"
        )
    for share in shares:
        print(
            f"bot path, TTA {share['tta']}, {share['users']} users: {share['replies_per_s']:.2f} replies/s / "
            f"{share['worker_photos_per_s']:.2f} photos/s = share {share['share']:.2f}; "
            f"p50 {share['p50_ms']:.0f} / {share['worker_p50_ms']:.0f} ms = {share['p50_ratio']:.2f}x"
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "e2e_latency",
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "model": {"path": str(args.model_path), **model},
        "photo_side": args.photo_side,
        "load_average_before": load_before,
        "worker_threads": args.worker_threads,
        "worker_precision": args.precision,
        "load_average_after": os.getloadavg(),
        "rows": [asdict(row) for row in rows],
        "worker_alone": [asdict(row) for row in alone],
        "capacity_share": shares,
    }
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
