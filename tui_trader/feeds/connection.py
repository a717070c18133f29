"""The live websocket client of every venue: keeps one planned connection alive and reports its state.

One `FeedConnection` per `ConnectionSpec` (feeds/binance_plan.py: the streams are in the URL) or `VenueSpec`
(feeds/venue.py, OKX and Bybit: once open, the connection sends its subscribe requests, and its venue's
keep-alive text every `ping_every_s`; a venue that gets no ping closes the connection). It hands every frame, with its local
receipt time in ns, to `on_frame` (the collector parses and publishes; `record` writes the file) and
reports state changes to `on_state`, never one per message:

  connecting → live ⇄ stale → down → (backoff) → connecting …

- live: the socket is open. stale: a symbol of this connection got no message for `stale_after_s` on the
  injected clock (`on_frame` returns the symbol a frame was for). down: the socket closed or failed.
- A connection on which no symbol got anything for `reconnect_quiet_s` (0: never) is closed and opened
  again: an open socket that delivers nothing is not left stale for good.
- `on_frame` must not wait on anything slow (the collector hands records to its publisher and returns): while
  it runs, this connection's socket is not read.
- Reconnects back off exponentially from `reconnect_base_s`, doubling up to `reconnect_max_s`, each delay
  jittered to 50–100 % so many clients do not retry in step; a session that delivered frames resets it.
- Rotation: Binance cuts every connection at 24 h, so after `rotate_after_s` the connection is closed
  cleanly and reopened at once. Whatever the server resends after any reconnect is dropped by the
  parser's per-stream id check, so nothing is published twice.
- Pings: Binance pings every 3 min and drops a client that does not pong within 10 min. The `websockets`
  protocol layer answers every ping frame as it reads it, even while this loop is busy (a test
  checks it against a local server). Its own keepalive pings (every 20 s) find a dead TCP link sooner.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import random
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI, WebSocketException
from websockets.proxy import get_proxy
from websockets.uri import parse_uri

from tui_trader.errors import FeedError
from tui_trader.feeds.binance_plan import ConnectionSpec
from tui_trader.feeds.stale import StaleTracker
from tui_trader.feeds.venue import VenueSpec

log = logging.getLogger(__name__)

RECONNECT_BASE_S = 0.5
RESOLVE_TIMEOUT_S = 10.0
OPEN_TIMEOUT_S = 10.0
PING_INTERVAL_S = 20.0
PING_TIMEOUT_S = 20.0
MAX_FRAME_BYTES = 4 * 2**20
MAX_QUEUE = 1024  # frames buffered by the library before it stops reading the socket

OnFrame = Callable[[bytes, int], Awaitable[str | None]]
OnState = Callable[["FeedConnection", str, str, list[str]], Awaitable[None]]


def backoff_delay(attempt: int, base: float, cap: float, rand: Callable[[], float] = random.random) -> float:
    """Delay before reconnect attempt `attempt` (0-based): base·2^attempt capped, jittered to 50–100 %."""
    ceiling = min(cap, base * (2 ** min(attempt, 30)))
    return ceiling * (0.5 + 0.5 * rand())


def describe(err: BaseException) -> str:
    """One line for the log and the desk."""
    if isinstance(err, InvalidStatus):
        return f"server refused the connection (HTTP {err.response.status_code})"
    if isinstance(err, ConnectionClosed):
        close = err.rcvd
        if close is None:
            return "connection lost"
        return f"closed by the server (code {close.code}{': ' + close.reason if close.reason else ''})"
    if isinstance(err, TimeoutError):
        return "timed out"
    if isinstance(err, OSError):
        return err.strerror or str(err) or type(err).__name__
    return str(err) or type(err).__name__


async def resolve(host: str, port: int, timeout: float = RESOLVE_TIMEOUT_S) -> list[str]:
    """The addresses of `host`, looked up on a daemon thread.

    asyncio's own lookup runs on the default executor, whose threads are joined when the loop shuts down:
    a lookup stuck on a dead network would then hold Ctrl-C (and SIGTERM) for the resolver's whole timeout.
    A daemon thread is simply abandoned when the desk stops.
    """
    try:
        ipaddress.ip_address(host)
        return [host]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[Any] = loop.create_future()

    def settle(result: Any) -> None:
        if not fut.done():
            (fut.set_exception if isinstance(result, BaseException) else fut.set_result)(result)

    def lookup() -> None:
        try:
            result: Any = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as err:
            result = err
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is waiting any more
            loop.call_soon_threadsafe(settle, result)

    threading.Thread(target=lookup, name=f"resolve:{host}", daemon=True).start()
    infos = await asyncio.wait_for(fut, timeout)
    return list(dict.fromkeys(info[4][0] for info in infos))


class FeedConnection:
    def __init__(
        self,
        spec: ConnectionSpec | VenueSpec,
        *,
        base_url: str,
        on_frame: OnFrame,
        on_state: OnState,
        now_ms: Callable[[], int],
        stale_after_s: float,
        reconnect_max_s: float,
        rotate_after_s: float,
        reconnect_base_s: float | None = None,
        reconnect_quiet_s: float = 0.0,
    ) -> None:
        self.spec = spec
        self.url = spec.url(base_url) if callable(spec.url) else spec.url
        self.symbols = list(spec.symbols)
        self.on_frame = on_frame
        self.on_state = on_state
        self.now_ms = now_ms
        self.stale_after_ms = int(stale_after_s * 1000)
        self.quiet = StaleTracker(self.stale_after_ms, self.symbols)
        self.reconnect_max_s = reconnect_max_s
        self.rotate_after_s = rotate_after_s
        self.reconnect_base_s = RECONNECT_BASE_S if reconnect_base_s is None else reconnect_base_s
        self.quiet_close_ms = int(reconnect_quiet_s * 1000)  # 0: a quiet connection is kept
        self._quiet = ""  # why the watchdog closed the connection, when it did for silence
        self.state = "down"
        self.detail = ""
        self.frames = 0
        self.sessions = 0
        self.reconnects = 0
        self.rotations = 0
        self._rotating = False
        self._attempts = -1

    @property
    def name(self) -> str:
        return self.spec.name

    async def _set(self, state: str, detail: str = "", symbols: list[str] | None = None) -> None:
        if state == self.state and detail == self.detail:
            return
        self.state, self.detail = state, detail
        await self.on_state(self, state, detail, self.symbols if symbols is None else symbols)

    async def run(self) -> None:
        """Connect and keep connected until cancelled."""
        attempt = 0
        while True:
            await self._set("connecting", self.url)
            frames_before = self.frames
            try:
                await self._session()
                detail = "rotated" if self._rotating else "closed"
            except asyncio.CancelledError:
                raise
            except InvalidURI as err:
                raise FeedError(f"bad feed URL {self.url!r}: {err.msg}") from None
            except socket.gaierror as err:  # the resolver's text does not name the host it could not find
                detail = f"cannot resolve {parse_uri(self.url).host} ({err.strerror or err})"
            except (OSError, TimeoutError, WebSocketException) as err:
                detail = describe(err)
            if self._quiet:
                detail, self._quiet = self._quiet, ""
            if self._rotating:
                self._rotating = False
                self.rotations += 1
                delay = 0.0
            else:
                if self.frames > frames_before:
                    attempt = 0
                delay = backoff_delay(attempt, self.reconnect_base_s, self.reconnect_max_s)
                attempt += 1
            self.reconnects += 1
            log.warning("feed %s: %s; reconnecting in %.1f s", self.name, detail, delay)
            await self._set("down", f"{detail}; reconnecting in {delay:.1f} s")
            if delay:
                await asyncio.sleep(delay)

    async def _connect_args(self) -> dict[str, Any]:
        """Where to connect: the host resolved here (see `resolve`), unless a proxy does it. Successive
        attempts walk through the host's addresses; TLS still checks the certificate against the name."""
        uri = parse_uri(self.url)
        if get_proxy(uri) is not None:
            return {}
        try:
            addresses = await resolve(uri.host, uri.port)
        except OSError as err:
            raise OSError(f"cannot resolve {uri.host}: {err.strerror or err}") from None
        self._attempts += 1
        return {"host": addresses[self._attempts % len(addresses)], "port": uri.port}

    async def _session(self) -> None:
        async with connect(
            self.url,
            **await self._connect_args(),
            open_timeout=OPEN_TIMEOUT_S,
            ping_interval=PING_INTERVAL_S,
            ping_timeout=PING_TIMEOUT_S,
            close_timeout=2.0,
            max_size=MAX_FRAME_BYTES,
            max_queue=MAX_QUEUE,
        ) as ws:
            self.sessions += 1
            self.quiet.reset(self.now_ms())  # silence is measured from the connect
            touch = self.quiet.touch
            log.info("feed %s: connected to %s", self.name, self.url)
            for request in getattr(self.spec, "subscribe", ()):
                await ws.send(request.decode())  # text frames: what the venues expect
            await self._set("live")
            watchdog = asyncio.create_task(self._watch(ws), name=f"feed-watch:{self.name}")
            try:
                recv = ws.recv
                on_frame = self.on_frame
                now_ms = self.now_ms
                while True:
                    raw = await recv(decode=False)
                    recv_ns = time.time_ns()  # receipt time is a fact to record, not a decision
                    self.frames += 1
                    symbol = await on_frame(raw, recv_ns)
                    if symbol is not None:
                        touch(symbol, now_ms())
            except ConnectionClosed:
                if not self._rotating:
                    raise
            finally:
                watchdog.cancel()
                # asyncio.wait, not `await watchdog`: a cancel of this task must not be swallowed here.
                await asyncio.wait([watchdog])
                if not watchdog.cancelled() and watchdog.exception() is not None:
                    log.error("feed %s: watchdog failed: %r", self.name, watchdog.exception())

    async def _watch(self, ws) -> None:
        """Staleness (on the injected clock) and rotation, checked a few times per stale period."""
        interval = min(1.0, max(0.02, self.stale_after_ms / 4000))
        rotate_at = time.monotonic() + self.rotate_after_s
        ping = getattr(self.spec, "ping", b"").decode()
        ping_every = getattr(self.spec, "ping_every_s", 20.0)
        if ping:
            interval = min(interval, max(0.02, ping_every / 4))
        ping_at = time.monotonic() + ping_every
        while True:
            await asyncio.sleep(interval)
            if ping and time.monotonic() >= ping_at:
                ping_at = time.monotonic() + ping_every
                await ws.send(ping)
            if time.monotonic() >= rotate_at:
                log.info("feed %s: rotating the connection before the exchange's 24 h cut", self.name)
                self._rotating = True
                await ws.close(1000, "rotation")
                return
            now = self.now_ms()
            if self.quiet_close_ms and self.quiet.last and now - max(self.quiet.last.values()) >= self.quiet_close_ms:
                # Nothing at all for this long: the link may look open while nothing comes (a stuck server, a
                # half-dead route). Stale is not a state to stay in: a fresh connection is the only remedy.
                self._quiet = f"no message for {self.quiet_close_ms / 1000:g} s"
                log.warning("feed %s: %s; closing it to reconnect", self.name, self._quiet)
                await ws.close(1000, "quiet")
                return
            stale = self.quiet.check(now)
            if stale:
                await self._set("stale", f"no message for {self.stale_after_ms / 1000:g} s: {', '.join(stale)}", stale)
            elif stale is not None and self.state == "stale":
                await self._set("live")

    def summary(self) -> dict:
        return {
            "route": getattr(self.spec, "route", "public"),
            "streams": len(self.spec.streams),
            "state": self.state,
            "frames": self.frames,
            "sessions": self.sessions,
            "reconnects": self.reconnects,
            "rotations": self.rotations,
        }
