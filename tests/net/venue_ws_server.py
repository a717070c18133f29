"""Loopback stand-ins for the OKX and Bybit public websockets, for tests (127.0.0.1 only, never the internet).

Each speaks its venue's protocol on its venue's path (OKX `/ws/v5/public`, Bybit `/v5/public/linear`; any
other path gets HTTP 404): the client subscribes with `{"op":"subscribe","args":[…]}`, the server answers
each request (OKX `{"event":"subscribe","arg":…}` per channel, Bybit `{"success":true,"op":"subscribe",…}`)
or an error for an instrument it does not list (OKX `{"event":"error","code":"60018",…}`, Bybit
`{"success":false,…}`), then streams synthetic frames of the subscribed channels only, in the real messages'
shapes (tests/venues/frames.py builds them from venue_msgs/): a random walk of trades, best bid/ask, and
mark price with funding (a funding time `funding_every_ms` of event time apart). Keep-alive: OKX answers the
text `ping` with `pong`, Bybit `{"op":"ping"}` with its pong reply; with `require_ping_s` a connection that
sends no ping for that long is closed, as the venues do. Data sent before any subscription, or a malformed
request, is noted in `violations`. `close_after={i: n}` closes connection i after n data frames; a
reconnecting client resubscribes and the stream goes on from where it was.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from venues.frames import Venue

from net.ws_server import LoopbackWsServer

PATHS = {"okx": "/ws/v5/public", "bybit": "/v5/public/linear"}
OKX_CHANNELS = {"trades", "bbo-tbt", "mark-price", "funding-rate", "tickers"}
BYBIT_TOPICS = {"publicTrade", "orderbook.1", "tickers"}


@dataclass
class Conn:
    index: int
    path: str
    subscribed: list[str] = field(default_factory=list)  # channel:instId (OKX) or topic (Bybit)
    sent: int = 0
    pings: int = 0
    ws: ServerConnection | None = field(default=None, repr=False)
    closed: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    has_subscriptions: asyncio.Event = field(default_factory=asyncio.Event, repr=False)  # set with the first


class VenueWsServer(LoopbackWsServer):
    def __init__(
        self,
        venue: str,
        *,
        symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT"),
        start_ms: int = 0,
        step_ms: int = 100,
        pace_s: float = 0.01,
        funding_every_ms: int = 60_000,
        rate: float = 0.0001,
        close_after: dict[int, int] | None = None,
        require_ping_s: float | None = None,
        max_frames: int | None = None,
        seed: int = 7,
        wall_clock: bool = False,
    ) -> None:
        assert venue in PATHS
        self.venue = venue
        self.maker = Venue(venue)
        self.symbols = symbols
        self.t = start_ms or 1_764_650_000_000
        self.step_ms = step_ms
        self.wall_clock = wall_clock  # event times from the wall clock (a demo host), not a fixed step
        self.pace_s = pace_s
        self.funding_every_ms = funding_every_ms
        self.rate = rate
        self.close_after = dict(close_after or {})
        self.require_ping_s = require_ping_s
        self.max_frames = max_frames
        self.rng = random.Random(seed)
        self.prices = {s: (60_000.0 if s.startswith("BTC") else 3_000.0) for s in symbols}
        self.ids = dict.fromkeys(symbols, 1)
        self.connections: list[Conn] = []
        self.violations: list[str] = []
        self.data_sent = 0
        self._server = None
        self.url = ""

    def _check_path(self, connection: ServerConnection, request):
        if urlsplit(request.path).path.rstrip("/") != PATHS[self.venue]:
            self.violations.append(f"unknown path {request.path}")
            return connection.respond(404, "Not Found")
        return None

    # --- the venue's symbols ---

    def _known(self, inst: str) -> str | None:
        """The desk symbol of a venue instrument this server lists, or None."""
        if self.venue == "okx":
            sym = inst.removesuffix("-SWAP").replace("-", "")
            return sym if inst.endswith("-SWAP") and sym in self.symbols else None
        return inst if inst in self.symbols else None

    # --- protocol ---

    async def _handle(self, ws: ServerConnection) -> None:
        conn = Conn(len(self.connections), ws.request.path, ws=ws)
        self.connections.append(conn)
        player = asyncio.create_task(self._play(conn))
        try:
            while True:
                timeout = self.require_ping_s
                try:
                    msg = await (asyncio.wait_for(ws.recv(), timeout) if timeout else ws.recv())
                except TimeoutError:
                    await ws.close(4000, "no ping")  # the venues drop a silent client
                    break
                await self._on_message(conn, msg)
        except ConnectionClosed:
            pass
        finally:
            player.cancel()
            await asyncio.wait([player])
            conn.closed.set()

    async def _on_message(self, conn: Conn, msg: str | bytes) -> None:
        ws = conn.ws
        text = msg.decode() if isinstance(msg, bytes) else msg
        if self.venue == "okx" and text == "ping":
            conn.pings += 1
            await ws.send("pong")
            return
        try:
            req = json.loads(text)
        except ValueError:
            self.violations.append(f"not JSON from the client: {text[:80]}")
            return
        op = req.get("op")
        if self.venue == "bybit" and op == "ping":
            conn.pings += 1
            await ws.send(json.dumps({"success": True, "ret_msg": "pong", "conn_id": "c1", "req_id": "", "op": "ping"}))
            return
        if op != "subscribe" or not isinstance(req.get("args"), list):
            self.violations.append(f"unexpected request {text[:80]}")
            return
        if self.venue == "okx":
            for arg in req["args"]:
                ch, inst = arg.get("channel"), arg.get("instId", "")
                if ch in OKX_CHANNELS and self._known(inst):
                    conn.subscribed.append(f"{ch}:{inst}")
                    conn.has_subscriptions.set()
                    await ws.send(json.dumps({"event": "subscribe", "arg": arg, "connId": "c1"}))
                else:
                    await ws.send(
                        json.dumps(
                            {
                                "event": "error",
                                "code": "60018",
                                "msg": f"Wrong URL or channel:{ch},instId:{inst} doesn't exist",
                                "connId": "c1",
                            }
                        )
                    )
        else:
            if len(req["args"]) > 10:
                self.violations.append(f"{len(req['args'])} args in one request (Bybit allows 10)")
            bad = [
                t
                for t in req["args"]
                if t.rpartition(".")[0] not in BYBIT_TOPICS or not self._known(t.rpartition(".")[2])
            ]
            conn.subscribed += [t for t in req["args"] if t not in bad]
            if conn.subscribed:
                conn.has_subscriptions.set()
            await ws.send(
                json.dumps(
                    {
                        "success": not bad,
                        "ret_msg": f"error:handler not found,topic:{bad[0]}" if bad else "",
                        "conn_id": "c1",
                        "req_id": req.get("req_id", ""),
                        "op": "subscribe",
                    }
                )
            )

    def _wants(self, conn: Conn, symbol: str, what: str) -> bool:
        if self.venue == "okx":
            inst = f"{symbol[:-4]}-USDT-SWAP"
            channels = {"trade": ("trades",), "book": ("bbo-tbt",), "mark": ("mark-price", "funding-rate")}[what]
            return any(f"{ch}:{inst}" in conn.subscribed for ch in channels)
        topic = {"trade": "publicTrade", "book": "orderbook.1", "mark": "tickers"}[what]
        return f"{topic}.{symbol}" in conn.subscribed

    def _next_frames(self, conn: Conn) -> list[str]:
        """One step of the market for every symbol: a book, a trade, and every 10th step a mark."""
        self.t = max(self.t + 1, _now_ms()) if self.wall_clock else self.t + self.step_ms
        out = []
        for s in self.symbols:
            px = self.prices[s] = round(self.prices[s] * (1 + self.rng.uniform(-0.0004, 0.0004)), 1)
            i = self.ids[s] = self.ids[s] + 1
            if self._wants(conn, s, "book"):
                out += self.maker.book(i, px - 0.1, px + 0.1, self.t, symbol=s)
            if self._wants(conn, s, "trade"):
                out += self.maker.trade(i, px, 0.01, self.t, symbol=s)
            if i % 10 == 0 and self._wants(conn, s, "mark"):
                next_ms = (self.t // self.funding_every_ms + 1) * self.funding_every_ms
                out += [
                    f
                    for f in self.maker.mark(round(px + 1.0, 1), px, self.rate, next_ms, self.t, symbol=s)
                    if self._okx_channel_wanted(conn, f, s)
                ]
        return out

    def _okx_channel_wanted(self, conn: Conn, frame: str, symbol: str) -> bool:
        if self.venue != "okx":
            return True
        ch = json.loads(frame)["arg"]["channel"]
        return f"{ch}:{symbol[:-4]}-USDT-SWAP" in conn.subscribed

    async def _play(self, conn: Conn) -> None:
        ws = conn.ws
        limit = self.close_after.get(conn.index)
        await conn.has_subscriptions.wait()
        while self.max_frames is None or self.data_sent < self.max_frames:
            for frame in self._next_frames(conn):
                if limit is not None and conn.sent >= limit:
                    await ws.close(1001, "going away")
                    return
                await ws.send(frame)
                conn.sent += 1
                self.data_sent += 1
            await asyncio.sleep(self.pace_s)


async def _serve_forever(venue: str, port: int) -> None:
    server = VenueWsServer(venue, pace_s=0.2, wall_clock=True)
    server._server = await serve(
        server._handle, "127.0.0.1", port, process_request=server._check_path, ping_interval=None
    )
    print(f"ws://127.0.0.1:{server._server.sockets[0].getsockname()[1]}", flush=True)
    await server._server.serve_forever()


def _now_ms() -> int:
    import time

    return time.time_ns() // 1_000_000


if __name__ == "__main__":  # a demo host: python tests/net/venue_ws_server.py okx|bybit [port]
    asyncio.run(_serve_forever(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0))
