"""Collector → indicator on a real Fluvio cluster, against the embedded bus (a script, not a test).

Run: python tests/bench_fluvio.py --endpoint 127.0.0.1:9003 [--messages 300000] [--rate 5000] [--seconds 20]

What it measures, each on fresh topics (a unique prefix, deleted at the end):
- throughput: market messages/s from the first publish until the indicator has handled the last one. This
  process publishes as the collector does (`publish_bundled`, batches of the collector's PUBLISH_BATCH
  messages: what a busy hand-off drains at once); the indicator runs as `tui-trader worker indicator` processes. Done is when the
  indicator's committed market-data offsets (on the cluster) reach each partition's end. Runs: 1 partition
  and 1 worker; 2 partitions read by 1 worker; 2 partitions shared by 2 workers (`--member 0/2`, `1/2`).
  Embedded: the same messages through the indicator worker in this process (`publish_msg_nowait`).
- latency: receipt → signal at a paced rate (every 2 ms a batch): a message's receipt time is set when it is
  published; a signal's latency is the time this process reads it minus the receipt time of the trade that
  produced it (found by symbol and price, which the price path keeps unique). p50/p99/max.

The market is synthetic but shaped like the shared captures: 4 symbols, one trade to three book updates,
prices on a slow wave so the indicators (tick bars; a signal when its kind changes, as by default) produce
signals often.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import tomlkit

from tui_trader import messages as m
from tui_trader.bus import EmbeddedBus, EmbeddedCluster, Start, route_acks
from tui_trader.bus.fluvio_offsets import BASE_TOPIC
from tui_trader.clock import Clock
from tui_trader.settings import Settings
from tui_trader.workers import WorkerContext
from tui_trader.workers.collector import PUBLISH_BATCH
from tui_trader.workers.indicator import IndicatorWorker

ROOT = Path(__file__).resolve().parents[1]
SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"]  # BTCUSDT in partition 1 of 2, the others in 0
BASE = {"BTCUSDT": 60_000.0, "ETHUSDT": 2_500.0, "SOLUSDT": 150.0, "XRPUSDT": 0.5}
BATCH = PUBLISH_BATCH  # what the live collector takes from its hand-off and publishes at once


def market(i: int, now_ms: int) -> m.MarketData:
    """The i-th message: symbols in turn, every fourth one a trade; the trade price follows a wave plus a
    tiny step that keeps it unique per symbol over a run."""
    symbol = SYMBOLS[i % len(SYMBOLS)]
    n = i // len(SYMBOLS)
    base = BASE[symbol]
    price = round(base * (1 + 0.004 * math.sin(n / 60.0)) + base * 1e-9 * (n % 100_000), 10)
    trade = n % 4 == 0
    return m.MarketData(
        symbol=symbol,
        kind="trade" if trade else "book",
        price=price,
        volume=0.01 if trade else 0.0,
        bid=price * 0.9999,
        bid_qty=1.0,
        ask=price * 1.0001,
        ask_qty=1.0,
        event_time=now_ms,
        recv_time=now_ms,
        ts=now_ms,
    )


def settings_doc(endpoint: str, prefix: str, partitions: int) -> tomlkit.TOMLDocument:
    doc = tomlkit.parse((ROOT / "settings.toml").read_text())
    doc["trading"]["symbols"] = SYMBOLS  # type: ignore[index]
    ind = doc["indicators"]
    ind["bar"], ind["warmup"] = "tick", False  # type: ignore[index]
    bus = doc["bus"]
    bus["backend"], bus["fluvio_endpoint"], bus["topic_prefix"] = "fluvio", endpoint, prefix  # type: ignore[index]
    bus["partitions"] = partitions  # type: ignore[index]
    return doc


# --- embedded ---------------------------------------------------------------------------------------------


async def embedded_throughput(messages: int) -> dict:
    settings = _settings_from(settings_doc("", "", 1))
    bus = EmbeddedBus(EmbeddedCluster(retention=messages + 1000))
    ctx = WorkerContext(settings=settings, bus=bus, clock=Clock(), lockstep=False)
    for t in m.TOPICS:
        await bus.create_topics([ctx.topic(t)])
    worker = IndicatorWorker(ctx)
    task = asyncio.create_task(worker.run())
    await asyncio.sleep(0.2)
    topic = ctx.topic(m.MARKET_DATA)
    now = time.time_ns() // 1_000_000
    batch = [market(i, now) for i in range(messages)]
    start = time.perf_counter()
    for i, md in enumerate(batch):
        bus.publish_msg_nowait(topic, md.symbol, md)
        if i % 256 == 255:
            await asyncio.sleep(0)
    await bus.wait_idle()
    elapsed = time.perf_counter() - start
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return {"run": "embedded, 1 process", "messages": messages, "seconds": elapsed, "per_s": messages / elapsed}


def _settings_from(doc: tomlkit.TOMLDocument) -> Settings:
    import msgspec

    return msgspec.convert(doc.unwrap(), Settings)


# --- fluvio -----------------------------------------------------------------------------------------------


class Cluster:
    """Indicator worker processes on fresh topics, and this process's handle on the same cluster."""

    def __init__(self, endpoint: str, partitions: int, members: list[str | None]) -> None:
        from tui_trader.bus.fluvio_bus import FluvioBus

        self.endpoint = endpoint
        self.partitions = partitions
        self.members = members
        self.prefix = "bench" + uuid.uuid4().hex[:8]
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-fluvio-"))
        self.bus = FluvioBus(endpoint, 10, offsets_topic=self.topic(BASE_TOPIC))
        self.procs: list[subprocess.Popen] = []

    def topic(self, base: str) -> str:
        return m.topic_name(base, self.prefix)

    async def start(self) -> None:
        from tui_trader.bus.topics import create_pipeline_topics

        await self.bus.connect()
        settings = _settings_from(settings_doc(self.endpoint, self.prefix, self.partitions))
        await create_pipeline_topics(self.bus, settings.bus)
        conf = self.tmp / "settings.toml"
        conf.write_text(tomlkit.dumps(settings_doc(self.endpoint, self.prefix, self.partitions)))
        health = await self.bus.subscribe(self.topic(m.HEALTH), Start.BEGINNING)
        env = dict(os.environ, XDG_STATE_HOME=str(self.tmp / "state"))
        for member in self.members:
            extra = ["--member", member] if member else []
            cmd = [sys.executable, "-m", "tui_trader", "worker", "indicator", "--config", str(conf), *extra]
            self.procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))  # noqa: ASYNC220 - a script: starting a process takes a moment
        # Listening once each has said it runs (a bounded wait on that condition).
        running = 0
        deadline = time.monotonic() + 60
        while running < len(self.members):
            rec = await asyncio.wait_for(health.__anext__(), max(0.1, deadline - time.monotonic()))
            h = json.loads(rec.value)
            if h["component"] == "worker:indicator" and h["state"] == "running":
                running += 1
        await health.close()
        # ... and listening: each partition's market-data consumer has pinned its start on the cluster (a
        # worker says it runs before its subscriptions are in place; what comes before is read late).
        topic = self.topic(m.MARKET_DATA)
        while True:
            pins = [await self.bus.read_committed(f"indicator-{topic}", topic, p) for p in range(self.partitions)]
            if all(pin is not None for pin in pins):
                break
            if time.monotonic() > deadline:
                raise TimeoutError("the indicator workers did not subscribe within 60 s")
            await asyncio.sleep(0.1)

    async def done_offsets(self) -> dict[int, int]:
        """Per partition, the last market-data offset the indicator workers committed (-1: none)."""
        topic = self.topic(m.MARKET_DATA)
        out = {}
        for part in range(self.partitions):
            got = await self.bus.read_committed(f"indicator-{topic}", topic, part)
            out[part] = -1 if got is None else got
        return out

    async def stop(self) -> None:
        for p in self.procs:
            p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        await self.bus.close()
        # Deleted when the whole bench is done: on this cluster a topic create right after a delete waits for
        # the SC (60 s, then a timeout), which would fail the next run.
        LEFT_BEHIND.extend(self.topic(t) for t in (*m.TOPICS, BASE_TOPIC))


LEFT_BEHIND: list[str] = []


def delete_topics(endpoint: str, names: list[str]) -> None:
    import fluvio

    admin = fluvio.FluvioAdmin.connect_with_config(fluvio.FluvioConfig.new(endpoint))
    existing = {t.name() for t in admin.list_topics(names)}
    for name in names:
        if name in existing:
            admin.delete_topic(name)


async def fluvio_throughput(endpoint: str, messages: int, partitions: int, members: list[str | None]) -> dict:
    c = Cluster(endpoint, partitions, members)
    await c.start()
    try:
        topic = c.topic(m.MARKET_DATA)
        now = time.time_ns() // 1_000_000
        encoded = [(md.symbol, m.encode(md)) for md in (market(i, now) for i in range(messages))]
        start = time.perf_counter()
        for i in range(0, messages, BATCH):
            await c.bus.publish_bundled(topic, encoded[i : i + BATCH])
        published = time.perf_counter() - start
        ends = {p: await c.bus.end_offset(topic, p) for p in range(partitions)}
        # Done when every partition's committed offset is within a few records of its end: the worker
        # commits every 100 messages (a bundle's commit covers the records before it), so the last few
        # messages are committed only when it stops.
        deadline = time.monotonic() + 300
        while True:
            done = await c.done_offsets()
            if all(done[p] >= ends[p] - 3 for p in ends):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"indicator did not finish: committed {done}, ends {ends}")
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - start
    finally:
        await c.stop()
    workers = len(members)
    return {
        "run": f"fluvio, {partitions} partition{'s' * (partitions > 1)}, {workers} indicator worker{'s' * (workers > 1)}",
        "messages": messages,
        "records": sum(ends.values()),
        "publish_s": published,
        "seconds": elapsed,
        "per_s": messages / elapsed,
    }


TICK_S = 0.002  # paced runs publish a batch this often (what a collector's hand-off holds at that rate)


async def paced(bus, topic: str, rate: int, seconds: float, publish, sent: dict) -> None:
    """Publish `rate` messages/s for `seconds`, a batch every TICK_S, stamped with their receipt time."""
    per_tick = max(1, round(rate * TICK_S))
    i = 0
    start = time.perf_counter()
    ticks = int(seconds / TICK_S)
    for tick in range(ticks):
        target = start + tick * TICK_S
        delay = target - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        now = time.time_ns() // 1_000_000
        batch = [market(i + k, now) for k in range(per_tick)]
        i += per_tick
        for md in batch:
            if md.kind == "trade":
                sent[(md.symbol, md.price)] = md.recv_time
        await publish(topic, batch)


def percentiles(lat: list[float]) -> dict:
    lat = sorted(lat)
    if not lat:
        return {"signals": 0}

    def pick(q: float) -> float:
        return lat[min(len(lat) - 1, int(q * len(lat)))]

    return {"signals": len(lat), "p50_ms": pick(0.5), "p99_ms": pick(0.99), "max_ms": lat[-1]}


async def read_latencies(sub, sent: dict, out: list[float], decode) -> None:
    async for rec in sub:
        arrived = time.time_ns() / 1e6
        sig = decode(rec)
        t = sent.get((sig.symbol, sig.price))
        if t is not None:
            out.append(arrived - t)


async def fluvio_latency(endpoint: str, rate: int, seconds: float) -> dict:
    c = Cluster(endpoint, 1, [None])
    await c.start()
    try:
        sub = await c.bus.subscribe(c.topic(m.SIGNALS), Start.END)
        sent: dict = {}
        lat: list[float] = []
        decoder = m.Decoder()

        def decode(rec):
            return decoder.decode("", rec.value, base_topic=m.SIGNALS)

        reader = asyncio.create_task(read_latencies(sub, sent, lat, decode))

        async def publish(topic, batch):
            await c.bus.publish_bundled(topic, [(md.symbol, m.encode(md)) for md in batch])

        await paced(c.bus, c.topic(m.MARKET_DATA), rate, seconds, publish, sent)
        await asyncio.sleep(1.0)  # the last signals in flight (what is late beyond this is not counted)
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        await sub.close()
    finally:
        await c.stop()
    return {"run": f"fluvio, paced {rate}/s, {seconds:g} s", **percentiles(lat)}


async def embedded_latency(rate: int, seconds: float) -> dict:
    settings = _settings_from(settings_doc("", "", 1))
    bus = EmbeddedBus(EmbeddedCluster(retention=200_000))
    ctx = WorkerContext(settings=settings, bus=bus, clock=Clock(), lockstep=False)
    for t in m.TOPICS:
        await bus.create_topics([ctx.topic(t)])
    worker = IndicatorWorker(ctx)
    task = asyncio.create_task(worker.run())
    sub = await bus.subscribe(ctx.topic(m.SIGNALS), Start.END)
    sent: dict = {}
    lat: list[float] = []
    reader = asyncio.create_task(read_latencies(sub, sent, lat, lambda rec: rec.msg))

    async def publish(topic, batch):
        for md in batch:
            bus.publish_msg_nowait(topic, md.symbol, md)

    await paced(bus, ctx.topic(m.MARKET_DATA), rate, seconds, publish, sent)
    await asyncio.sleep(0.5)
    for t in (reader, task):
        t.cancel()
    await asyncio.gather(reader, task, return_exceptions=True)
    return {"run": f"embedded, paced {rate}/s, {seconds:g} s", **percentiles(lat)}


def table(rows: list[dict]) -> str:
    lines = ["| run | messages | seconds | messages/s |", "|---|---:|---:|---:|"]
    lines += [
        f"| {r['run']} | {r['messages']:,} | {r['seconds']:.2f} | {r['per_s']:,.0f} |" for r in rows if "per_s" in r
    ]
    lat = [r for r in rows if "signals" in r]
    if lat:
        lines += ["", "| run | signals | p50 ms | p99 ms | max ms |", "|---|---:|---:|---:|---:|"]
        for r in lat:
            if r["signals"]:
                lines.append(
                    f"| {r['run']} | {r['signals']:,} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['max_ms']:.1f} |"
                )
            else:
                lines.append(f"| {r['run']} | 0 | - | - | - |")
    return "\n".join(lines)


async def runs(args: argparse.Namespace, rows: list[dict]) -> None:
    if args.only != "latency":
        rows.append(await embedded_throughput(args.messages))
        rows.append(await fluvio_throughput(args.endpoint, args.messages, 1, [None]))
        rows.append(await fluvio_throughput(args.endpoint, args.messages, 2, [None]))
        rows.append(await fluvio_throughput(args.endpoint, args.messages, 2, ["0/2", "1/2"]))
    if args.only != "throughput":
        rows.append(await embedded_latency(args.rate, args.seconds))
        rows.append(await fluvio_latency(args.endpoint, args.rate, args.seconds))


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--endpoint", default=os.environ.get("TUI_TRADER_FLUVIO", "127.0.0.1:9003"))
    p.add_argument("--messages", type=int, default=300_000)
    p.add_argument("--rate", type=int, default=5_000)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--only", choices=["throughput", "latency"], help="run one half")
    p.add_argument("--tick-ms", type=float, default=2.0, help="paced runs: a batch every this many ms")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    global TICK_S
    TICK_S = args.tick_ms / 1000
    rows: list[dict] = []
    try:
        await runs(args, rows)
    finally:
        delete_topics(args.endpoint, LEFT_BEHIND)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}"
    )
    # Whether ACKs on the route to the cluster go out at once: without, each hop can wait ~40 ms (route_acks).
    acks, address = route_acks.route_quickack(args.endpoint)
    print(f"quick ACKs on the route to {address}: {'unknown' if acks is None else 'on' if acks else 'off'}")
    print(table(rows))
    if args.json:
        print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
