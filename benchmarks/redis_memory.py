"""Redis bytes per photo in flight: what one queued photo job costs in Redis, and what is left of it once
it is answered (the job drops its photo at once; its result and the results-stream entry stay).

A private `redis-server`; N photos scaled to Telegram's usual 1280 px long side (real MiniPlaces photos from
../shared, synthetic ones if absent, as benchmarks/worker_throughput.py) are enqueued exactly as the bot does
(`worker.queue.enqueue_photo`), then classified by an in-process BatchingWorker with the tests' fake model
(the payload's fate does not depend on the model).

    python benchmarks/redis_memory.py --photos 50

Prints one JSON line: mean photo bytes, Redis bytes per queued photo (INFO used_memory delta / N, and
MEMORY USAGE of one job hash), and bytes per answered photo left until RESULT_TTL_S.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from redis import Redis  # noqa: E402
from rq.serializers import JSONSerializer  # noqa: E402

from benchmarks.worker_throughput import DEFAULT_PHOTOS, load_photos  # noqa: E402
from tests.fake_classifier import installed_fake  # noqa: E402
from tests.services import RedisServer  # noqa: E402
from worker.batching import BatchingWorker  # noqa: E402
from worker.queue import build_request, enqueue_photo, photo_queue  # noqa: E402


def used(connection: Redis) -> int:
    return int(connection.info("memory")["used_memory"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=50)
    parser.add_argument("--long-side", type=int, default=1280)
    parser.add_argument("--data", type=Path, default=DEFAULT_PHOTOS, help="photos to scale (../shared)")
    args = parser.parse_args()
    photos = load_photos(args.data, args.photos, args.long_side)
    with tempfile.TemporaryDirectory() as directory:
        server = RedisServer(Path(directory))
        server.start()
        try:
            connection = Redis.from_url(server.url())
            queue = photo_queue(connection)
            empty = used(connection)
            jobs = [enqueue_photo(queue, build_request(photo)) for photo in photos]
            queued = used(connection)
            job_hash = connection.memory_usage(jobs[0].key, samples=0) or 0
            with installed_fake(default_tta=1):
                BatchingWorker([queue], connection=connection, serializer=JSONSerializer).work(burst=True)
            answered = used(connection)
            answered_hash = connection.memory_usage(jobs[0].key, samples=0) or 0
        finally:
            server.stop()
    print(json.dumps({
        "photos": len(photos),
        "mean_photo_bytes": round(sum(map(len, photos)) / len(photos)),
        "queued_bytes_per_photo": round((queued - empty) / len(photos)),
        "queued_job_hash_bytes": job_hash,
        "answered_bytes_per_photo": round((answered - empty) / len(photos)),
        "answered_job_hash_bytes": answered_hash,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
