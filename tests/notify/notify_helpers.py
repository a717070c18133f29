"""Real messages as the executor, router, collector, watchdog and desk publish them, and a loopback webhook
that receives apprise's JSON (`json://127.0.0.1:PORT/hook`)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from tui_trader import messages as m

T0 = 1_723_075_200_000  # 2024-08-08 00:00:00 UTC
DAY = 86_400_000


def fill(
    order_id: str,
    purpose: str = "entry",
    side: str = "buy",
    qty: float = 0.01,
    price: float = 60_000.0,
    fee: float = 0.3,
    ts: int = T0,
    symbol: str = "BTCUSDT",
    **extra: Any,
) -> m.OrderStatus:
    return m.OrderStatus(
        order_id=order_id,
        symbol=symbol,
        side=side,
        purpose=purpose,
        status="filled",  # type: ignore[arg-type]
        filled_qty=qty,
        avg_price=price,
        fee=fee,
        mode="paper",
        ts=ts,
        **extra,
    )


def health(component: str, state: str, detail: str = "", ts: int = T0, symbols: list[str] | None = None) -> m.Health:
    return m.Health(component=component, state=state, detail=detail, symbols=symbols or [], ts=ts)


def kill(ts: int = T0, origin: str = "desk", arg: str | None = "f12") -> m.Control:
    return m.Control(command="kill", arg=arg, origin=origin, ts=ts)


class Webhook:
    """An aiohttp server on 127.0.0.1 that answers apprise's JSON POSTs, optionally after `delay_s`."""

    def __init__(self, delay_s: float = 0.0, status: int = 200) -> None:
        self.delay_s = delay_s
        self.status = status
        self.received: list[dict[str, Any]] = []
        self.hits = 0
        self.runner: web.AppRunner | None = None
        self.port = 0
        self.arrived = asyncio.Event()

    async def _handle(self, request: web.Request) -> web.Response:
        self.hits += 1
        body = await request.read()
        if self.delay_s:
            await asyncio.sleep(self.delay_s)  # the slow service under test, not a wait in the test
        self.received.append(json.loads(body))
        self.arrived.set()
        return web.Response(status=self.status, text="ok")

    async def start(self) -> Webhook:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/hook"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    def titles(self) -> list[str]:
        return [r["title"] for r in self.received]
