"""The bot's update queue as Telegram keeps it: getUpdates long polling with offsets, or webhook pushes.

Updates stay queued until confirmed (a later getUpdates with a higher offset, or a 2xx from the webhook),
so a bot that crashes before confirming sees them again, as on Telegram.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from typing import Any

import aiohttp

logger = logging.getLogger(__name__)

JSON = dict[str, Any]
# Sent unless allowed_updates names them (Bot API: "all update types except chat_member, ...").
NOT_SENT_BY_DEFAULT = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
# Update ids are large, arbitrary numbers on Telegram; starting high catches code that assumes small ones.
FIRST_UPDATE_ID = 712_000_001
WEBHOOK_RETRY_SECONDS = 0.2


class UpdateConflict(Exception):
    """getUpdates cannot answer: str() is the 409 description."""


class UpdateQueue:
    """Pending updates and the one consumer allowed at a time (a long poll or a webhook)."""

    def __init__(self) -> None:
        self._pending: list[JSON] = []
        self._ids = itertools.count(FIRST_UPDATE_ID)
        self._allowed: frozenset[str] | None = None  # None: the default set
        self._changed = asyncio.Event()
        self._poll_generation = 0
        self._closed = False
        self.webhook_url = ""
        self.webhook_secret: str | None = None
        self.webhook_error: tuple[int, str] | None = None  # (unix time, message) of the last failed push
        self._webhook_task: asyncio.Task[None] | None = None

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    @property
    def allowed_updates(self) -> list[str] | None:
        return sorted(self._allowed) if self._allowed is not None else None

    def set_allowed(self, allowed: list[str] | None) -> None:
        """allowed_updates: None keeps the previous choice; an empty list restores the default."""
        if allowed is not None:
            self._allowed = frozenset(allowed) or None

    def wants(self, kind: str) -> bool:
        return kind in self._allowed if self._allowed is not None else kind not in NOT_SENT_BY_DEFAULT

    def push(self, kind: str, payload: JSON) -> JSON | None:
        """Queue an update of `kind` (e.g. "message"); None when the bot did not ask for that kind."""
        if not self.wants(kind):
            return None
        update = {"update_id": next(self._ids), kind: payload}
        self._pending.append(update)
        self._notify()
        return update

    def drop_pending(self) -> None:
        self._pending.clear()

    async def get(self, offset: int, limit: int, wait_seconds: float) -> list[JSON]:
        """getUpdates: confirm what precedes `offset`; return up to `limit` updates, waiting for the first."""
        if self.webhook_url:
            raise UpdateConflict(
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first"
            )
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify()  # an older long poll still waiting now ends with a conflict
        if offset > 0:
            self._pending = [u for u in self._pending if u["update_id"] >= offset]
        elif offset < 0:
            self._pending = self._pending[offset:]
        deadline = time.monotonic() + wait_seconds
        while not self._pending and not self._closed:
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), max(deadline - time.monotonic(), 0))
            if generation != self._poll_generation:
                raise UpdateConflict(
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running"
                )
            if time.monotonic() >= deadline:
                break
        return self._pending[:limit]

    def set_webhook(self, url: str, secret: str | None) -> None:
        self.webhook_url, self.webhook_secret, self.webhook_error = url, secret, None
        self._stop_webhook()
        if url:
            self._webhook_task = asyncio.get_running_loop().create_task(self._push_to_webhook(url, secret))

    async def close(self) -> None:
        """Wake every waiting long poll (with no updates) and stop webhook pushes."""
        self._closed = True
        self._notify()
        task = self._stop_webhook()
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _stop_webhook(self) -> asyncio.Task[None] | None:
        task, self._webhook_task = self._webhook_task, None
        if task is not None:
            task.cancel()
        return task

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _push_to_webhook(self, url: str, secret: str | None) -> None:
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
        async with aiohttp.ClientSession(headers=headers) as session:
            while True:
                if not self._pending:
                    await self._changed.wait()
                    continue
                update = self._pending[0]
                try:
                    async with session.post(
                        url, json=update, timeout=aiohttp.ClientTimeout(total=10)
                    ) as response:
                        ok = 200 <= response.status < 300
                        error = f"Wrong response from the webhook: {response.status} {response.reason}"
                except (aiohttp.ClientError, TimeoutError) as exc:
                    ok, error = False, f"Connection failed: {exc}"
                if ok:
                    if self._pending and self._pending[0] is update:
                        self._pending.pop(0)
                else:
                    self.webhook_error = (int(time.time()), error)
                    logger.debug("webhook push failed: %s", error)
                    await asyncio.sleep(WEBHOOK_RETRY_SECONDS)
