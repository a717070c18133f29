"""The feed check: connect to `feed.ws_base_url` exactly as the collector does and wait for market frames.

Every planned connection of the chosen venue (feed.venue; Binance routed paths and streams, or OKX/Bybit subscriptions) is opened with the collector's own
client; the check passes when each one delivered a frame the parser turns into a trade or a book update
within the timeout. A URL that merely looks right is not enough: the desk needs frames.
"""

from __future__ import annotations

import asyncio
import time

from tui_trader.clock import Clock
from tui_trader.doctor.report import Check
from tui_trader.errors import FeedError
from tui_trader.feeds.binance_plan import ConnectionSpec
from tui_trader.feeds.connection import FeedConnection
from tui_trader.feeds.parser import FrameParser
from tui_trader.feeds.venue import VenueSpec, feed_base_url, plan_feed, venue_of
from tui_trader.settings import Settings


class _Probe:
    """One planned connection under test: its first market frame, or why it never came."""

    def __init__(self, spec: ConnectionSpec | VenueSpec, settings: Settings, done: asyncio.Event, clock: Clock) -> None:
        self.spec = spec
        self.parser = FrameParser()
        self.first_frame_s: float | None = None
        self.failure = ""  # the first reason the connection went down
        self.connected = False
        self._done = done
        self._started = time.monotonic()
        feed = settings.feed
        self.conn = FeedConnection(
            spec,
            base_url=feed_base_url(settings),
            on_frame=self._on_frame,
            on_state=self._on_state,
            now_ms=clock.now_ms,
            stale_after_s=feed.stale_after_s,
            reconnect_max_s=feed.reconnect_max_s,
            rotate_after_s=feed.rotate_after_s,
        )

    async def _on_frame(self, raw: bytes, recv_ns: int) -> str | None:
        out = self.parser.parse_all(raw, recv_ns // 1_000_000)
        md = out[-1] if out else None
        if md is not None and self.first_frame_s is None:
            self.first_frame_s = time.monotonic() - self._started
            self._done.set()
        return md.symbol if md is not None else None

    async def _on_state(self, conn: FeedConnection, state: str, detail: str, symbols: list[str]) -> None:
        if state == "live":
            self.connected = True
        elif state == "down" and not self.failure:
            self.failure = detail.partition("; reconnecting")[0]
        self._done.set()

    def problem(self, timeout: float) -> str:
        """Why this connection fails the check ("" when a market frame came)."""
        if self.first_frame_s is not None:
            return ""
        if not self.connected:
            return self.failure or f"no connection within {timeout:g} s"
        if self.failure:  # connected, then lost (closed by the server, dropped)
            return f"connected, then {self.failure}; no market frame within {timeout:g} s"
        return f"connected but no market frame within {timeout:g} s"


def _summary(probes: list[_Probe], timeout: float) -> str:
    """The failing connections grouped by reason: one reason with the connections and streams it hit."""
    by_reason: dict[str, list[_Probe]] = {}
    for p in probes:
        why = p.problem(timeout)
        if why:
            by_reason.setdefault(why, []).append(p)
    parts = []
    for why, hit in by_reason.items():
        streams = ", ".join("/".join(p.spec.streams) for p in hit)
        parts.append(f"{why} ({len(hit)} of {len(probes)} connections: {streams})")
    return "; ".join(parts)


async def check_feed(settings: Settings, timeout: float) -> Check:
    try:
        specs = plan_feed(settings)
    except FeedError as err:
        return Check(name="feed", status="fail", detail=err.message)
    # Binance's specs name their streams in the URL joined to the base; OKX/Bybit specs carry their whole URL.
    url = feed_base_url(settings)
    if specs and isinstance(specs[0].url, str):
        url = f"{venue_of(settings)} {specs[0].url}"
    wake = asyncio.Event()
    clock = Clock()
    probes = [_Probe(spec, settings, wake, clock) for spec in specs]
    tasks = [asyncio.create_task(p.conn.run(), name=f"doctor-feed:{p.spec.name}") for p in probes]
    deadline = time.monotonic() + timeout
    try:
        while not all(p.first_frame_s is not None for p in probes):
            left = deadline - time.monotonic()
            if left <= 0 or any(t.done() for t in tasks):
                break
            wake.clear()
            try:
                await asyncio.wait_for(wake.wait(), left)
            except TimeoutError:
                break
    finally:
        for t in tasks:
            t.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    for r in results:  # a connection task only ends by itself on a bad URL
        if isinstance(r, FeedError):
            return Check(name="feed", status="fail", detail=r.message)
    problems = _summary(probes, timeout)
    if problems:
        return Check(name="feed", status="fail", detail=f"{url}: {problems}")
    slowest = max(p.first_frame_s or 0.0 for p in probes)
    names = ", ".join(p.spec.name for p in probes)
    return Check(
        name="feed",
        status="ok",
        detail=f"{url}: market frames on all {len(probes)} connections within {slowest:.2f} s ({names})",
    )
