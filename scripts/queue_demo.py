"""Send photos through Redis to a running `scenetag-worker`, as the bot does, and print what the bot would
reply to each (bot.replies, the bot's own wording).

Usage: python scripts/queue_demo.py PHOTO... (REDIS_URL from the environment or .env, like the services;
`make run` calls it when no BOT_TOKEN is set). Exits non-zero when a photo gets no result in time.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from redis import Redis

from bot.replies import error_text, suggestion_text
from bot.settings import BotSettings
from worker.contract import ClassifyResult
from worker.queue import JobState, build_request, enqueue_photo, fetch_record, photo_queue
from worker.settings import ServiceSettings

MARGIN = BotSettings.model_fields["suggest_runner_up_margin"].default  # the bot's default
TIMEOUT_S = 60.0
POLL_S = 0.1


def describe(name: str, result: ClassifyResult) -> str:
    """The photo's line, then what the bot would reply to it in a private chat (English)."""
    reply = suggestion_text(result, "en", MARGIN) if result.ok else error_text(result.error, "en")
    waited = f", queue wait {result.timings.queue_wait_ms:.0f} ms" if result.timings else ""
    top = f"top {result.hashtag} {result.confidence:.0%}, TTA {result.tta}{waited}" if result.ok else "failed"
    return f"{name} ({top}); the bot replies:\n  " + reply.replace("\n", "\n  ")


def main(paths: list[str]) -> int:
    settings = ServiceSettings.from_env()
    queue = photo_queue(Redis.from_url(settings.redis_url))
    jobs = [(Path(path).name, enqueue_photo(queue, build_request(Path(path).read_bytes()))) for path in paths]
    deadline = time.monotonic() + TIMEOUT_S
    failures = 0
    for name, job in jobs:
        outcome = fetch_record(queue, job.id)
        while outcome.state is JobState.PENDING and time.monotonic() < deadline:
            time.sleep(POLL_S)
            outcome = fetch_record(queue, job.id)
        if outcome.state is JobState.DONE and outcome.result is not None:
            print(describe(name, outcome.result))
        else:
            failures += 1
            print(f"{name}: {outcome.state.value} {outcome.reason or ''}".rstrip())
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__.splitlines()[2])
    sys.exit(main(sys.argv[1:]))
