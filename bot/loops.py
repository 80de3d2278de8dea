"""`RedisLoop`: a bot process's background task on redis.asyncio, started in post_init and stopped cleanly.

Stopping sets a flag as well as cancelling the task: redis-py may turn a cancelled call into a
ConnectionError, which a loop would otherwise take for an outage and retry forever.
"""

from __future__ import annotations

import asyncio
import contextlib


class RedisLoop:
    """Subclasses write `_run`, which returns once `_stopping` is set (checked after each Redis error)."""

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def task_name(self) -> str:
        return type(self).__name__

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self.task_name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _run(self) -> None:
        raise NotImplementedError
