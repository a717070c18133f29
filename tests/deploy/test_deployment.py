"""The four workers as processes on a real Fluvio cluster (`tui-trader worker collector|indicator|router|
executor`, paper), started in random order, the collector fed by the loopback Binance server playing a slice of
the real BTC capture at full speed: every trade frame reaches market-data in order and every book frame is
published or counted as conflated; the signals equal the indicator core's on the same market data; every
order gets exactly one fill or rejection. Then the indicator and the router are killed (-9) mid-run and
started again: no order is doubled or left without its status.

Runs when TUI_TRADER_FLUVIO=host:port names a reachable cluster; skipped with that reason otherwise. A unique
topic prefix per run; the topics are deleted at the end."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal as sig
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import tomlkit
from contract.fluvio_kit import FLUVIO, FLUVIO_SKIP, delete_fluvio_topics
from kit import until
from net.binance_ws_server import BinanceWsServer, capture_frames, stream_of

from tui_trader import messages as m
from tui_trader.bus import Start, fluvio_offsets
from tui_trader.bus.fluvio_bus import FluvioBus
from tui_trader.bus.topics import create_pipeline_topics

pytestmark = [pytest.mark.fluvio, pytest.mark.skipif(not FLUVIO, reason=FLUVIO_SKIP)]
ROOT = Path(__file__).resolve().parents[2]
FRAMES = 8000  # trade and book frames from the capture's start: ~2,000 trades
WORKERS = ["collector", "indicator", "router", "executor"]


def settings_file(tmp_path: Path, prefix: str, server_url: str, name: str) -> Path:
    doc = tomlkit.parse((ROOT / "settings.toml").read_text())
    doc["trading"]["symbols"] = ["BTCUSDT"]
    # Every trade is a point: the slice gives signals (one-minute bars would give none in its minutes).
    doc["indicators"]["bar"], doc["indicators"]["warmup"] = "tick", False
    # No cool-down: the router acts on every signal it may (the slice lasts seconds).
    doc["risk"]["cooldown_s"] = 0.0
    feed = doc["feed"]
    feed["ws_base_url"], feed["trade_stream"], feed["marks"] = server_url, "trade", False
    feed["dedicated_symbols"] = ["BTCUSDT"]
    bus = doc["bus"]
    bus["backend"], bus["fluvio_endpoint"], bus["topic_prefix"] = "fluvio", FLUVIO, prefix
    doc["journal"]["path"] = str(tmp_path / f"{name}.sqlite3")
    conf = tmp_path / f"{name}.toml"
    conf.write_text(tomlkit.dumps(doc))
    return conf


class Workers:
    def __init__(self, tmp_path: Path, prefix: str, url: str) -> None:
        self.tmp_path, self.prefix, self.url = tmp_path, prefix, url
        self.procs: dict[str, subprocess.Popen] = {}
        self.errors: list[str] = []

    def start(self, name: str) -> None:
        conf = settings_file(self.tmp_path, self.prefix, self.url, name)
        env = dict(os.environ, XDG_STATE_HOME=str(self.tmp_path / "state"), PYTHONFAULTHANDLER="1")
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "tui_trader", "worker", name, "--config", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )

    def kill(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.send_signal(sig.SIGKILL)
        proc.communicate(timeout=20)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for name, proc in self.procs.items():
            try:
                _, err = proc.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                proc.send_signal(sig.SIGABRT)
                _, err = proc.communicate(timeout=20)
                self.errors.append(f"{name} did not stop within 20 s of SIGTERM:\n{err[-3000:]}")
                continue
            if "Traceback" in err:
                self.errors.append(f"{name}:\n{err[-3000:]}")


class Topic:
    """Everything read so far from one topic (from its start), decoded."""

    def __init__(self, bus: FluvioBus, topic: str, base: str) -> None:
        self.bus, self.topic, self.base = bus, topic, base
        self.items: list = []
        self.decoder = m.Decoder()

    async def open(self) -> Topic:
        self.sub = await self.bus.subscribe(self.topic, Start.BEGINNING)
        self.task = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        async for rec in self.sub:
            msg = self.decoder.decode("", rec.value, base_topic=self.base)
            if msg is not None:
                self.items.append(msg)

    async def close(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.sub.close()


def expected_signals(trades: list[m.MarketData], conf: Path) -> list[tuple]:
    """What the indicator core gives for these trades (the embedded pipeline's indicator, in process)."""
    from tui_trader.bus import EmbeddedBus
    from tui_trader.clock import Clock
    from tui_trader.settings import load
    from tui_trader.workers import WorkerContext
    from tui_trader.workers.indicator import IndicatorWorker

    settings, _ = load(conf)
    worker = IndicatorWorker(WorkerContext(settings=settings, bus=EmbeddedBus(), clock=Clock()))
    return [
        (e.symbol, e.evaluation.kind, e.price)
        for md in trades
        for e in worker.engine.on_trade(md.symbol, md.price, md.event_time)
    ]


async def pinned(bus: FluvioBus, prefix: str) -> bool:
    """The indicator's named consumer of market-data has its start on the cluster (it subscribed)."""
    topic = m.topic_name(m.MARKET_DATA, prefix)
    return await bus.read_committed(f"indicator-{topic}", topic, 0) is not None


def frame_kind(frame: str) -> str:
    return stream_of(frame).partition("@")[2]


async def test_four_worker_processes_in_random_order_lose_and_double_nothing_through_kills(tmp_path, btc_capture):
    frames = capture_frames(btc_capture, limit=FRAMES)
    trade_frames = [json.loads(f)["data"] for f in frames if frame_kind(f) == "trade"]
    book_frames = sum(1 for f in frames if frame_kind(f) == "bookTicker")
    prefix = "d" + uuid.uuid4().hex[:8]
    seed = random.randrange(1 << 30)
    order = random.Random(seed).sample(WORKERS, len(WORKERS))
    go = asyncio.Event()
    bus = await FluvioBus(
        FLUVIO, connect_timeout_s=10, offsets_topic=m.topic_name(fluvio_offsets.BASE_TOPIC, prefix)
    ).connect()
    workers = None
    topics: list[Topic] = []
    try:
        # Paced (~8 s for the slice) so the kill lands while trades still come.
        async with BinanceWsServer(frames, hold_at=(0, go), pace_s=0.001) as server:
            workers = Workers(tmp_path, prefix, server.url)
            conf = settings_file(tmp_path, prefix, server.url, "expected")
            from tui_trader.settings import load

            await create_pipeline_topics(bus, load(conf)[0].bus)
            health = await Topic(bus, m.topic_name(m.HEALTH, prefix), m.HEALTH).open()
            market = await Topic(bus, m.topic_name(m.MARKET_DATA, prefix), m.MARKET_DATA).open()
            signals = await Topic(bus, m.topic_name(m.SIGNALS, prefix), m.SIGNALS).open()
            orders = await Topic(bus, m.topic_name(m.ORDERS, prefix), m.ORDERS).open()
            statuses = await Topic(bus, m.topic_name(m.ORDER_STATUS, prefix), m.ORDER_STATUS).open()
            topics = [health, market, signals, orders, statuses]
            for name in order:  # started in random order (the seed is in the failure message)
                workers.start(name)

            def running() -> set[str]:
                return {h.component.partition(":")[2] for h in health.items if h.component.startswith("worker:")}

            await until(lambda: running() >= set(WORKERS), f"all four running (order {order}, seed {seed})", 90)
            # The indicator listens once it has pinned where its market-data consumer starts (on the cluster).
            await until(lambda: pinned(bus, prefix), "the indicator's market-data consumer in place", 60)
            go.set()  # the exchange starts sending once everyone listens

            # Kill the indicator and the router mid-run (-9: nothing committed on the way out) while the feed
            # still plays (paced), and start them again.
            await until(lambda: len(signals.items) >= 10, "the first signals", 60)
            on_market = sum(1 for md in market.items if md.kind == "trade")
            assert on_market < len(trade_frames), "the feed ended before the kill: pace it slower"
            for name in ("indicator", "router"):
                workers.kill(name)
                workers.start(name)

            # Every trade frame reaches market-data, in order; every book frame is published or conflated.
            await until(
                lambda: sum(1 for md in market.items if md.kind == "trade") >= len(trade_frames),
                "every trade on market-data",
                60,
            )
            trades = [md for md in market.items if md.kind == "trade"]
            assert [(md.price, md.event_time) for md in trades] == [(float(d["p"]), d["E"]) for d in trade_frames], (
                "trades lost, doubled or reordered on the way to market-data"
            )

            def conflated() -> int:
                counts = [h.counters for h in health.items if h.component == "collector" and h.counters]
                return counts[-1].get("conflated:book", 0) if counts else 0

            await until(
                lambda: sum(1 for md in market.items if md.kind == "book") + conflated() == book_frames,
                "every book frame published or counted as conflated",
                30,
            )

            want = expected_signals(trades, conf)
            assert want, "the slice gives no signal: pick another"
            await until(lambda: len(signals.items) >= len(want), "every signal", 90)
            await asyncio.sleep(0)

            got = [(s.symbol, s.signal, s.price) for s in signals.items]
            ids = [s.id for s in signals.items]
            assert len(set(ids)) == len(ids)
            assert got == want, f"signals differ from the indicator core's ({len(got)} vs {len(want)})"

            # Every order gets exactly one terminal status; none doubled (ids unique).
            def settled() -> bool:
                done = {s.order_id for s in statuses.items if s.status in ("filled", "rejected", "canceled")}
                return {o.id for o in orders.items} <= done

            await until(settled, "a fill or rejection for every order", 30)
            order_ids = [o.id for o in orders.items]
            assert len(set(order_ids)) == len(order_ids), "an order was sent twice"
            terminal = [s.order_id for s in statuses.items if s.status in ("filled", "rejected")]
            assert len(set(terminal)) == len(terminal), "an order was filled or rejected twice"
    finally:
        for t in topics:
            await t.close()
        if workers is not None:
            workers.stop_all()
        await bus.close()
        delete_fluvio_topics([m.topic_name(t, prefix) for t in (*m.TOPICS, fluvio_offsets.BASE_TOPIC)])
    assert not workers.errors, workers.errors
