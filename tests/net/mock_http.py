"""A loopback HTTP server base for mock exchanges: request log, failure injection, clean start and stop.

Each mock exchange subclasses `MockExchange`, registers its routes in `routes()` and answers with the
exchange's own JSON shapes, so the real ccxt client runs against it unchanged (pointed there by
`exchange.api_base_url`). Every request is recorded as (method, path, params) with the signing fields
removed, so a test can assert the exact sequence ccxt sent.

Failure injection (`fail`): the next N requests matching a method and path
- "timeout": are processed (an order IS placed) but the answer is held back until the client gave up;
- "drop": are held back without being processed (nothing placed);
- "http": answered with the given status, body and headers instead of being processed;
- "late": answered at once with the given status and body (status 0: held back until the client gave up, as
  a timeout), and processed `delay` seconds later on the mock's clock — as a loaded venue does — unless that
  is past the request's own expiry (its recvWindow, as Binance refuses a request that reaches its engine too
  late). Late work runs when a request arrives after it is due (a client looking the order up), so a test on a
  fake clock (`mock.clock = fake.now`) stays exact and fast.
`match` narrows a failure to requests carrying those params (e.g. {"type": "TAKE_PROFIT_MARKET"}).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

# Fields every signed request carries; a mock ignores them and the log leaves them out.
SIGNING_FIELDS = frozenset({"timestamp", "signature", "recvWindow"})

Handler = Callable[["Call"], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Req:
    method: str
    path: str
    params: dict[str, str]

    def __str__(self) -> str:
        args = "&".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.method} {self.path}" + (f"?{args}" if args else "")


@dataclass
class Call:
    """One request as a handler sees it: merged query + body params, headers, and the raw request."""

    method: str
    path: str
    params: dict[str, Any]
    headers: dict[str, str]
    request: web.Request


@dataclass
class Failure:
    method: str
    path: str
    kind: str  # "timeout" | "drop" | "http"
    times: int = 1
    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    match: dict[str, str] = field(default_factory=dict)


class MockExchange:
    """Subclasses define `routes() -> {(METHOD, path): handler}` and their own state."""

    name = "mock"

    def __init__(self) -> None:
        self.requests: list[Req] = []
        self.failures: list[Failure] = []
        self.base_url = ""
        self._runner: web.AppRunner | None = None
        self._release = asyncio.Event()
        self._hold_s = 30.0
        self.clock: Callable[[], float] = time.monotonic  # what "late" delays are measured on
        self._late: list[tuple[float, float, Call, Handler]] = []  # (due, received, request, handler)
        self.late_log: list[tuple[str, str, bool]] = []  # (path, client id, executed) of every late request

    # --- to override ----------------------------------------------------------------------------------
    def routes(self) -> dict[tuple[str, str], Handler]:
        raise NotImplementedError

    def not_found(self, call: Call) -> web.Response:
        return web.json_response({"code": -5000, "msg": f"mock: no route for {call.method} {call.path}"}, status=404)

    # --- tests' controls ----------------------------------------------------------------------------
    def fail(
        self,
        method: str,
        path: str,
        kind: str,
        *,
        times: int = 1,
        status: int = 500,
        body: Any = None,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        match: dict[str, str] | None = None,
    ) -> None:
        self.failures.append(
            Failure(method.upper(), path, kind, times, status, body, dict(headers or {}), delay, dict(match or {}))
        )

    def calls(self, method: str | None = None, path: str | None = None) -> list[Req]:
        return [r for r in self.requests if (method is None or r.method == method) and (path is None or r.path == path)]

    def sequence(self) -> list[str]:
        """ "METHOD /path" of every request so far, in order."""
        return [f"{r.method} {r.path}" for r in self.requests]

    def clear(self) -> None:
        self.requests.clear()

    # --- server ---------------------------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._release = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        sock = site._server.sockets[0]  # type: ignore[union-attr]
        self.base_url = f"http://{host}:{sock.getsockname()[1]}"
        return self.base_url

    async def stop(self) -> None:
        self._release.set()  # answers held back by a "timeout" failure go out (the client is gone)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> MockExchange:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _parse(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        raw = await request.text()
        if raw:
            ctype = request.headers.get("Content-Type", "")
            if "json" in ctype or raw.lstrip().startswith(("{", "[")):
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {}
                if isinstance(body, dict):
                    params.update(body)
            else:
                params.update(parse_qsl(raw, keep_blank_values=True))
        return params

    def _take_failure(self, method: str, path: str, params: dict[str, Any]) -> Failure | None:
        for f in self.failures:
            if (
                f.method == method
                and f.path == path
                and f.times > 0
                and all(str(params.get(k)) == v for k, v in f.match.items())
            ):
                f.times -= 1
                return f
        return None

    async def _hold(self) -> None:
        with contextlib.suppress(TimeoutError):  # held for _hold_s, or until the mock is released
            await asyncio.wait_for(self._release.wait(), self._hold_s)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        params = await self._parse(request)
        method, path = request.method.upper(), request.path
        if path.startswith("/mock/"):  # control endpoints for a demo (not recorded)
            return await self._control(path, params)
        logged = {
            k: str(v) if not isinstance(v, (dict, list)) else json.dumps(v, sort_keys=True)
            for k, v in params.items()
            if k not in SIGNING_FIELDS
        }
        self.requests.append(Req(method, path, logged))
        call = Call(method, path, params, dict(request.headers), request)
        await self.run_due()
        failure = self._take_failure(method, path, params)
        handler = self.routes().get((method, path))
        if failure is not None and failure.kind == "late" and handler is not None:
            now = self.clock()
            self._late.append((now + failure.delay, now, call, handler))
            if failure.status == 0:
                await self._hold()
                return web.json_response({}, status=504)
            return web.json_response(failure.body, status=failure.status, headers=failure.headers)
        if failure is not None and failure.kind == "http":
            return web.json_response(failure.body, status=failure.status, headers=failure.headers)
        if failure is not None and failure.kind == "drop":
            await self._hold()
            return web.json_response({}, status=504)
        response = await handler(call) if handler is not None else self.not_found(call)
        self.after_change()
        if failure is not None and failure.kind == "timeout":
            await self._hold()
        return response

    async def run_due(self) -> None:
        """Process the late requests that are due (in the order they are due)."""
        now = self.clock()
        due = sorted((item for item in self._late if item[0] <= now), key=lambda item: item[0])
        self._late = [item for item in self._late if item[0] > now]
        for at, received, call, handler in due:
            # The venue refuses a request that reaches its engine past timestamp + recvWindow.
            window_s = float(call.params.get("recvWindow", 10_000)) / 1000
            client_id = str(call.params.get("newClientOrderId") or call.params.get("clientAlgoId") or "")
            executed = at - received <= window_s
            if executed:
                await handler(call)
            self.late_log.append((call.path, client_id, executed))
            self.after_change()

    def after_change(self) -> None:
        """Called after every request and every late execution (subclasses record their state over time)."""

    async def _control(self, path: str, params: dict[str, Any]) -> web.Response:
        if path == "/mock/price":
            self.set_price(params["symbol"], float(params["price"]))
            return web.json_response({"ok": True})
        if path == "/mock/requests":
            return web.json_response([str(r) for r in self.requests])
        return web.json_response({"error": "unknown control"}, status=404)

    def set_price(self, symbol: str, price: float) -> None:
        raise NotImplementedError


def run_forever(mock: MockExchange, port: int) -> None:
    """`python -m tests.net.mock_<name> --port N`: serve until interrupted, print requests as they come."""

    async def main() -> None:
        url = await mock.start(port=port)
        print(f"{mock.name} mock listening on {url}  (set exchange.api_base_url = \"{url}\")", flush=True)
        print(f"move the price: curl '{url}/mock/price?symbol=BTCUSDT&price=61000'", flush=True)
        seen = 0
        try:
            while True:
                await asyncio.sleep(0.2)
                for req in mock.requests[seen:]:
                    print(req, flush=True)
                seen = len(mock.requests)
        finally:
            await mock.stop()

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a demo server is stopped
        asyncio.run(main())
