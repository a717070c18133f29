"""The pipeline benchmark: a recording through the real workers (embedded bus, paper broker), measured.

Input: a deterministic synthetic Binance stream (trades and book tickers for N symbols, written in the
recording format, so it goes through the same parser as live data), or any real capture. The replay runs
free (no lockstep) as fast as it goes, or paced at a fixed rate.

The floor: on the same input, in the same run, a typed msgspec decode of every frame plus the seven TA-Lib
stream updates on each trade (`indicators.engine.IndicatorSet`, one per symbol), nothing else: no bus, no
checks, no messages. The input is read off the file in chunks outside the timed part (the floor is what
any pipeline must pay for these frames, not for reading them). `ratio = floor_s / pipeline_s`: 1 is a
pipeline that costs nothing beyond its floor. `cpu_ratio` is the same on CPU time, which other jobs on a
shared machine do not inflate: the floor's on the thread that runs it (the recording reader's thread inflating
ahead is reading, not floor), the pipeline's on the whole process (its reader is part of the pipeline).

Latency: the bus's store records when each record was published (`TimingCluster`). A signal is tied to the trade that
made it by the signal's symbol and price (every synthetic trade price is unique), a status to its command
by `order_id` and the command to its signal by `signal_id`; receipt → signal and receipt → order status are
the differences of those publish times, per message, not sampled.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import itertools
import random
import resource
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from tui_trader import messages as m
from tui_trader.bus import EmbeddedBus, EmbeddedCluster
from tui_trader.clock import ReplayClock
from tui_trader.feeds.replay import RecordingReader
from tui_trader.indicators.engine import IndicatorSet
from tui_trader.session import open_pipeline
from tui_trader.settings import IndicatorSettings, Settings, parse, to_dict
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


# --- the floor -------------------------------------------------------------------------------------------
# Binance's frames as typed structs with the fields the pipeline uses (prices and quantities are JSON strings
# on the wire: `strict=False` decodes them to float). Undeclared fields are skipped by msgspec: the pipeline
# uses only the symbol of a depth update or a kline (to count and drop it), so that is all the floor decodes.


class _Trade(msgspec.Struct, tag_field="e", tag="trade"):
    s: str
    p: float
    q: float
    T: int


class _AggTrade(msgspec.Struct, tag_field="e", tag="aggTrade"):
    s: str
    p: float
    q: float
    T: int


class _BookTicker(msgspec.Struct, tag_field="e", tag="bookTicker"):
    s: str
    b: float
    B: float
    a: float
    A: float


class _Depth(msgspec.Struct, tag_field="e", tag="depthUpdate"):
    s: str


class _MarkPrice(msgspec.Struct, tag_field="e", tag="markPriceUpdate"):
    s: str
    p: float


class _Kline(msgspec.Struct, tag_field="e", tag="kline"):
    s: str


class _Frame(msgspec.Struct):
    """A combined-stream frame; a line without `data` (a REST depth snapshot in a capture) decodes to data None."""

    stream: str = ""
    data: _Trade | _AggTrade | _BookTicker | _Depth | _MarkPrice | _Kline | None = None


FLOOR_CHUNK = 4096  # frames read off the file between two timed stretches


def floor(recording: Path, cfg: IndicatorSettings) -> dict[str, Any]:
    """The floor of `recording`: seconds spent decoding every frame (typed) and updating every trade's
    symbol's indicators, and the counts that show it did (frames, trades, indicator updates, frames that are
    not Binance frames it knows: counted, not timed as anything else)."""
    decode = msgspec.json.Decoder(_Frame, strict=False).decode
    errors = (msgspec.DecodeError, msgspec.ValidationError)
    trade_types = (_Trade, _AggTrade)
    indicators: dict[str, IndicatorSet] = {}
    frames = trades = updates = undecoded = 0
    spent = cpu = 0.0
    reader = iter(RecordingReader(recording))
    while True:
        chunk = [raw for _recv_ns, raw in itertools.islice(reader, FLOOR_CHUNK)]
        if not chunk:
            break
        frames += len(chunk)
        # The floor's own thread: the reader's thread inflating the next chunks meanwhile is reading, not floor.
        started, cpu_started = time.perf_counter(), time.thread_time()
        for raw in chunk:
            try:
                data = decode(raw).data
            except errors:
                undecoded += 1
                continue
            if type(data) in trade_types:
                trades += 1
                price = data.p  # type: ignore[union-attr]
                if price > 0.0:  # TA-Lib's handles take finite positive closes only
                    ind = indicators.get(data.s)  # type: ignore[union-attr]
                    if ind is None:
                        ind = indicators[data.s] = IndicatorSet(cfg)  # type: ignore[union-attr]
                    ind.update(price)
                    updates += 1
        spent += time.perf_counter() - started
        cpu += time.thread_time() - cpu_started
    return {
        "floor_s": round(spent, 4),
        "floor_cpu_s": round(cpu, 4),
        "floor_frames": frames,
        "floor_trades": trades,
        "floor_indicator_updates": updates,
        "floor_undecoded": undecoded,
    }


class _Tagged(msgspec.Struct):
    """The fields the bench needs to tie records together (the rest of each message is skipped)."""

    symbol: str = ""
    kind: str = ""
    price: float = 0.0
    id: str = ""
    signal_id: str | None = None
    order_id: str = ""


_TIED = frozenset({m.SIGNALS, m.ORDERS, m.ORDER_STATUS})
_MARKET_DATA = m.MARKET_DATA
_store_append = EmbeddedCluster.append
_store_append_msgs = EmbeddedCluster.append_msgs
_clock_ns = time.perf_counter_ns
_cpu_ns = time.thread_time_ns


class TimingCluster(EmbeddedCluster):
    """The embedded store, noting when the records that latency is measured on were published (perf_counter
    ns): each trade by (symbol, price) as it is stored (a book needs nothing: no latency starts at it),
    signals by id with the trade that made them, commands' signal ids, and each order's first status. Only
    those facts are kept, not the records. Every way of publishing on the embedded bus (bytes or typed
    message, one or a batch, awaited or not) ends in `append` or `append_msgs`, so none is missed.

    A trade price can repeat in a real capture: the signal is tied to the newest trade of its symbol at its
    price, which can only make a latency look shorter by the few records between two such trades. The map
    keeps two generations of `LOOK_BACK` trades (a signal's trade is always among the latest).

    With `cpu`, each trade also notes the event loop thread's CPU time, and each signal the CPU the loop
    spent since its trade: the wall latency less the time the machine ran other processes (on a shared
    machine that is most of a slow signal's wait), what a quiet machine would show. A system call a trade,
    so only paced runs (the latency mode) take it; free runs measure throughput."""

    LOOK_BACK = 5_000  # trades kept per generation of the (symbol, price) → times map

    def __init__(self, retention: int, cpu: bool = False) -> None:
        super().__init__(retention)
        self._tag = msgspec.json.Decoder(_Tagged).decode
        self._cpu = cpu
        # (symbol, price) → (ns, loop thread CPU ns or 0) of its newest trade, and the previous generation.
        self._trades: dict[tuple[str, float], tuple[int, int]] = {}
        self._older: dict[tuple[str, float], tuple[int, int]] = {}
        self.signals: dict[str, tuple[int, int]] = {}  # id → (ns, ns of the trade it came from)
        self.signals_cpu: list[int] = []  # per signal, with `cpu`: loop CPU ns since its trade
        self.command_signal: dict[str, str] = {}
        self.first_status: dict[str, int] = {}

    def append(self, topic: str, key: str, value: bytes | None, msg: Any = None) -> int:
        offset = _store_append(self, topic, key, value, msg)
        if topic == _MARKET_DATA:
            if msg is None:  # bytes: only a trade is read
                if b'"kind":"trade"' not in (value or b""):
                    return offset
                msg = self._tag(value or b"")
            elif msg.kind != "trade":
                return offset
            self._note_trade(key, msg.price, (_clock_ns(), _cpu_ns() if self._cpu else 0))
        elif topic in _TIED:
            self._tie(topic, _clock_ns(), msg if msg is not None else self._tag(value or b""))
        return offset

    def append_msgs(self, topic: str, keys: Sequence[str], msgs: Sequence[Any]) -> None:
        _store_append_msgs(self, topic, keys, msgs)
        now = (_clock_ns(), _cpu_ns() if self._cpu else 0)
        if topic == _MARKET_DATA:
            trades = self._trades
            for key, md in zip(keys, msgs, strict=True):
                if md.kind == "trade":
                    trades[(key, md.price)] = now
            if len(trades) >= self.LOOK_BACK:
                self._older, self._trades = trades, {}
        elif topic in _TIED:
            for msg in msgs:
                self._tie(topic, now[0], msg)

    def _note_trade(self, symbol: str, price: float, at: tuple[int, int]) -> None:
        trades = self._trades
        trades[(symbol, price)] = at
        if len(trades) >= self.LOOK_BACK:
            self._older, self._trades = trades, {}

    def _tie(self, topic: str, now: int, t: Any) -> None:
        if topic == m.SIGNALS:
            key = (t.symbol, t.price)
            trade = self._trades.get(key) or self._older.get(key)
            if trade is not None:
                self.signals[t.id] = (now, trade[0])
                if self._cpu:
                    self.signals_cpu.append(_cpu_ns() - trade[1])
        elif topic == m.ORDERS:
            if t.signal_id:
                self.command_signal[t.id] = t.signal_id
        elif topic == m.ORDER_STATUS:
            self.first_status.setdefault(t.order_id, now)


def percentiles(values_us: list[float]) -> dict[str, float]:
    if not values_us:
        return {"count": 0}
    v = sorted(values_us)

    def pct(p: float) -> float:
        return round(v[min(len(v) - 1, int(p * len(v)))] / 1000.0, 3)

    return {"count": len(v), "p50_ms": pct(0.50), "p99_ms": pct(0.99), "max_ms": round(v[-1] / 1000.0, 3)}


def latencies(bus: TimingCluster) -> dict[str, Any]:
    """Receipt → signal and receipt → first order status, per message, from the publish times noted."""
    to_signal = [(at - got) / 1000.0 for at, got in bus.signals.values()]
    to_status = []
    for order_id, at in bus.first_status.items():
        signal = bus.signals.get(bus.command_signal.get(order_id, ""))
        if signal is not None:
            to_status.append((at - signal[1]) / 1000.0)
    out = {"receipt_to_signal": percentiles(to_signal), "receipt_to_order_status": percentiles(to_status)}
    if bus.signals_cpu:
        out["receipt_to_signal_cpu"] = percentiles([ns / 1000.0 for ns in bus.signals_cpu])
    return out


def recording_rate(path: Path) -> float:
    """A recording's average frames per second of receipt time."""
    first = last = -1
    frames = 0
    for recv_ns, _raw in RecordingReader(path):
        first = recv_ns if frames == 0 else first
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
    timing = TimingCluster(retention=settings.bus.retention, cpu=speed is not None)
    bus = EmbeddedBus(timing)
    await bus.create_topics(m.topic_name(t, settings.bus.topic_prefix) for t in m.TOPICS)
    clock = ReplayClock()
    desk: Any = contextlib.nullcontext()
    if ui:
        from tui_trader.ui.bench import run_desk_headless

        desk = run_desk_headless(settings, bus, clock)  # up before the pipeline starts: not measured
    async with (
        desk as app,
        open_pipeline(
            settings, replay_files=[str(recording)], speed=speed, lockstep=False, bus=bus, clock=clock
        ) as runtime,
    ):
        # The workers are built; they start running at the next await. CPU time beside wall time: on a shared
        # machine the wall time includes whatever else ran; the process's CPU time does not.
        started, cpu_started = time.perf_counter(), time.process_time()
        if app is not None:
            app.runtime = runtime
        await runtime.wait(["collector"])
        await runtime.drain()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        summaries = {name: w.summary() for name, w in runtime.workers.items()}
    collector, indicator = summaries["collector"], summaries["indicator"]
    market = collector.get("published", {})
    messages = sum(market.values())
    return {
        "pipeline_s": round(elapsed, 4),
        "pipeline_cpu_s": round(cpu, 4),
        "market_messages": messages,
        "market_messages_per_s": round(messages / elapsed),
        "indicator_points": indicator.get("points", 0),
        "indicator_points_per_s": round(indicator.get("points", 0) / elapsed),
        "signals": indicator.get("published", 0),
        "orders": summaries["router"].get("entries", 0) + summaries["router"].get("closes", 0),
        "fills": summaries["executor"].get("fills", 0),
        **latencies(timing),
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
        base = floor(recording, settings.indicators)
        result = asyncio.run(run_pipeline(recording, settings, speed, ui))
    ratio = base["floor_s"] / result["pipeline_s"] if result["pipeline_s"] > 0 else 0.0
    cpu_ratio = base["floor_cpu_s"] / result["pipeline_cpu_s"] if result["pipeline_cpu_s"] > 0 else 0.0
    return {
        "input": source,
        "paced_msgs_per_s": rate,
        "ui": ui,
        **base,
        **result,
        "ratio": round(ratio, 3),
        "cpu_ratio": round(cpu_ratio, 3),
    }
