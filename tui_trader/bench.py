"""The pipeline benchmark: a recording through the real workers (embedded bus, paper broker), measured.

Input: a deterministic synthetic Binance stream (trades and book tickers for N symbols, written in the
recording format, so it goes through the same parser as live data), or any real capture. The replay runs
free (no lockstep) as fast as it goes, or paced at a fixed rate.

Latency: the bus records when each record was published (`TimingBus`). A signal is tied to the trade that
made it by the signal's symbol and price (every synthetic trade price is unique), a status to its command
by `order_id` and the command to its signal by `signal_id`; receipt → signal and receipt → order status are
the differences of those publish times, per message, not sampled.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import gzip
import random
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec

from tui_trader import messages as m
from tui_trader.bus import EmbeddedBus, EmbeddedCluster
from tui_trader.clock import ReplayClock
from tui_trader.session import pipeline
from tui_trader.settings import Settings, parse, to_dict
from tui_trader.workers import PIPELINE, worker_class

START_MS = 1_723_161_600_000  # 2024-08-09 00:00:00 UTC; event times advance 1 ms a message
BOOKS_PER_TRADE = 3  # about the mix of the real BTCUSDT capture (66k book tickers, 21k trades)
BASE_PRICES = {"BTCUSDT": 60_000.0, "ETHUSDT": 2_600.0}


def synthetic_symbols(n: int) -> list[str]:
    names = list(BASE_PRICES)
    return names[:n] + [f"SYM{i}USDT" for i in range(len(names) + 1, n + 1)]


def write_synthetic(path: Path, messages: int, symbols: list[str], seed: int = 7) -> Path:
    """A recording of `messages` frames, round-robin over symbols; trade prices unique per symbol."""
    rng = random.Random(seed)
    encode = msgspec.json.encode
    price = {s: BASE_PRICES.get(s, 100.0) for s in symbols}
    ids = {s: 0 for s in symbols}
    with gzip.open(path, "wt", compresslevel=1) as out:
        for i in range(messages):
            sym = symbols[i % len(symbols)]
            low = sym.lower()
            event = START_MS + i
            recv_ns = event * 1_000_000
            ids[sym] += 1
            # A random walk of ±1 bp per step with a tiny drift per message, so no price repeats.
            price[sym] *= 1 + rng.uniform(-1e-4, 1e-4)
            px = price[sym] + i * 1e-8
            if (i // len(symbols)) % (BOOKS_PER_TRADE + 1) == BOOKS_PER_TRADE:
                data = {
                    "e": "trade",
                    "E": event,
                    "T": event,
                    "s": sym,
                    "t": ids[sym],
                    "p": f"{px:.8f}",
                    "q": "0.010",
                    "X": "MARKET",
                    "m": bool(i & 1),
                }
                stream = f"{low}@trade"
            else:
                spread = px * 1e-5
                data = {
                    "e": "bookTicker",
                    "u": ids[sym],
                    "E": event,
                    "T": event,
                    "s": sym,
                    "b": f"{px - spread:.8f}",
                    "B": "1.000",
                    "a": f"{px + spread:.8f}",
                    "A": "1.000",
                }
                stream = f"{low}@bookTicker"
            out.write(f"{recv_ns} {encode({'stream': stream, 'data': data}).decode()}\n")
    return path


class _Tagged(msgspec.Struct):
    """The fields the bench needs to tie records together (the rest of each message is skipped)."""

    symbol: str = ""
    kind: str = ""
    price: float = 0.0
    id: str = ""
    signal_id: str | None = None
    order_id: str = ""


class TimingBus(EmbeddedBus):
    """The embedded bus, noting when the records that latency is measured on were published (perf_counter
    ns): every market record by offset (one list append: the hot path stays cheap), signals by id with the
    trade that made them (found by symbol and price among the latest market records), commands' signal ids,
    and each order's first status. Only those facts are kept, not the records."""

    LOOK_BACK = 5_000  # market records searched for a signal's trade

    def __init__(self, cluster: EmbeddedCluster) -> None:
        super().__init__(cluster)
        self._tag = msgspec.json.Decoder(_Tagged).decode
        self.market_ns = array.array("q")  # index = offset on the market-data topic (8 bytes a record)
        self.signals: dict[str, tuple[int, int]] = {}  # id → (ns, ns of the trade it came from)
        self.command_signal: dict[str, str] = {}
        self.first_status: dict[str, int] = {}

    def publish_nowait(self, topic: str, key: str, value: bytes) -> int:
        offset = self.cluster.append(topic, key, value)
        now = time.perf_counter_ns()
        if topic == m.MARKET_DATA:
            self.market_ns.append(now)
        elif topic == m.SIGNALS:
            t = self._tag(value)
            trade = self._trade_of(t.symbol, t.price)
            if trade is not None:
                self.signals[t.id] = (now, trade)
        elif topic == m.ORDERS:
            t = self._tag(value)
            if t.signal_id:
                self.command_signal[t.id] = t.signal_id
        elif topic == m.ORDER_STATUS:
            t = self._tag(value)
            self.first_status.setdefault(t.order_id, now)
        return offset

    def _trade_of(self, symbol: str, price: float) -> int | None:
        log = self.cluster.topic(m.MARKET_DATA).log
        for rec in reversed(log[-self.LOOK_BACK :]):
            if rec.key == symbol and b'"kind":"trade"' in rec.value:
                t = self._tag(rec.value)
                if t.price == price:
                    return self.market_ns[rec.offset]
        return None

    async def publish(self, topic: str, key: str, value: bytes) -> int:
        return self.publish_nowait(topic, key, value)


def percentiles(values_us: list[float]) -> dict[str, float]:
    if not values_us:
        return {"count": 0}
    v = sorted(values_us)

    def pct(p: float) -> float:
        return round(v[min(len(v) - 1, int(p * len(v)))] / 1000.0, 3)

    return {"count": len(v), "p50_ms": pct(0.50), "p99_ms": pct(0.99), "max_ms": round(v[-1] / 1000.0, 3)}


def latencies(bus: TimingBus) -> dict[str, Any]:
    """Receipt → signal and receipt → first order status, per message, from the publish times noted."""
    to_signal = [(at - got) / 1000.0 for at, got in bus.signals.values()]
    to_status = []
    for order_id, at in bus.first_status.items():
        signal = bus.signals.get(bus.command_signal.get(order_id, ""))
        if signal is not None:
            to_status.append((at - signal[1]) / 1000.0)
    return {"receipt_to_signal": percentiles(to_signal), "receipt_to_order_status": percentiles(to_status)}


def recording_rate(path: Path) -> float:
    """A recording's average frames per second of receipt time."""
    from tui_trader.feeds.replay import RecordingReader

    first = last = None
    frames = 0
    for recv_ns, _raw in RecordingReader(path):
        first = recv_ns if first is None else first
        last = recv_ns
        frames += 1
    if not frames or first == last:
        return 1000.0
    return frames / ((last - first) / 1e9)


def bench_settings(symbols: list[str], journal: Path) -> Settings:
    data = to_dict(Settings())
    data["trading"]["symbols"] = symbols
    data["indicators"]["bar"] = "tick"
    data["journal"]["path"] = str(journal)
    return parse(data, "bench")


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


async def run_pipeline(recording: Path, settings: Settings, speed: float | None, ui: bool) -> dict[str, Any]:
    for name in PIPELINE:  # import the workers (numpy, TA-Lib, ccxt parts) before the clock starts
        worker_class(name)
    bus = TimingBus(EmbeddedCluster(retention=settings.bus.retention))
    await bus.create_topics(m.topic_name(t, settings.bus.topic_prefix) for t in m.TOPICS)
    clock = ReplayClock()
    desk: Any = contextlib.nullcontext()
    if ui:
        from tui_trader.ui.bench import run_desk_headless

        desk = run_desk_headless(settings, bus, clock)  # up before the pipeline starts: not measured
    async with (
        desk as app,
        pipeline(settings, replay_files=[str(recording)], speed=speed, lockstep=False, bus=bus, clock=clock) as runtime,
    ):
        started = time.perf_counter()  # the workers are built; they start running at the next await
        if app is not None:
            app.runtime = runtime
        await runtime.wait(["collector"])
        await runtime.drain()
        elapsed = time.perf_counter() - started
        summaries = {name: w.summary() for name, w in runtime.workers.items()}
    collector, indicator = summaries["collector"], summaries["indicator"]
    market = collector.get("published", {})
    messages = sum(market.values())
    return {
        "elapsed_s": round(elapsed, 3),
        "market_messages": messages,
        "market_messages_per_s": round(messages / elapsed),
        "indicator_points": indicator.get("points", 0),
        "indicator_points_per_s": round(indicator.get("points", 0) / elapsed),
        "signals": indicator.get("published", 0),
        "orders": summaries["router"].get("entries", 0) + summaries["router"].get("closes", 0),
        "fills": summaries["executor"].get("fills", 0),
        **latencies(bus),
        "peak_rss_mb": peak_rss_mb(),
    }


def run(file: str | None, symbols: int, messages: int, rate: float | None, ui: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tui-trader-bench-") as tmp:
        tmpdir = Path(tmp)
        names = synthetic_symbols(symbols)
        if file:
            recording = Path(file)
            source = str(recording)
        else:
            recording = write_synthetic(tmpdir / "synthetic.gz", messages, names)
            source = f"synthetic: {messages} messages, {symbols} symbols, 1 trade per {BOOKS_PER_TRADE} book tickers"
        # Synthetic event times are 1 ms apart: speed × 1000 = messages per second. A real capture plays
        # at its own average rate × speed.
        speed = rate / (recording_rate(recording) if file else 1000.0) if rate else None
        settings = bench_settings(names if not file else Settings().trading.symbols, tmpdir / "journal.sqlite3")
        result = asyncio.run(run_pipeline(recording, settings, speed, ui))
    return {"input": source, "paced_msgs_per_s": rate, "ui": ui, **result}
