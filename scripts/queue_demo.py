"""Send photos through Redis to a running `scenetag-worker`, as the bot does, and print the replies.

Usage: python scripts/queue_demo.py PHOTO... (REDIS_URL from the environment or .env, like the services;
`make run` calls it when no BOT_TOKEN is set). Exits non-zero when a photo gets no result in time.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from redis import Redis

from worker.contract import ClassifyResult
from worker.queue import OutcomeState, build_request, enqueue_photo, fetch_outcome, photo_queue
from worker.settings import ServiceSettings

TIMEOUT_S = 60.0
POLL_S = 0.1


def describe(name: str, result: ClassifyResult) -> str:
    if not result.ok:
        return f"{name}: error {result.error} ({result.error_detail})"
    if len(result.suggestions) > 1:  # a ranked list, as the bot offers it
        tag = " · ".join(f"#{s.tag} {s.probability:.0%}" for s in result.suggestions)
    else:
        tag = f"#{result.suggested}" if result.suggested else "no popular tag fits"
    waited = f", queue wait {result.timings.queue_wait_ms:.0f} ms" if result.timings else ""
    return f"{name}: {tag} (top {result.hashtag} {result.confidence:.0%}, TTA {result.tta}{waited})"


def main(paths: list[str]) -> int:
    settings = ServiceSettings.from_env()
    queue = photo_queue(Redis.from_url(settings.redis_url))
    jobs = [(Path(path).name, enqueue_photo(queue, build_request(Path(path).read_bytes()))) for path in paths]
    deadline = time.monotonic() + TIMEOUT_S
    failures = 0
    for name, job in jobs:
        outcome = fetch_outcome(queue, job.id)
        while outcome.state is OutcomeState.PENDING and time.monotonic() < deadline:
            time.sleep(POLL_S)
            outcome = fetch_outcome(queue, job.id)
        if outcome.state is OutcomeState.DONE and outcome.result is not None:
            print(describe(name, outcome.result))
        else:
            failures += 1
            print(f"{name}: {outcome.state.value} {outcome.reason or ''}".rstrip())
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__.splitlines()[2])
    sys.exit(main(sys.argv[1:]))
