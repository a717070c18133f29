"""`tui-trader record --out FILE.gz [--duration S]`: capture the live feed in the recording format.

The same connections as the collector (plan, reconnects, rotation) for `trading.symbols`; every frame is
written as received, `<recv_time_ns> <raw JSON>` a line, so `--replay FILE` plays the session as it was.
It runs until `--duration` or Ctrl-C/SIGTERM and closes the file cleanly either way. Connection states go
to stderr as they change; the last line on stdout says what was recorded.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

from tui_trader import logs
from tui_trader.clock import Clock
from tui_trader.commands import load_settings
from tui_trader.feeds.connection import FeedConnection
from tui_trader.feeds.parser import FrameParser
from tui_trader.feeds.record import RecordingWriter
from tui_trader.feeds.venue import feed_base_url, plan_feed
from tui_trader.settings import Settings


async def record(
    settings: Settings,
    out: str,
    *,
    duration: float | None = None,
    stop: asyncio.Event | None = None,
    on_state: Callable[[str, str, str], None] | None = None,
    max_frames: int | None = None,
) -> dict[str, Any]:
    """Record until `duration` seconds pass, `stop` is set or `max_frames` are written; returns what was written."""
    feed = settings.feed
    specs = plan_feed(settings)
    base_url = feed_base_url(settings)
    clock = Clock()
    parser = FrameParser(lambda _event_ms: clock.now_ms())  # counts what was recorded
    stop = stop or asyncio.Event()
    started = time.perf_counter()
    with RecordingWriter(out) as writer:
        write = writer.write
        parse = parser.parse_all

        async def on_frame(raw: bytes, recv_ns: int) -> str | None:
            write(recv_ns, raw)
            if max_frames is not None and writer.frames >= max_frames:
                stop.set()
            out = parse(raw, recv_ns // 1_000_000)
            return out[-1].symbol if out else None

        async def state_changed(conn: FeedConnection, state: str, detail: str, symbols: list[str]) -> None:
            if on_state is not None:
                on_state(conn.name, state, detail)

        conns = [
            FeedConnection(
                spec,
                base_url=base_url,
                on_frame=on_frame,
                on_state=state_changed,
                now_ms=clock.now_ms,
                stale_after_s=feed.stale_after_s,
                reconnect_max_s=feed.reconnect_max_s,
                rotate_after_s=feed.rotate_after_s,
            )
            for spec in specs
        ]
        tasks = [asyncio.create_task(c.run(), name=f"record:{c.name}") for c in conns]
        waiter = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait([*tasks, waiter], timeout=duration, return_when=asyncio.FIRST_COMPLETED)
            for t in done:  # a connection task only ends by raising (a bad URL): report it
                err = t.exception() if t is not waiter else None
                if err is not None:
                    raise err
        finally:
            for t in [*tasks, waiter]:
                t.cancel()
            await asyncio.gather(*tasks, waiter, return_exceptions=True)
    summary = parser.summary()
    return {
        "file": out,
        "frames": writer.frames,
        "seconds": round(time.perf_counter() - started, 3),
        "published": summary["published"],
        "ignored": summary["ignored"],
        "malformed": summary["malformed"],
        "connections": {c.name: c.summary() for c in conns},
    }


def run(args: argparse.Namespace) -> int:
    settings, _ = load_settings(args)
    logs.setup(to_stderr=False)

    def show(name: str, state: str, detail: str) -> None:
        print(f"feed {name}: {state}" + (f" ({detail})" if detail else ""), file=sys.stderr)

    async def main() -> dict[str, Any]:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            return await record(settings, args.out, duration=args.duration, stop=stop, on_state=show)
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    result = asyncio.run(main())
    pub = result["published"]
    print(
        f"recorded {result['frames']} frames ({pub['trade']} trades, {pub['book']} book updates) "
        f"to {result['file']} in {result['seconds']:g} s"
    )
    if result["frames"] == 0:
        print("nothing was received: check the network and feed.ws_base_url (tui-trader doctor)", file=sys.stderr)
        return 1
    return 0
