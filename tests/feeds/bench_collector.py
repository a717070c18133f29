"""Collector throughput on a real capture (not collected by pytest).

Four figures, each the best of --repeat runs, in wall and CPU seconds (on a shared machine, compare CPU):
- read: the recording read alone (gunzip, lines, receive times);
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


def timed(run) -> dict:
    start, cpu = time.perf_counter(), time.process_time()
    out = run()
    elapsed = time.perf_counter() - start
    return {
        **out,
        "seconds": elapsed,
        "cpu_seconds": time.process_time() - cpu,
        "frames_per_s": out["frames"] / elapsed,
    }


def bench_read(path: str) -> dict:
    def run() -> dict:
        n = 0
        for _ in RecordingReader(path):
            n += 1
        return {"frames": n}

    return timed(run)


def bench_parse(path: str) -> dict:
    frames = [(ns // 1_000_000, f) for ns, f in RecordingReader(path)]
    parser = FrameParser()
    parse = parser.parse_all

    def run() -> dict:
        for recv_ms, frame in frames:
            parse(frame, recv_ms)
        return {"frames": len(frames)}

    return timed(run)


def bench_read_parse(path: str) -> dict:
    parser = FrameParser()
    parse = parser.parse_all

    def run() -> dict:
        n = 0
        for recv_ns, frame in RecordingReader(path):
            parse(frame, recv_ns // 1_000_000)
            n += 1
        return {"frames": n}

    return timed(run)


async def bench_collector(path: str) -> dict:
    bus = EmbeddedBus(EmbeddedCluster(retention=1_000_000))
    await bus.create_topics(m.TOPICS)
    ctx = WorkerContext(settings=Settings(), bus=bus, clock=ReplayClock(), replay_files=[path], replay_speed=None)
    worker = CollectorWorker(ctx)
    start, cpu = time.perf_counter(), time.process_time()
    await worker.run()
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu
    s = worker.summary()
    published = s["published"]["trade"] + s["published"]["book"]
    await bus.close()
    return {
        "frames": s["frames"],
        "published": published,
        "seconds": elapsed,
        "cpu_seconds": cpu,
        "frames_per_s": s["frames"] / elapsed,
        "published_per_s": published / elapsed,
    }


def best(runs: list[dict]) -> dict:
    top = min(runs, key=lambda r: r["cpu_seconds"])
    return {
        k: (round(v, 3) if k.endswith("seconds") else round(v)) if isinstance(v, float) else v for k, v in top.items()
    }


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
        "read": best([bench_read(args.capture) for _ in range(args.repeat)]),
        "parse": best([bench_parse(args.capture) for _ in range(args.repeat)]),
        "read_parse": best([bench_read_parse(args.capture) for _ in range(args.repeat)]),
        "collector": best([asyncio.run(bench_collector(args.capture)) for _ in range(args.repeat)]),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
