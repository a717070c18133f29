"""The four workers as processes on a real Fluvio cluster (`tui-trader worker collector|indicator|router|
executor`, paper), started in random order, the collector fed by the loopback Binance server playing a slice of
the real BTC capture (paced): every trade frame reaches market-data in order and every book frame is published
or counted as conflated. The indicator and the router are killed (-9) right after a signal (the server holds
the feed after that signal's trade, so the test knows where the kill landed) and started again while the feed
goes on.

Signals: equal, field for field but id and creation time, to the real indicator worker's run on the embedded
bus over the same market data (the deployment's own records, in topic order) — the embedded desk's code path —
including the restart window: none missing, none doubled.

Orders and fills cannot be compared with a replay of the router core. The core decides from its clock and from
the order in which its five subscriptions (signals, market data, statuses, controls, accounts) are handed
records, in five tasks of a process that was killed and restarted; that interleaving is not recorded, and it
changes the outcome (a signal handled before or after the fill of the previous order is sized against another
position, or denied as `pending_order`; market data is read latest-only when it piles up). What is checked is
what holds whatever the interleaving: every order names a signal on the topic, no signal gives two orders, an
entry is the core's sizing of its signal (side from the kind, ref_price = the signal's price, quantity, stop and
target from `size_entry`: the `max_position_size` cap binds, so the equity the router had then does not matter,
asserted), a close is on the signal's side; every order gets exactly one fill or rejection, a fill is for the
ordered quantity at the ask (buy) or bid (sell) of a book record on market-data, with the paper slippage.

Runs when TUI_TRADER_FLUVIO=host:port names a reachable cluster; skipped with that reason otherwise. A unique
topic prefix per run; the topics are deleted at the end of the session."""

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

import msgspec
import pytest
import tomlkit
from contract.fluvio_kit import CREATED, FLUVIO, FLUVIO_SKIP
from kit import until
from net.binance_ws_server import BinanceWsServer, capture_frames, stream_of

from tui_trader import messages as m
from tui_trader.bus import Start, fluvio_offsets
from tui_trader.bus.fluvio_bus import FluvioBus
from tui_trader.bus.topics import create_pipeline_topics
from tui_trader.workers.indicator import signal_engine

pytestmark = [pytest.mark.fluvio, pytest.mark.skipif(not FLUVIO, reason=FLUVIO_SKIP)]
ROOT = Path(__file__).resolve().parents[2]
FRAMES = 8000  # trade and book frames from the capture's start: 1,350 trades, 58 signals
WORKERS = ["collector", "indicator", "router", "executor"]
KILL_AFTER_SIGNAL = 10  # the kill lands right after the trade of this signal (1-based): its 210th trade


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
        self.offsets: list[int] = []  # the record offset of each item
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
                self.offsets.append(rec.offset)

    async def close(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.sub.close()


def core_signal_trades(trade_frames: list[dict], conf: Path) -> list[int]:
    """The index of each trade that gives a signal, by the indicator core (to place the kill)."""
    from tui_trader.settings import load

    st, _ = load(conf)
    core = signal_engine(st)
    return [i for i, d in enumerate(trade_frames) for _ in core.on_trade(d["s"], float(d["p"]), d["E"])]


async def embedded_signals(market: list[m.MarketData], conf: Path) -> list[m.TradingSignal]:
    """The real indicator worker on the embedded bus (the desk's in-process pipeline) fed these market records
    in this order, each handled before the next: the signals it publishes."""
    from kit import Harness

    from tui_trader.settings import load
    from tui_trader.workers.indicator import IndicatorWorker

    settings, _ = load(conf)
    settings = msgspec.structs.replace(
        settings, bus=msgspec.structs.replace(settings.bus, backend="embedded", topic_prefix="")
    )
    async with Harness(settings, [IndicatorWorker], taps=(m.SIGNALS,)) as h:
        await h.listening(m.MARKET_DATA)
        for md in market:
            await h.publish(m.MARKET_DATA, md)
            await h.bus.wait_idle()
        await h.settle()
        return list(h.seen(m.SIGNALS))


def said(s: m.TradingSignal) -> tuple:
    """A signal but its id and creation time (the wall clock of the process that made it)."""
    return (s.symbol, s.signal, s.strength, s.buy_score, s.sell_score, tuple(s.reasons), s.indicators, s.price)


async def pinned(bus: FluvioBus, prefix: str) -> bool:
    """The indicator's named consumer of market-data has its start on the cluster (it subscribed)."""
    topic = m.topic_name(m.MARKET_DATA, prefix)
    return await bus.read_committed(f"indicator-{topic}", topic, 0) is not None


def frame_kind(frame: str) -> str:
    return stream_of(frame).partition("@")[2]


async def test_four_worker_processes_in_random_order_lose_and_double_nothing_through_kills(tmp_path, btc_capture):
    frames = capture_frames(btc_capture, limit=FRAMES)
    trade_frames = [json.loads(f)["data"] for f in frames if frame_kind(f) == "trade"]
    trade_frame_at = [i for i, f in enumerate(frames) if frame_kind(f) == "trade"]
    book_frames = sum(1 for f in frames if frame_kind(f) == "bookTicker")
    prefix = "d" + uuid.uuid4().hex[:8]
    seed = random.randrange(1 << 30)
    order = random.Random(seed).sample(WORKERS, len(WORKERS))
    go, resume_feed = asyncio.Event(), asyncio.Event()
    bus = await FluvioBus(
        FLUVIO, connect_timeout_s=10, offsets_topic=m.topic_name(fluvio_offsets.BASE_TOPIC, prefix)
    ).connect()
    workers = None
    topics: list[Topic] = []
    try:
        # Paced (~8 s for the slice) so the restarted workers join while trades still come.
        async with BinanceWsServer(frames, hold_at=(0, go), pace_s=0.001) as server:
            workers = Workers(tmp_path, prefix, server.url)
            conf = settings_file(tmp_path, prefix, server.url, "expected")
            from tui_trader.settings import load

            settings = load(conf)[0]
            at_signal = core_signal_trades(trade_frames, conf)
            kill_trade = at_signal[KILL_AFTER_SIGNAL - 1]
            await create_pipeline_topics(bus, settings.bus)
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

            def market_trades() -> list[tuple[int, m.MarketData]]:
                return [(o, md) for o, md in zip(market.offsets, market.items, strict=False) if md.kind == "trade"]

            await until(lambda: running() >= set(WORKERS), f"all four running (order {order}, seed {seed})", 90)
            # The indicator listens once it has pinned where its market-data consumer starts (on the cluster).
            await until(lambda: pinned(bus, prefix), "the indicator's market-data consumer in place", 60)
            # The exchange starts sending once everyone listens, and holds after the trade of the kill's signal.
            server.hold_at = (trade_frame_at[kill_trade] + 1, resume_feed)
            go.set()

            # Kill the indicator and the router (-9: nothing committed on the way out) right after that signal,
            # and start them again; the feed goes on meanwhile.
            await until(lambda: len(signals.items) >= KILL_AFTER_SIGNAL, "the signal to kill after", 60)
            market_topic = m.topic_name(m.MARKET_DATA, prefix)
            for name in ("indicator", "router"):
                workers.kill(name)
            # Where it landed: after the trade of that signal, nothing later sent; its record and maybe a few
            # before it were handled after the last commit, so the restart is handed them again.
            await until(lambda: len(market_trades()) > kill_trade, "the test's reader to have that trade", 30)
            assert len(market_trades()) == kill_trade + 1 and len(signals.items) == KILL_AFTER_SIGNAL
            signal_record = market_trades()[-1][0]
            committed = await bus.read_committed(f"indicator-{market_topic}", market_topic, 0)
            assert committed is not None and committed <= signal_record
            for name in ("indicator", "router"):
                workers.start(name)
            resume_feed.set()

            # Every trade frame reaches market-data, in order; every book frame is published or conflated.
            await until(lambda: len(market_trades()) >= len(trade_frames), "every trade on market-data", 60)
            trades = [md for _, md in market_trades()]
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

            # Signals: those of the embedded indicator worker over the same records, the restart window too.
            want = await embedded_signals(list(market.items), conf)
            assert len(want) == len(at_signal) > KILL_AFTER_SIGNAL
            await until(lambda: len(signals.items) >= len(want), "every signal", 90)
            await asyncio.sleep(0)
            got = signals.items
            assert len({s.id for s in got}) == len(got)
            assert [said(s) for s in got] == [said(s) for s in want], (
                f"signals differ from the embedded indicator's ({len(got)} vs {len(want)}); kill after "
                f"record {signal_record}, committed {committed}"
            )
            # The restarted indicator rebuilt from the trades up to its committed offset (not from nothing).
            rebuilt = [
                h.detail
                for h in health.items
                if h.component == m.worker_component("indicator") and "rebuilt" in h.detail
            ]
            before = sum(1 for o, _ in market_trades() if o <= committed)
            assert rebuilt and f"BTCUSDT {before};" in rebuilt[-1], rebuilt

            # Every order gets exactly one terminal status; none doubled (ids unique).
            def settled() -> bool:
                done = {s.order_id for s in statuses.items if s.status in ("filled", "rejected", "canceled")}
                return {o.id for o in orders.items} <= done

            await until(settled, "a fill or rejection for every order", 30)
            check_orders_and_fills(orders.items, statuses.items, got, market.items, settings)
            # What the run did, for whoever reads the output (pytest -s or -rP).
            books = sum(1 for md in market.items if md.kind == "book")
            fills = sum(1 for st in statuses.items if st.status == "filled")
            print(
                f"deployment (order {order}): {len(frames)} frames in ({len(trade_frames)} trades, {book_frames} "
                f"book updates) -> market-data {len(market.items)} records: {len(trades)} trades, {books} books "
                f"published, {conflated()} books conflated; signals {len(got)}, embedded run {len(want)}, equal; "
                f"kill -9 of indicator and router after signal {KILL_AFTER_SIGNAL} (commit {committed} <= its "
                f"record {signal_record}); orders {len(orders.items)}, fills {fills}"
            )
    finally:
        for t in topics:
            await t.close()
        if workers is not None:
            workers.stop_all()
        await bus.close()
        # Deleted at the end of the session (conftest.py): a create right after a delete stalls 60 s.
        CREATED.extend(m.topic_name(t, prefix) for t in (*m.TOPICS, fluvio_offsets.BASE_TOPIC))
    assert not workers.errors, workers.errors


def check_orders_and_fills(orders, statuses, signals, market, settings) -> None:
    """What holds of orders and fills whatever the order in which the router's subscriptions were handed
    their records (see the module's docstring)."""
    from tui_trader.instruments import RulesBook
    from tui_trader.portfolio.sizing import EntryPlan, size_entry

    by_id = {s.id: s for s in signals}
    order_ids = [o.id for o in orders]
    assert orders, "no order: the check below checks nothing"
    assert len(set(order_ids)) == len(order_ids), "an order was sent twice"
    named = [o.signal_id for o in orders if o.purpose in ("entry", "close")]
    assert all(sid in by_id for sid in named), "an order names a signal that is not on the topic"
    assert len(set(named)) == len(named), "a signal gave two orders"
    t, rules = settings.trading, RulesBook().get("BTCUSDT")
    for o in orders:
        sig = by_id[o.signal_id]
        side: m.Side = "buy" if sig.signal in ("Buy", "StrongBuy") else "sell"
        assert o.side == side, (o, sig)
        if o.purpose != "entry":
            continue
        plans = [
            size_entry(
                side=side,
                entry_price=sig.price,
                equity=equity,
                free_equity=equity,
                rules=rules,
                risk_per_trade=t.risk_per_trade,
                stop_loss_pct=t.stop_loss_pct,
                take_profit_pct=t.take_profit_pct,
                max_position_size=t.max_position_size,
                leverage=t.leverage,
            )
            for equity in (settings.paper.starting_balance / 2, settings.paper.starting_balance)
        ]
        entries = [p for p in plans if isinstance(p, EntryPlan)]
        assert len(entries) == len(plans), f"an order for a signal the core denies: {plans}"
        decided = {(p.quantity, p.stop_loss, p.take_profit, p.capped_by) for p in entries}
        assert len(decided) == 1, "the sizing depends on the equity here: the check below is not exact"
        plan = entries[0]
        assert (o.ref_price, o.quantity, o.stop_loss, o.take_profit) == (
            sig.price,
            plan.quantity,
            plan.stop_loss,
            plan.take_profit,
        ), (o, plan)
    # Fills: exactly one terminal status per order; the ordered quantity, at a quoted price with the slippage.
    terminal = [s for s in statuses if s.order_id in set(order_ids) and s.status in ("filled", "rejected")]
    assert len({s.order_id for s in terminal}) == len(terminal), "an order was filled or rejected twice"
    slip = settings.paper.slippage_bps / 10_000
    asks = {md.ask * (1 + slip) for md in market if md.kind == "book"}
    bids = {md.bid * (1 - slip) for md in market if md.kind == "book"}
    qty = {o.id: o.quantity for o in orders}
    for st in terminal:
        if st.status != "filled":
            continue
        assert st.filled_qty == qty[st.order_id], st
        assert st.avg_price in (asks if st.side == "buy" else bids), f"{st} not at a quoted price"
