"""A loopback stand-in for Binance USD-M market streams, for tests (127.0.0.1 only, never the internet).

It speaks the combined-stream protocol: `ws://127.0.0.1:<port>/<public|market>/stream?streams=a/b/c`,
frames `{"stream":…,"data":…}` as text. Like the real service since the routed-path split, a stream
opened on the wrong path (or with an upper-case symbol) is accepted and then stays silent; the server
notes it in `violations` so tests can assert the client never does it. Unknown paths get HTTP 404.

It plays real frames (from `../shared/data` captures) to each connection: the frames of the streams that
connection asked for, in capture order. Per set of streams it remembers how far it got, so a reconnecting
client continues where it left off, optionally after re-sending the last `resend` frames (as an exchange
may). Behaviour per connection (0-based, in connect order): `close_after={i: n}` closes connection i after
n frames (`close_mode` "close" sends a close frame, "drop" cuts the TCP link); `silent=True` sends nothing;
`preamble` frames (garbage, replies) go first on every connection; `start_delay_s` holds the frames back
after connect; `pace_s` spaces them out (a live-like trickle instead of a burst); `hold_at=(n, event)` sends
nothing from the n-th frame of the capture on until the test sets the event; `quiet_after={i: n}` makes
connection i send nothing more after n frames while it stays open (a feed that goes quiet).
"""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from .ws_server import LoopbackWsServer

# Binance's routing as the exchange applies it (as ccxt 4.5 routes it: book streams and trade on /public, the rest on /market): kept here on its own,
# not imported from the client, so a routing mistake in the client shows up as a violation.
PUBLIC_KINDS = {"bookTicker", "trade", "depth", "rpiDepth"}
MARKET_KINDS = {"aggTrade", "markPrice", "kline", "ticker", "miniTicker", "forceOrder", "continuousKline"}


def stream_kind(stream: str) -> str:
    kind = stream.partition("@")[2].partition("@")[0]
    return kind.partition("_")[0]


def stream_of(frame: str) -> str:
    return json.loads(frame)["stream"]


def capture_frames(path: Path, kinds: Iterable[str] = ("trade", "bookTicker"), limit: int | None = None) -> list[str]:
    """Raw frames of the given stream kinds from a `<recv_ns> <json>` capture, in order."""
    wanted = set(kinds)
    out: list[str] = []
    with gzip.open(path, "rt") if path.suffix == ".gz" else path.open() as fh:
        for line in fh:
            frame = line.partition(" ")[2].rstrip("\n")
            if not frame.startswith('{"stream"'):
                continue
            if stream_kind(stream_of(frame)) in wanted:
                out.append(frame)
                if limit is not None and len(out) >= limit:
                    break
    return out


def as_agg_trade(frame: str) -> str:
    """A `@trade` frame rewritten as the `@aggTrade` frame of the same single trade."""
    env = json.loads(frame)
    d = env["data"]
    symbol = env["stream"].partition("@")[0]
    agg = {
        "e": "aggTrade",
        "E": d["E"],
        "a": d["t"],
        "s": d["s"],
        "p": d["p"],
        "q": d["q"],
        "f": d["t"],
        "l": d["t"],
        "T": d["T"],
        "m": d["m"],
        "nq": d["q"],
    }
    return json.dumps({"stream": f"{symbol}@aggTrade", "data": agg}, separators=(",", ":"))


@dataclass
class Connection:
    index: int
    path: str
    route: str
    streams: list[str]
    sent: int = 0
    ws: ServerConnection | None = field(default=None, repr=False)
    closed: asyncio.Event = field(default_factory=asyncio.Event, repr=False)


class BinanceWsServer(LoopbackWsServer):
    def __init__(
        self,
        frames: Sequence[str] = (),
        *,
        close_after: dict[int, int] | None = None,
        close_mode: str = "close",
        resend: int = 0,
        silent: bool = False,
        preamble: Sequence[str | bytes] = (),
        pace_s: float = 0.0,
        start_delay_s: float = 0.0,
        hold_at: tuple[int, asyncio.Event] | None = None,
        quiet_after: dict[int, int] | None = None,
    ) -> None:
        self.frames = list(frames)
        self._frame_streams = [stream_of(f) for f in self.frames]
        self.close_after = dict(close_after or {})
        self.close_mode = close_mode
        self.resend = resend
        self.silent = silent
        self.preamble = list(preamble)
        self.pace_s = pace_s
        self.start_delay_s = start_delay_s
        self.hold_at = hold_at
        self.quiet_after = dict(quiet_after or {})
        self.connections: list[Connection] = []
        self.violations: list[str] = []
        self._cursor: dict[tuple[str, ...], int] = {}
        self._server = None
        self._handlers: set[asyncio.Task] = set()
        self.url = ""

    # --- lifecycle ---

    # --- helpers for tests ---

    async def ping(self, index: int = 0, timeout: float = 5.0) -> float:
        """Send a ping frame on a connection and return the latency of the client's pong."""
        waiter = await self.connections[index].ws.ping()
        return await asyncio.wait_for(waiter, timeout)

    # --- protocol ---

    def _check_path(self, connection: ServerConnection, request):
        route, _, rest = urlsplit(request.path).path.strip("/").partition("/")
        if route not in ("public", "market") or rest != "stream":
            self.violations.append(f"unknown path {request.path}")
            return connection.respond(404, "Not Found")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        parts = urlsplit(ws.request.path)
        route = parts.path.strip("/").partition("/")[0]
        streams = [s for s in parse_qs(parts.query).get("streams", [""])[0].split("/") if s]
        conn = Connection(len(self.connections), ws.request.path, route, streams, ws=ws)
        self.connections.append(conn)
        served = set()
        for stream in streams:
            kind = stream_kind(stream)
            symbol = stream.partition("@")[0]
            if symbol != symbol.lower():
                self.violations.append(f"upper-case stream name {stream}")
            elif (route == "public" and kind in PUBLIC_KINDS) or (route == "market" and kind in MARKET_KINDS):
                served.add(stream)
            else:
                self.violations.append(f"{stream} opened on /{route}")
        try:
            for frame in self.preamble:
                await ws.send(frame)
            if self.start_delay_s:
                await asyncio.sleep(self.start_delay_s)
            if not self.silent:
                await self._play(conn, served)
            await ws.wait_closed()
        except ConnectionClosed:
            pass
        finally:
            conn.closed.set()

    async def _play(self, conn: Connection, served: set[str]) -> None:
        key = tuple(sorted(conn.streams))
        start = self._cursor.get(key)
        index = 0 if start is None else max(0, start - self._back(start, served))
        limit = self.close_after.get(conn.index)
        quiet = self.quiet_after.get(conn.index)
        ws = conn.ws
        for i in range(index, len(self.frames)):
            if self._frame_streams[i] not in served:
                continue
            if quiet is not None and conn.sent >= quiet:
                return  # the connection stays open and says nothing more
            hold = self.hold_at
            if hold is not None and i >= hold[0] and not hold[1].is_set() and not await self._released(ws, hold[1]):
                return
            if limit is not None and conn.sent >= limit:
                if self.close_mode == "drop":
                    await self._drained(ws)  # what was sent reaches the client; then the link dies
                    ws.transport.abort()
                else:
                    await ws.close(1001, "going away")
                return
            await ws.send(self.frames[i])
            conn.sent += 1
            if self.pace_s:
                await asyncio.sleep(self.pace_s)
            self._cursor[key] = max(self._cursor.get(key, 0), i + 1)

    @staticmethod
    async def _released(ws: ServerConnection, event: asyncio.Event) -> bool:
        """Wait for `event`; False when the connection closed first (a server stopping never hangs here)."""
        released = asyncio.ensure_future(event.wait())
        closed = asyncio.ensure_future(ws.wait_closed())
        await asyncio.wait({released, closed}, return_when=asyncio.FIRST_COMPLETED)
        released.cancel()
        closed.cancel()
        return event.is_set()

    @staticmethod
    async def _drained(ws: ServerConnection, timeout: float = 5.0) -> None:
        from kit.wait import until  # here, not at the top: the kit imports these servers

        # The transport has no event for an empty write buffer: a bounded poll.
        await until(lambda: not ws.transport.get_write_buffer_size(), "the client to take what was sent", timeout)

    def _back(self, start: int, served: set[str]) -> int:
        """How many frame positions to step back so that `resend` served frames are sent again."""
        if not self.resend:
            return 0
        count, back = 0, 0
        for i in range(start - 1, -1, -1):
            back += 1
            if self._frame_streams[i] in served:
                count += 1
                if count == self.resend:
                    break
        return back
