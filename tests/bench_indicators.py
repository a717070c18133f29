"""Indicator worker cost on a real capture, timing the code the worker runs (not collected by pytest).

The capture's trades and book tickers, as the collector makes them (MarketData), are published on an
embedded bus the way the collector publishes them (typed, in process, the replay clock advanced to each
message's event time first), a slice of `SLICE` messages at a time; after each slice the real
`IndicatorWorker.run()` consumes it (its subscription, its per-record path, its signals and values published
on the bus) until the bus is idle. The worker's time is the wall time of the whole run minus the time spent
publishing the input. Per-record percentiles are not measured: timing inside the worker's loop would change
what is timed (tui-trader bench measures receipt → signal latency per message on the whole pipeline).

Run: python tests/bench_indicators.py [--file CAPTURE] [--bar tick|1s|1m…] [--emit change|every] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "indicators"))

import indicator_captures

from tui_trader import messages as m
from tui_trader.bus import EmbeddedBus
from tui_trader.clock import ReplayClock
from tui_trader.settings import parse
from tui_trader.workers import WorkerContext
from tui_trader.workers.indicator import IndicatorWorker

SLICE = 256  # messages published between two turns of the worker (the collector yields this often)


async def bench_async(feed: list[m.MarketData], bar: str, emit: str) -> dict:
    settings = parse({"indicators": {"bar": bar, "emit": emit}})
    bus = EmbeddedBus()
    await bus.create_topics(m.TOPICS)
    clock = ReplayClock()
    worker = IndicatorWorker(WorkerContext(settings=settings, bus=bus, clock=clock, lockstep=False))
    topic = m.MARKET_DATA
    publish, advance, now = bus.publish_msg_nowait, clock.advance_to, time.perf_counter
    publishing = 0.0
    # The bench's own heap (the whole capture) is not the worker's: keep the collector from walking it on
    # every collection, which would be charged to the worker.
    gc.collect()
    gc.freeze()
    started = now()
    task = asyncio.create_task(worker.run(), name="indicator")
    # Subscribed (its first step): idle now means caught up. The bus has no event for a new subscriber.
    while not bus.cluster.topic(topic).subs:  # noqa: ASYNC110
        await asyncio.sleep(0)
    for i in range(0, len(feed), SLICE):
        t0 = now()
        for md in feed[i : i + SLICE]:
            advance(md.event_time)
            publish(topic, md.symbol, md)
        publishing += now() - t0
        await bus.wait_idle()
    total = now() - started
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await bus.close()
    return {"worker_s": total - publishing, "worker": worker}


def bench(capture: Path, bar: str, emit: str) -> dict:
    feed = indicator_captures.market_data(capture)
    result = asyncio.run(bench_async(feed, bar, emit))
    worker: IndicatorWorker = result["worker"]
    seconds = result["worker_s"]
    c = worker.engine.counters
    return {
        "file": capture.name,
        "bar": bar,
        "emit": emit,
        "messages": len(feed),
        "trades": c.trades,
        "books": worker.counters()["books"],
        "points": c.points,
        "evaluations": c.evaluations,
        "signals": dict(c.signals),
        "published": worker.published,
        "values_published": worker.values_published,
        "seconds": round(seconds, 4),
        "messages_per_s": round(len(feed) / seconds),
        "points_per_s": round(c.points / seconds) if c.points else 0,
        "us_per_message": round(seconds / len(feed) * 1e6, 3),
        # All of the worker's time over the points: what a point costs including the book updates around it.
        "us_per_point": round(seconds / c.points * 1e6, 3) if c.points else 0.0,
    }


def main() -> None:
    from tui_trader import paths

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    data = paths.shared_data_dir()
    default = data / "binance_usdm_ws" / "btcusdt_20240808.gz" if data else None
    p.add_argument("--file", type=Path, default=default, help="a capture in the recording format")
    p.add_argument("--bar", default="tick", help='indicators.bar: "tick" (default here) or a time bar')
    p.add_argument("--emit", default="change", choices=["change", "every"])
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    if args.file is None or not args.file.exists():
        p.error("capture not found: pass --file (or set TUI_TRADER_DATA)")
    result = bench(args.file, args.bar, args.emit)
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
