"""Indicator worker: trading-market-data in, TradingSignal on trading-signals out.

A thin shell around `indicators.SignalEngine` (pure). What the shell adds:
- book updates never make points, so they are dropped before a full decode when the record says so;
- `signal.ts` is the desk clock (the replayed event time in a replay), `id` from the context's id source
  (random live, a seeded sequence in a replay: see ids.py);
- warm-up (live, time bars, `indicators.warmup`): the last closed klines of every symbol come from Binance
  USD-M's public REST (the market the feed watches) through ccxt, so signals don't wait 50 bars. Trades that
  arrive meanwhile are held and applied after the history. If the fetch fails the worker says so (log +
  Health) and warms up from the live stream instead. A replay never warms up: it must not depend on the
  network, and its first points are the file's;
- live, bars of a quiet symbol also close on the clock (`BAR_GRACE_MS` after their end, so trades still in
  flight are not cut off); in a replay only trades close bars;
- one worker per process (`ctx.durable`, tick bars): a start resumes at the committed market-data offset,
  and each symbol's indicators, price band and last evaluated kind are first rebuilt from the trades
  before it, read back from the topic (see `_rebuild` and indicators/warm_history.py), so a restarted
  worker publishes the signals an uninterrupted one would have: none missed while its indicators refill,
  none doubled for the records after the last commit, which it is handed again (a signal's id is derived
  from its trade's place on the topic, and the ids already on trading-signals are not published again).
  Time bars keep the klines warm-up instead (see `_rebuild`), scored without publishing in such a worker, so
  that a restart does not publish its current kind again (`warm_history.score_closes`);
- each symbol's latest values and scores go to trading-indicators (IndicatorValues) for the desk, signal or
  not, at most once per `IND_VALUES_MIN_MS` of the clock (event time in a replay, so replays stay
  deterministic): the engine keeps what its scoring computed at the last evaluated point, so this costs no
  indicator work, only a clock read and a look-up per trade.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib
import sys
import threading
from collections import deque
from collections.abc import AsyncGenerator, Iterable, Sequence
from typing import Any

import msgspec
from msgspec.structs import replace

from tui_trader import messages as m
from tui_trader.bus.base import Gap, Record, Start, partition_of
from tui_trader.errors import BusError
from tui_trader.exchange import create_exchange, unified_symbol
from tui_trader.ids import uuid4_text
from tui_trader.indicators import warm_history
from tui_trader.indicators.bars import split_klines
from tui_trader.indicators.scoring import Scorer
from tui_trader.indicators.signals import Emitted, SignalEngine
from tui_trader.settings import (
    FeedSettings,
    Settings,
    bar_seconds,
    indicator_history_needed,
)
from tui_trader.workers.base import Worker, WorkerContext

# Binance USD-M kline intervals that a time bar can be warmed up from.
KLINE_INTERVALS = frozenset({"1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h"})
# Bars fetched per symbol: below 500 Binance's klines request weighs 2 (500 and over: 5); ~10x the slowest period, which is
# what RSI/EMA need to forget their seed.
WARMUP_BARS = 499
WARMUP_TIMEOUT_S = 30.0
# Trades held while the warm-up runs (a few seconds of a busy feed). When full, the oldest held trade is
# dropped (deque maxlen) and counted as `warmup_dropped`: the newest trades matter most once history is in.
WARMUP_BUFFER = 100_000
BAR_GRACE_MS = 5_000
# Least clock time between two IndicatorValues of one symbol: the desk redraws a few times a second, so
# values for every trade of a busy symbol would only be conflated away.
IND_VALUES_MIN_MS = 250

# Rebuilding from the topic (durable, tick bars): market-data records read back per partition at most (on
# Fluvio ~170 us of Python a record: ~11 s at worst, when a configured symbol has not traded in them), in
# windows of HISTORY_FIRST_WINDOW records widened x4 until every symbol of the partition has its trades.
HISTORY_MAX_RECORDS = 65_536
HISTORY_FIRST_WINDOW = 4_096
# Signal records read back per partition to know which signals the previous run published: it can only have
# published those of the records after its last commit (market data commits every 100 records, or 0.25 s on
# Fluvio), a few at most.
SIGNALS_LOOKBACK = 1_024
HISTORY_READ_TIMEOUT_S = 30.0  # no record for this long while reading back: rebuilt from what was read

_BOOK_MARK = b'"kind":"book"'
_TRADES = frozenset({"trade"})


class _Book:
    """What the decoder returns for a book update it did not decode (a kind, so `consume(kinds=...)` drops it)."""

    kind = "book"


_BOOK = _Book()


class _MarketDataDecoder(m.Decoder):
    """Skips book updates before decoding them: they are most of the feed and never make a point.

    The check is a substring test on the raw JSON (msgspec writes `"kind":"book"` exactly so); a record
    written differently is simply decoded in full, so the shortcut never changes what the worker sees.
    """

    def decode_record(self, topic: str, value: bytes, offset: int, base_topic: str | None = None):
        if _BOOK_MARK in value and (base_topic or topic) == m.MARKET_DATA:
            return _BOOK
        return super().decode_record(topic, value, offset, base_topic)


def warmup_exchange_settings(settings: Settings):
    """Where warm-up klines come from: Binance USD-M, the feed's market. Mainnet when the feed watches the
    mainnet host (demo prices would not match it), else the demo hosts; `exchange.api_base_url` still
    redirects every REST host (a local test server) when the configured exchange is binanceusdm."""
    mainnet_feed = settings.feed.ws_base_url == FeedSettings().ws_base_url
    base = settings.exchange.api_base_url if settings.exchange.name == "binanceusdm" else ""
    return msgspec.structs.replace(
        settings.exchange, name="binanceusdm", demo=settings.exchange.demo and not mainnet_feed, api_base_url=base
    )


async def import_ccxt() -> None:
    """Import ccxt off the event loop: it takes seconds, during which every worker of the process (and
    Ctrl-C) would stall. A daemon thread, not the loop's executor, so that quitting meanwhile does not wait."""
    if "ccxt.async_support" in sys.modules:
        return
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def settle(err: BaseException | None) -> None:
        if not done.done():
            done.set_exception(err) if err is not None else done.set_result(None)

    def work() -> None:
        err: BaseException | None = None
        try:
            importlib.import_module("ccxt.async_support")
        except BaseException as exc:  # noqa: BLE001 - whatever it is, it is reported to the awaiting task
            err = exc
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting any more
            loop.call_soon_threadsafe(settle, err)

    threading.Thread(target=work, name="import-ccxt", daemon=True).start()
    await done


async def fetch_klines(
    settings: Settings, symbols: Sequence[str], bar: str, limit: int = WARMUP_BARS
) -> tuple[dict[str, list[list[Any]]], dict[str, str]]:
    """The latest klines of each symbol (ccxt OHLCV rows), and an error text per symbol that failed."""
    rows: dict[str, list[list[Any]]] = {}
    errors: dict[str, str] = {}
    await import_ccxt()
    ex = create_exchange(warmup_exchange_settings(settings))
    try:
        for symbol in symbols:
            try:
                rows[symbol] = await ex.fetch_ohlcv(unified_symbol(symbol), bar, limit=limit)
            except Exception as err:  # noqa: BLE001 - network, exchange or symbol errors: warmed up from the stream
                errors[symbol] = _one_line(err)
    finally:
        await ex.close()
    return rows, errors


def signal_engine(settings: Settings) -> SignalEngine:
    """The engine the worker runs with these settings (tests and tools that check its signals build it here).
    State only for the configured symbols; trades farther than the feed's band from a symbol's last one wait for
    confirmation (the collector checks the same; this guards any other producer of the topic)."""
    return SignalEngine(
        settings.indicators,
        settings.trading.min_signal_strength,
        symbols=settings.trading.symbols,
        band=settings.feed.price_band_pct,
        confirm=settings.feed.confirm_frames,
    )


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return f"{type(err).__name__}: {text[:200]}"


def _indicators(v: Sequence[float]) -> m.Indicators:
    """The message's indicators from values in `Values` order (by name: a named tuple's _asdict() and ** cost
    more than the signal's other fields)."""
    return m.Indicators(
        rsi=v[0],
        macd=v[1],
        macd_signal=v[2],
        macd_hist=v[3],
        bb_upper=v[4],
        bb_middle=v[5],
        bb_lower=v[6],
        sma_fast=v[7],
        sma_slow=v[8],
        ema_fast=v[9],
        ema_slow=v[10],
    )


class IndicatorWorker(Worker):
    name = "indicator"
    # Taken while running (the desk hands over a new Settings object on save): the scoring thresholds. The
    # periods and the bar would need new history, so they apply after a restart.
    live_settings = frozenset({"trading.min_signal_strength", "indicators.near_band", "indicators.emit"})

    def __init__(self, ctx: WorkerContext) -> None:
        super().__init__(ctx)
        self.decoder = _MarketDataDecoder()
        cfg = ctx.settings.indicators
        # Kept across restarts of run(): the handles are consistent after every point, and rebuilding them
        # would cost another 50 points of silence.
        self.engine = signal_engine(ctx.settings)
        self._settings = ctx.settings
        self.bar_ms = bar_seconds(cfg.bar) * 1000
        self.published = 0
        self.warmup: dict[str, Any] = {"state": "skipped"}
        self._warmed = False
        self._ready: set[str] = set()  # symbols whose indicators all have values (warm-up reported done)
        self._warm_points: dict[str, int] = {}  # points last reported per symbol while warming
        self._held: deque[m.MarketData] | None = None
        self._values_due: dict[str, int] = {}  # per symbol: clock time before which no values go out
        self._values_sent: dict[str, Any] = {}  # per symbol: the engine's values tuple last published
        self.values_published = 0
        self.warmup_dropped = 0
        # Durable, tick bars (`_rebuild`): per partition, (offset, index among the record's trades) of the last
        # trade fed to the engine in this process; a partition not here is rebuilt from the topic first.
        self._fed: dict[int, tuple[int, int]] = {}
        self._at: tuple[int, int] = (-1, -1)  # (partition, offset) of the record of the trade in hand
        self._index = 0  # that trade's place among its record's trades (a Fluvio bundle holds several)
        self._published_ids: set[str] = set()  # signal ids on trading-signals when this process started
        # Reading them, per partition, started with run(): on Fluvio the end of an empty partition is known
        # only after END_PROBE_S (1 s) without a record, which must not hold the first trades.
        self._ids_read: dict[int, asyncio.Task[None]] = {}
        self.history_trades = 0  # trades read back from the topic and fed as history
        self.already_published = 0  # signals not published again: their id was on trading-signals
        self.seen_again = 0  # trades handed again after a restart of run() that the engine had already had

    # --- messages ----------------------------------------------------------------------------------

    def _apply(self, settings) -> None:
        """New thresholds from the desk: rebuild the scorer; the indicator state is kept."""
        self._settings = settings
        cfg = replace(self.engine.cfg, near_band=settings.indicators.near_band, emit=settings.indicators.emit)
        self.engine.cfg = cfg
        self.engine.every = cfg.emit == "every"
        self.engine.scorer = Scorer(cfg, settings.trading.min_signal_strength)

    def to_message(self, e: Emitted, sid: str | None = None) -> m.TradingSignal:
        ev = e.evaluation
        return m.TradingSignal(
            id=self.ids.new() if sid is None else sid,
            symbol=e.symbol,
            signal=ev.kind,  # type: ignore[arg-type]  # an emitted evaluation always has a signal kind
            strength=ev.strength,
            buy_score=ev.buy,
            sell_score=ev.sell,
            reasons=list(ev.reasons),
            indicators=_indicators(e.values),
            price=e.price,
            ts=self.ctx.clock.now_ms(),
        )

    async def _publish_all(self, emitted: Sequence[Emitted]) -> None:
        for e in emitted:
            await self.publish(m.SIGNALS, e.symbol, self.to_message(e))
            self.published += 1

    def values_message(self, symbol: str, now_ms: int) -> m.IndicatorValues | None:
        """The symbol's values at its latest evaluated point, if one was evaluated since the last values sent
        and `IND_VALUES_MIN_MS` have passed since then (None otherwise, and before every indicator has a value)."""
        if now_ms < self._values_due.get(symbol, 0):
            return None
        state = self.engine.symbols.get(symbol)
        if state is None or state.values is None or state.values is self._values_sent.get(symbol):
            return None
        self._values_sent[symbol] = state.values
        self._values_due[symbol] = now_ms + IND_VALUES_MIN_MS
        ev = self.engine.scorer.evaluation(state.mask)
        return m.IndicatorValues(
            symbol=symbol,
            indicators=_indicators(state.values),
            price=state.close,
            buy_score=ev.buy,
            sell_score=ev.sell,
            reasons=list(ev.reasons),
            points=state.indicators.points,
            ts=now_ms,
        )

    async def _publish_values(self, symbols: Iterable[str]) -> None:
        now = self.ctx.clock.now_ms()
        for symbol in symbols:
            msg = self.values_message(symbol, now)
            if msg is not None:
                await self.publish(m.INDICATOR_VALUES, symbol, msg)
                self.values_published += 1

    # --- the shell ---------------------------------------------------------------------------------

    async def run(self) -> None:
        ctx = self.ctx
        replay = ctx.clock.replay
        tasks: list[asyncio.Task[None]] = []
        if self.bar_ms and not replay and not self._warmed:
            self._warmed = True
            if ctx.settings.indicators.warmup:
                self._held = deque(maxlen=WARMUP_BUFFER)
                tasks.append(asyncio.create_task(self._warm_up(), name="indicator:warmup"))
        if self.bar_ms and not replay:
            tasks.append(asyncio.create_task(self._bar_clock(), name="indicator:bar-clock"))
        # A replay reads the topic from its start: the collector may publish before this subscribes.
        start = Start.BEGINNING if replay else Start.END
        on_trade = self.engine.on_trade
        now_ms = ctx.clock.now_ms
        values_due = self._values_due
        # One worker per process with tick bars: rebuilt from the topic, signal ids from the trade's place.
        rebuilds = ctx.durable and not self.bar_ms
        self._at = (-1, -1)
        if rebuilds:  # the signals a previous run published: read while the subscription starts
            own = ctx.partitions if ctx.partitions is not None else range(ctx.settings.bus.partitions)
            for part in own:
                self._ids_reading(part)
        try:
            # Only trades make points: every other record (book tickers, marks: most of the topic) is counted
            # by consume and never handed over.
            async for record, md in self.consume(m.MARKET_DATA, start, kinds=_TRADES):
                if self._held is not None:  # warming up: these follow the history
                    if len(self._held) == self._held.maxlen:
                        self.warmup_dropped += 1
                    self._held.append(md)
                    continue
                if ctx.settings is not self._settings:
                    self._apply(ctx.settings)
                if rebuilds:
                    new = self._new_trade(record)
                    if new is None:  # the first trade of its partition in this process
                        await self._rebuild(record.partition, record.offset)
                    elif not new:
                        continue
                emitted = on_trade(md.symbol, md.price, md.event_time)
                if emitted:
                    if rebuilds:
                        await self._publish_once(emitted, record, md)
                    else:
                        await self._publish_all(emitted)
                if md.symbol not in self._ready:
                    await self._report_warmup(md.symbol)
                if now_ms() >= values_due.get(md.symbol, 0):
                    await self._publish_values((md.symbol,))
        finally:
            # A signal-ids read still going is started again by the next run(); one that ended stays.
            for part, reading in list(self._ids_read.items()):
                if not reading.done() or reading.cancelled() or reading.exception() is not None:
                    del self._ids_read[part]
                    tasks.append(reading)
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # --- durable, tick bars: rebuilt from the topic ----------------------------------------------------

    def _new_trade(self, record: Record) -> bool | None:
        """Before a trade of `record` reaches the engine: False when the engine had it already (handed again
        after a restart of run()); None when it is its partition's first in this process (rebuild it first).
        Synchronous: it runs for every trade."""
        part, offset = record.partition, record.offset
        if (part, offset) != self._at:
            self._at, self._index = (part, offset), 0
        else:
            self._index += 1
        place = (offset, self._index)
        fed = self._fed.get(part)
        self._fed[part] = place if fed is None or place > fed else fed
        if fed is None:
            return None
        if place <= fed:
            self.seen_again += 1
            return False
        return True

    def signal_id(self, record: Record, md: m.MarketData, n: int) -> str:
        """A signal's id from its trade's place on market-data (topic, partition, offset, place among the
        record's trades, the message's own time) and its place among the signals of that trade: the same
        trade handed again after a restart gives the same id, a trade of a topic made again does not."""
        key = f"{record.topic}/{record.partition}/{record.offset}/{self._index}/{md.symbol}/{md.ts}/{n}"
        return uuid4_text(hashlib.blake2b(key.encode(), digest_size=16).digest())

    async def _publish_once(self, emitted: Sequence[Emitted], record: Record, md: m.MarketData) -> None:
        for n, e in enumerate(emitted):
            sid = self.signal_id(record, md, n)
            if sid in self._published_ids:  # the previous run published it before its last commit
                self.already_published += 1
                continue
            await self.publish(m.SIGNALS, e.symbol, self.to_message(e, sid))
            self.published += 1

    def _symbols_of(self, part: int) -> list[str]:
        """The configured symbols whose records go to `part` of the per-symbol topics."""
        count = self.ctx.settings.bus.partitions
        return [s for s in self.ctx.settings.trading.symbols if partition_of(s, count) == part]

    async def _rebuild(self, part: int, resume: int) -> None:
        """Rebuild the symbols of partition `part` from the trades before `resume` (the first record this
        process is handed there: the committed offset's next), and learn which signals are on
        trading-signals already (`_published_ids`).

        How far back: `warm_history.history_points` trades per symbol (546 with the default periods: see
        there), read back in widening windows, at most HISTORY_MAX_RECORDS records, never before the
        partition's first retained record. A topic trimmed by retention (or a symbol that traded less) gives
        fewer: the symbol is rebuilt from what there is, said in the log and the worker's Health.

        Only tick bars: a time bar's series is the exchange's klines, which the warm-up fetches (499 bars,
        hours of a 1-minute bar), while the topic holds minutes of a busy feed (a retention of records, not of
        time); rebuilding 1-minute bars from it would mean reading back hundreds of thousands of records for
        50 bars, and the klines already cover those bars. (A worker process scores them as it warms up, so its
        first bar after a restart publishes only a change of kind: `warm_history.score_closes`.)"""
        settings = self.ctx.settings
        need = warm_history.history_points(self.engine.cfg)
        wanted = self._symbols_of(part)
        trades: list[tuple[str, float, int]] = []
        problem, reached = "", ""
        try:
            trades, reached = await self._read_back(part, resume, wanted, need)
        except (BusError, TimeoutError) as err:
            problem = f"reading market data back failed ({_one_line(err)}); "
        trades = warm_history.last_per_symbol(trades, need)
        taken = warm_history.replay(self.engine, trades)
        self.history_trades += len(trades)
        try:
            await asyncio.shield(self._ids_reading(part))
        except (BusError, TimeoutError) as err:
            problem += (
                f"reading trading-signals back failed ({_one_line(err)}): a signal of the records after the "
                "last commit may be published twice; "
            )
        counts = {s: sum(1 for t in trades if t[0] == s) for s in wanted}
        short = [s for s, n in counts.items() if n < need]
        where = f"partition {part}, " if settings.bus.partitions > 1 else ""
        got = ", ".join(f"{s} {n}" for s, n in counts.items()) or "no configured symbol here"
        detail = f"rebuilt from market data before offset {resume} ({where}trades per symbol: {got}; {need} wanted)"
        if not trades and reached == "start":
            detail = f"nothing on market data before offset {resume} ({where}a fresh topic): indicators start empty"
        # The topic's first record reached: nothing came before it, so the rebuilt state is what a worker
        # that began with the topic has. Trimmed by retention or stopped at the bound: signals can differ.
        lost = bool(short) and reached != "start"
        if lost:
            why = (
                "the older records are gone (retention)"
                if reached == "trimmed"
                else f"at most {HISTORY_MAX_RECORDS} records are read back"
            )
            detail += (
                f"; fewer for {', '.join(short)}: {why}. Their signals may differ from an uninterrupted "
                "worker's until their indicators settle"
            )
        if problem:
            detail = problem + detail
        (self.log.warning if lost or problem else self.log.info)("%s", detail)
        self.warmup = {
            "state": "short" if lost or problem else "done",
            "source": "market data",
            "trades": {**self.warmup.get("trades", {}), **counts},
            "points": {**self.warmup.get("points", {}), **taken},
            "wanted": need,
        }
        await self.health(
            m.worker_component(self.name),
            "running",
            detail,
            symbols=wanted,
            counters={f"history_trades:{s}": n for s, n in counts.items()},
        )

    async def _read_back(
        self, part: int, resume: int, wanted: Sequence[str], need: int
    ) -> tuple[list[tuple[str, float, int]], str]:
        """The trades (symbol, price, event ms) of market-data partition `part` before offset `resume`, in
        order, reading back until each of `wanted` has `need` of them; and where the reading stopped short
        of that: "start" (the partition's first record), "trimmed" (retention took the older ones) or
        "bound" (HISTORY_MAX_RECORDS read); "" when every symbol had enough."""
        windows: list[list[tuple[str, float, int]]] = []
        counts = dict.fromkeys(wanted, 0)
        end, window, read = resume, HISTORY_FIRST_WINDOW, 0
        while True:
            if all(n >= need for n in counts.values()):
                reached = ""
                break
            if end == 0:
                reached = "start"
                break
            if read >= HISTORY_MAX_RECORDS:
                reached = "bound"
                break
            lo = max(0, end - min(window, HISTORY_MAX_RECORDS - read))
            trades, first = await self._read_trades(part, lo, end)
            windows.append(trades)
            read += end - lo
            for t in trades:
                if t[0] in counts:
                    counts[t[0]] += 1
            if first > lo:  # the records before `first` are gone
                reached = "trimmed"
                break
            end = lo
            window *= 4
        return [t for trades in reversed(windows) for t in trades], reached

    async def _read_trades(self, part: int, lo: int, hi: int) -> tuple[list[tuple[str, float, int]], int]:
        """The trades of records lo..hi-1 of one partition, and the first offset there was (> lo: trimmed)."""
        out: list[tuple[str, float, int]] = []
        first = hi
        async with contextlib.aclosing(self._read_range(m.MARKET_DATA, part, lo, hi)) as records:
            async for offset, msg in records:
                first = min(first, offset)
                if msg is not None and msg.kind == "trade":
                    out.append((msg.symbol, msg.price, msg.event_time))
        return out, first

    def _ids_reading(self, part: int) -> asyncio.Task[None]:
        """The read of partition `part`'s published signal ids: started on first asking, then the same task."""
        reading = self._ids_read.get(part)
        if reading is None:
            reading = self._ids_read[part] = asyncio.create_task(
                self._read_published_ids(part), name=f"indicator:signal-ids-{part}"
            )
        return reading

    async def _read_published_ids(self, part: int) -> None:
        """The ids of the last SIGNALS_LOOKBACK signals of trading-signals partition `part` (the partition of
        the same symbols): those a previous run published before it stopped."""
        end = await self.ctx.bus.end_offset(self.ctx.topic(m.SIGNALS), part)
        if end == 0:
            return
        async with contextlib.aclosing(
            self._read_range(m.SIGNALS, part, max(0, end - SIGNALS_LOOKBACK), end)
        ) as signals:
            async for _offset, msg in signals:
                if msg is not None:
                    self._published_ids.add(msg.id)

    async def _read_range(self, base_topic: str, part: int, lo: int, hi: int) -> AsyncGenerator[tuple[int, Any], None]:
        """(offset, typed message; None when malformed) of each record lo..hi-1 of partition `part` of a topic,
        in order, without waiting for anything past hi-1; records retention took are passed over (the first
        offset given is then above `lo`). TimeoutError when none comes for HISTORY_READ_TIMEOUT_S."""
        topic = self.ctx.topic(base_topic)
        typed = m.TOPIC_TYPES[base_topic]
        decoder = m.Decoder()  # not the worker's: what is read back is not counted as its input
        sub = await self.ctx.bus.subscribe(topic, Start.at(lo), tracked=False, partitions=[part])
        try:
            while True:
                batch: Sequence[Record | Gap] = sub.take_ready(256) or (
                    await asyncio.wait_for(sub.__anext__(), HISTORY_READ_TIMEOUT_S),
                )
                for item in batch:
                    if isinstance(item, Gap):
                        if item.resume_offset >= hi:
                            return
                        continue
                    if item.offset >= hi:
                        return
                    msg: Any = item.msg
                    if msg is None or type(msg) is not typed:
                        msg = decoder.decode_record(topic, item.value, item.offset, base_topic)
                    yield item.offset, msg
                    if item.offset >= hi - 1:
                        return
        finally:
            await sub.close()

    async def _warm_up(self) -> None:
        emitted: list[Emitted] = []
        try:
            detail = await self._load_history()
        except Exception as err:  # noqa: BLE001 - a bug here must not leave the worker holding trades forever
            detail = f"warm-up failed ({_one_line(err)}); warming up from the live stream"
            self.warmup = {"state": "failed", "errors": {"*": _one_line(err)}}
            self.log.warning(detail)
        finally:
            # Synchronously, before any await: the consume loop must not slip a newer trade in between.
            held, self._held = self._held, None
            for md in held or ():
                emitted.extend(self.engine.on_trade(md.symbol, md.price, md.event_time))
        await self._publish_all(emitted)
        await self._publish_values(list(self.engine.symbols))
        bars = self.warmup.get("bars", {})
        await self.health(
            m.worker_component(self.name),
            "running",
            detail,
            symbols=list(self.ctx.settings.trading.symbols),
            counters={f"warmup_bars:{s}": n for s, n in bars.items()},
        )

    async def _load_history(self) -> str:
        """Fetch and feed the klines; returns what to tell the user."""
        settings = self.ctx.settings
        bar = settings.indicators.bar
        symbols = settings.trading.symbols
        if bar not in KLINE_INTERVALS:
            detail = f"no Binance USD-M klines for bar {bar!r}; warming up from the live stream"
            self.warmup = {"state": "unavailable", "detail": detail}
            self.log.info(detail)
            return detail
        try:
            rows, errors = await asyncio.wait_for(fetch_klines(settings, symbols, bar), WARMUP_TIMEOUT_S)
        except Exception as err:  # noqa: BLE001 - any failure (the timeout too): warmed up from the stream
            rows, errors = {}, {s: _one_line(err) for s in symbols}
        now = self.ctx.clock.now_ms()
        bars: dict[str, int] = {}
        # One worker per process is restarted rather than new: the closed bars are scored too (nothing is
        # published), so its first live bar signals only on a change of kind, as the stopped worker would have,
        # not its current kind again. The desk's own indicator starts fresh: its first live bar says the kind.
        for symbol, symbol_rows in rows.items():
            closes, seed = split_klines(symbol_rows, self.bar_ms, now)
            if self.ctx.durable:
                bars[symbol] = warm_history.score_closes(self.engine, symbol, closes, seed)
            else:
                bars[symbol] = self.engine.warm(symbol, closes, seed)
        self.warmup = {"state": "failed" if errors else "done", "bars": bars, "errors": errors}
        if errors:
            first = next(iter(errors.values()))
            detail = f"warm-up from klines failed for {', '.join(errors)} ({first}); warming up from the live stream"
            self.log.warning(detail)
        else:
            detail = "warmed up from klines: " + ", ".join(f"{s} {n} bars" for s, n in bars.items())
            self.log.info(detail)
        return detail

    async def _bar_clock(self) -> None:
        """Live: close the bars of quiet symbols on the wall clock, BAR_GRACE_MS after they end."""
        clock, bar_ms = self.ctx.clock, self.bar_ms
        while True:
            due = clock.now_ms() - BAR_GRACE_MS
            await asyncio.sleep((bar_ms - due % bar_ms) / 1000)
            if self._held is not None:
                continue  # warming up: bars continue from the klines once they are in
            emitted = self.engine.close_bars(clock.now_ms() - BAR_GRACE_MS)
            if emitted:
                await self._publish_all(emitted)
            await self._publish_values(list(self.engine.symbols))

    # --- reporting ---------------------------------------------------------------------------------

    async def _report_warmup(self, symbol: str) -> None:
        """While a symbol has fewer points than its indicators need, say how many (Health
        `indicators:<symbol>`, state "warming" with counters points/needed, then "ready" once): the desk shows
        "warming up: 12/50 points" instead of a blank pane. One record per new point, so at most `needed`."""
        state = self.engine.symbols.get(symbol)
        if state is None:
            return
        points = state.indicators.points
        if points == self._warm_points.get(symbol):
            return
        self._warm_points[symbol] = points
        needed = indicator_history_needed(self.engine.cfg)
        ready = state.indicators.ready
        if ready:
            self._ready.add(symbol)
        await self.health(
            m.warmup_component(symbol),
            "ready" if ready else "warming",
            symbols=[symbol],
            counters={"points": min(points, needed), "needed": needed},
        )

    def counters(self) -> dict[str, int]:
        out = super().counters()
        c = self.engine.counters
        out.update(
            trades=c.trades,
            books=self.passed_over.get(m.MARKET_DATA, 0),
            rejected=c.rejected,
            quarantined=c.quarantined,
            unconfigured=c.unconfigured,
            resets=c.resets,
            warmup_dropped=self.warmup_dropped,
            late_trades=c.late,
            fills_cut=c.fills_cut,
            points=c.points,
            warmup_points=c.warmup_points,
            evaluations=c.evaluations,
            published=self.published,
            values_published=self.values_published,
            history_trades=self.history_trades,
            already_published=self.already_published,
            seen_again=self.seen_again,
        )
        out.update({f"signals:{kind}": n for kind, n in c.signals.items()})
        return out

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.counters())
        out["bar"] = self.ctx.settings.indicators.bar
        out["warmup"] = self.warmup
        return out
