"""Collector throughput on a real capture (not collected by pytest).

Three figures, each the best of --repeat runs:
- parse: FrameParser alone over frames already in memory;
- read+parse: the recording read (gunzip, lines) and parsed;
- collector: the CollectorWorker replaying the file at --speed max onto an embedded bus, in lockstep,
  with no consumer (parse + publish, what the collector itself costs).

Run: python tests/feeds/bench_collector.py [CAPTURE] [--repeat N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from tui_trader import messages as m
from tui_trader.bus import EmbeddedBus, EmbeddedCluster
from tui_trader.clock import ReplayClock
from tui_trader.feeds.parser import FrameParser
from tui_trader.feeds.replay import RecordingReader
from tui_trader.paths import shared_data_dir
from tui_trader.settings import Settings
from tui_trader.workers.base import WorkerContext
from tui_trader.workers.collector import CollectorWorker


def bench_parse(path: str) -> dict:
    frames = [(ns // 1_000_000, f) for ns, f in RecordingReader(path)]
    parser = FrameParser()
    parse = parser.parse
    start = time.perf_counter()
    for recv_ms, frame in frames:
        parse(frame, recv_ms)
    elapsed = time.perf_counter() - start
    return {"frames": len(frames), "seconds": elapsed, "frames_per_s": len(frames) / elapsed}


def bench_read_parse(path: str) -> dict:
    parser = FrameParser()
    parse = parser.parse
    start = time.perf_counter()
    n = 0
    for recv_ns, frame in RecordingReader(path):
        parse(frame, recv_ns // 1_000_000)
        n += 1
    elapsed = time.perf_counter() - start
    return {"frames": n, "seconds": elapsed, "frames_per_s": n / elapsed}


async def bench_collector(path: str) -> dict:
    bus = EmbeddedBus(EmbeddedCluster(retention=1_000_000))
    await bus.create_topics(m.TOPICS)
    ctx = WorkerContext(settings=Settings(), bus=bus, clock=ReplayClock(), replay_files=[path], replay_speed=None)
    worker = CollectorWorker(ctx)
    start = time.perf_counter()
    await worker.run()
    elapsed = time.perf_counter() - start
    s = worker.summary()
    published = s["published"]["trade"] + s["published"]["book"]
    await bus.close()
    return {
        "frames": s["frames"],
        "published": published,
        "seconds": elapsed,
        "frames_per_s": s["frames"] / elapsed,
        "published_per_s": published / elapsed,
    }


def best(runs: list[dict]) -> dict:
    top = min(runs, key=lambda r: r["seconds"])
    return {k: (round(v, 3) if k == "seconds" else round(v)) if isinstance(v, float) else v for k, v in top.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = shared_data_dir()
    p.add_argument(
        "capture", nargs="?", default=str(default / "binance_usdm_ws" / "btcusdt_20240808.gz") if default else None
    )
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    if not args.capture:
        raise SystemExit("no capture given and ../shared/data not found")
    out = {
        "capture": args.capture,
        "parse": best([bench_parse(args.capture) for _ in range(args.repeat)]),
        "read_parse": best([bench_read_parse(args.capture) for _ in range(args.repeat)]),
        "collector": best([asyncio.run(bench_collector(args.capture)) for _ in range(args.repeat)]),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
