"""Indicator worker cost on a real capture (not collected by pytest).

Every message of the capture is encoded as the collector publishes it, then handed to the worker's own
per-record path: decode (book updates skipped before a full decode) → engine → TradingSignal encoded. The
clock is a replay clock advanced to each message's event time, as in a replay. Timed per record with
perf_counter_ns; the bus itself is not in the loop (tests/bench_bus.py measures it).

Run: python tests/bench_indicators.py [--file CAPTURE] [--bar tick|1s|1m…] [--emit change|every] [--json]
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "indicators"))

import indicator_captures

from tui_trader import messages as m
from tui_trader import paths
from tui_trader.bus import EmbeddedBus
from tui_trader.clock import ReplayClock
from tui_trader.settings import parse
from tui_trader.workers import WorkerContext
from tui_trader.workers.indicator import IndicatorWorker


def percentile(sorted_ns: list[int], q: float) -> float:
    if not sorted_ns:
        return 0.0
    return sorted_ns[min(len(sorted_ns) - 1, int(q * len(sorted_ns)))] / 1000.0


def bench(capture: Path, bar: str, emit: str) -> dict:
    feed = indicator_captures.market_data(capture)
    records = [(md.event_time, md.kind, m.encode(md)) for md in feed]
    del feed
    settings = parse({"indicators": {"bar": bar, "emit": emit}})
    clock = ReplayClock()
    worker = IndicatorWorker(WorkerContext(settings=settings, bus=EmbeddedBus(), clock=clock))
    decode, handle, encode, now = worker.decode, worker.handle, m.encode, time.perf_counter_ns
    trade_ns: list[int] = []
    signal_ns: list[int] = []  # the trade records among them that published a signal
    book_ns: list[int] = []
    published = 0
    # The bench's own heap (the whole capture, encoded) is not the worker's: keep the collector from
    # walking it on every collection, which would be charged to the points.
    gc.collect()
    gc.freeze()
    for event_time, kind, value in records:
        clock.advance_to(event_time)
        t0 = now()
        msg = decode(value)
        signals = handle(msg) if msg is not None else []
        for s in signals:
            encode(s)
        t1 = now()
        published += len(signals)
        (trade_ns if kind == "trade" else book_ns).append(t1 - t0)
        if signals:
            signal_ns.append(t1 - t0)
    c = worker.engine.counters
    total_s = (sum(trade_ns) + sum(book_ns)) / 1e9
    # Cost of one point: the trade record that makes it (tick mode), or all trades (time bars: most only move
    # the forming bar's close; the one that closes a bar carries the point).
    trade_ns.sort()
    book_ns.sort()
    signal_ns.sort()
    return {
        "file": capture.name,
        "bar": bar,
        "emit": emit,
        "messages": len(records),
        "trades": len(trade_ns),
        "books": len(book_ns),
        "points": c.points,
        "evaluations": c.evaluations,
        "signals": dict(c.signals),
        "published": published,
        "seconds": round(total_s, 4),
        "messages_per_s": round(len(records) / total_s),
        "points_per_s": round(c.points / total_s),
        "trade_record_us": {
            "p50": percentile(trade_ns, 0.50),
            "p99": percentile(trade_ns, 0.99),
            "max": trade_ns[-1] / 1000.0 if trade_ns else 0.0,
        },
        "signal_record_us": {"p50": percentile(signal_ns, 0.50), "p99": percentile(signal_ns, 0.99)},
        "book_record_us": {"p50": percentile(book_ns, 0.50), "p99": percentile(book_ns, 0.99)},
    }


def main() -> None:
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
