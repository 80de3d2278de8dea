"""`LoadBalancer`: what sits between Telegram and several webhook replicas, for tests.

Telegram posts every update to the one webhook URL; a load balancer spreads those requests over the bot
replicas behind it, round robin, and passes a request that a replica could not take (connection refused
or reset: the replica is down) to the next one, as nginx's `proxy_next_upstream error` does. The
replica's status goes back to Telegram, which retries non-2xx answers.

    async with LoadBalancer([port_a, port_b]) as balancer:
        url = balancer.url("/hook")   # WEBHOOK_URL of both replicas
"""

from __future__ import annotations

import itertools
import logging
from collections import Counter
from typing import Self

import aiohttp
from aiohttp import web

logger = logging.getLogger(__name__)

FORWARDED_HEADERS = ("Content-Type", "X-Telegram-Bot-Api-Secret-Token")


class LoadBalancer:
    """Round-robin HTTP proxy on 127.0.0.1 to the given backend ports."""

    def __init__(self, backend_ports: list[int]) -> None:
        self.backend_ports = backend_ports
        self.served: Counter[int] = Counter()  # backend port -> requests it answered
        self._next = itertools.cycle(range(len(backend_ports)))
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.port = 0

    async def __aenter__(self) -> Self:
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/{path:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        body = await request.read()
        headers = {name: request.headers[name] for name in FORWARDED_HEADERS if name in request.headers}
        first = next(self._next)
        for offset in range(len(self.backend_ports)):
            port = self.backend_ports[(first + offset) % len(self.backend_ports)]
            try:
                async with self._session.request(
                    request.method, f"http://127.0.0.1:{port}{request.path_qs}", data=body, headers=headers
                ) as response:
                    self.served[port] += 1
                    return web.Response(status=response.status, body=await response.read())
            except aiohttp.ClientConnectionError as error:  # this replica is down: the next one
                logger.debug("backend %d unreachable: %s", port, error)
        return web.Response(status=502, text="no backend answered")
