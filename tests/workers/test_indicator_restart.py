"""A durable indicator (one worker per process, tick bars) stopped mid-stream and started again publishes exactly
the signals an uninterrupted one publishes over the same trades: none missed while its indicators would refill
(it rebuilds them from the market data before its committed offset), none doubled for the records after its
last commit (handed to it again).

The stream is the real BTC capture's market data (trades and book tickers) as the collector publishes it. A
"process" is a worker on its own bus handle; a kill -9 is modelled by keeping the committed offsets as they
were when the worker died (a clean stop commits what it handled on the way out; a kill cannot). Where each
kill landed is asserted: after which trade, whether right after a signal, and how many records after the
last commit the restart is handed again.

The same on Fluvio when TUI_TRADER_FLUVIO names a cluster (skipped with the reason otherwise; its topics are
deleted when the session ends)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

import msgspec
import pytest
from contract.fluvio_kit import CREATED, FLUVIO, FLUVIO_SKIP, delete_fluvio_topics
from indicators import indicator_captures  # tests/indicators/indicator_captures.py (tests/ is on sys.path)
from kit import until

from tui_trader import messages as m
from tui_trader.bus import EmbeddedBus, EmbeddedCluster, Start, fluvio_offsets
from tui_trader.bus.base import Bus, Gap
from tui_trader.bus.topics import create_pipeline_topics
from tui_trader.clock import Clock
from tui_trader.indicators.warm_history import history_points
from tui_trader.settings import Settings, parse
from tui_trader.workers import WorkerContext
from tui_trader.workers.indicator import IndicatorWorker, signal_engine

RECORDS = 8_000  # market records from the capture's start: ~2,000 trades, ~50 signals
SETTINGS = parse({"indicators": {"bar": "tick"}})
CONSUMER = f"indicator-{m.MARKET_DATA}"


def decision(s: m.TradingSignal) -> tuple:
    """What a signal says: everything but its indicator values, its id and its creation time."""
    return (s.symbol, s.signal, s.strength, s.buy_score, s.sell_score, tuple(s.reasons), s.price)


def values(s: m.TradingSignal) -> list[float]:
    return list(msgspec.structs.astuple(s.indicators))


@pytest.fixture(scope="module")
def feed() -> list[m.MarketData]:
    from tui_trader import paths

    data = paths.shared_data_dir()
    if data is None:
        pytest.skip("real captures not found: set TUI_TRADER_DATA or place ../shared/data beside the checkout")
    return indicator_captures.market_data(data / "binance_usdm_ws" / "btcusdt_20240808.gz")[:RECORDS]


def signal_trades(feed: list[m.MarketData]) -> list[int]:
    """The index (among the feed's trades) of each trade that gives a signal: the indicator core's answer."""
    core = signal_engine(SETTINGS)
    trades = [md for md in feed if md.kind == "trade"]
    return [i for i, md in enumerate(trades) for _ in core.on_trade(md.symbol, md.price, md.event_time)]


@dataclass
class Kill:
    after_trade: int  # the index (among the feed's trades) of the last trade published before the kill
    clean: bool = False  # a clean stop (SIGTERM) instead of a kill -9
    # run() crashed and was started again by the runtime in the same process (the worker and its engine
    # kept), its last commits lost with the crash
    in_process: bool = False


class EmbeddedDesk:
    """One embedded cluster: the collector's handle publishes, each indicator "process" has its own (reading
    `partitions` of the per-symbol topics, None: all)."""

    def __init__(
        self, settings: Settings = SETTINGS, partitions: tuple[int, ...] | None = None, retention: int = 200_000
    ) -> None:
        self.settings = settings
        self.partitions = partitions
        self.cluster = EmbeddedCluster(retention=retention)
        self.bus = EmbeddedBus(self.cluster)
        self.health: list[m.Health] = []

    async def open(self) -> None:
        await create_pipeline_topics(self.bus, self.settings.bus)

    async def start(self) -> tuple[IndicatorWorker, asyncio.Task[None], Bus]:
        bus = EmbeddedBus(self.cluster)
        ctx = WorkerContext(
            settings=self.settings,
            bus=bus,
            clock=Clock(),
            durable=True,
            partitions=self.partitions,
            on_health=self.health.append,
        )
        worker = IndicatorWorker(ctx)
        task = asyncio.create_task(worker.run())
        topic = self.cluster.topic(m.MARKET_DATA)
        await until(lambda: len(topic.subs) >= 1, "the indicator subscribed to market data")
        return worker, task, bus

    async def publish(self, records: list[m.MarketData]) -> None:
        for md in records:  # one at a time, each handled before the next: a kill lands exactly where asked
            await self.bus.publish_msg(m.MARKET_DATA, md.symbol, md)
            await self.bus.wait_idle()

    async def handled(self, worker: IndicatorWorker, trades: int) -> None:
        await self.bus.wait_idle()  # every tracked reader has read everything published

    async def committed(self) -> int:
        part = 0 if self.partitions is None else self.partitions[0]
        return self.cluster.committed[(CONSUMER, m.MARKET_DATA, part)]

    async def kill(self, task: asyncio.Task[None], bus: Bus, clean: bool) -> None:
        before = dict(self.cluster.committed)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        if not clean:  # a kill -9 commits nothing on the way out
            self.cluster.committed.clear()
            self.cluster.committed.update(before)
        await bus.close()

    async def rerun(self, worker: IndicatorWorker, task: asyncio.Task[None]) -> asyncio.Task[None]:
        """run() ends with its commits lost (as a crash whose last commit failed), and starts again."""
        before = dict(self.cluster.committed)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        self.cluster.committed.clear()
        self.cluster.committed.update(before)
        task = asyncio.create_task(worker.run())
        topic = self.cluster.topic(m.MARKET_DATA)
        await until(lambda: len(topic.subs) >= 1, "the indicator subscribed to market data again")
        return task

    async def signals(self) -> list[m.TradingSignal]:
        parts = range(self.settings.bus.partitions) if self.partitions is None else self.partitions
        return [s for p in parts for s in await read_signals(self.bus, m.SIGNALS, p)]

    async def close(self) -> None:
        await self.bus.close()


class FluvioDesk:
    """The same on a Fluvio cluster: topics of a prefix of their own (deleted at the end), a bus handle per
    "process". A kill -9 is a stop whose last commits are undone: the offset the worker had committed before
    it is written again (the newest commit record of a key wins, as after a kill that wrote nothing more)."""

    def __init__(self) -> None:
        self.prefix = "r" + uuid.uuid4().hex[:8]
        self.settings = parse({"indicators": {"bar": "tick"}, "bus": {"topic_prefix": self.prefix}})
        self.offsets = m.topic_name(fluvio_offsets.BASE_TOPIC, self.prefix)
        self.market = m.topic_name(m.MARKET_DATA, self.prefix)
        self.consumer = f"indicator-{self.market}"

    async def connect(self) -> Bus:
        from tui_trader.bus.fluvio_bus import FluvioBus

        return await FluvioBus(FLUVIO, connect_timeout_s=10, offsets_topic=self.offsets).connect()

    async def open(self) -> None:
        self.bus = await self.connect()
        await create_pipeline_topics(self.bus, self.settings.bus)

    async def start(self) -> tuple[IndicatorWorker, asyncio.Task[None], Bus]:
        bus = await self.connect()
        worker = IndicatorWorker(WorkerContext(settings=self.settings, bus=bus, clock=Clock(), durable=True))
        task = asyncio.create_task(worker.run())
        # Its consumer's start is on the cluster (pinned at the end the first time): it reads what comes next.
        await until(self._pinned, "the indicator's market-data consumer in place", 60)
        return worker, task, bus

    async def _pinned(self) -> bool:
        return await self.committed() is not None

    async def publish(self, records: list[m.MarketData]) -> None:
        for i in range(0, len(records), 1_000):  # one record each (not bundled): offset = index in the feed
            await self.bus.publish_many(self.market, [(md.symbol, m.encode(md)) for md in records[i : i + 1_000]])

    async def handled(self, worker: IndicatorWorker, trades: int) -> None:
        await until(lambda: worker.engine.counters.trades >= trades, f"the indicator to handle {trades} trades", 60)

    async def committed(self) -> int | None:
        return await self.bus.read_committed(self.consumer, self.market, 0)  # type: ignore[attr-defined]

    async def kill(self, task: asyncio.Task[None], bus: Bus, clean: bool) -> None:
        before = await self.committed()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await bus.close()
        if not clean and before is not None:
            key = fluvio_offsets.key_of(self.consumer, self.market, 0)
            await self.bus.publish(self.offsets, key, fluvio_offsets.encode(self.consumer, self.market, 0, before))

    async def signals(self) -> list[m.TradingSignal]:
        return await read_signals(self.bus, m.topic_name(m.SIGNALS, self.prefix))

    async def close(self) -> None:
        await self.bus.close()
        CREATED.extend(m.topic_name(t, self.prefix) for t in (*m.TOPICS, fluvio_offsets.BASE_TOPIC))


@pytest.fixture(scope="session")
def fluvio_topics_deleted_at_the_end():
    """The topics the Fluvio leg made are deleted when the session ends, not after the test: on the local
    cluster a create right after a delete waits 60 s for the SC's answer (the next Fluvio test would stall)."""
    yield
    if CREATED:
        delete_fluvio_topics(CREATED)


async def read_signals(bus: Bus, topic: str, partition: int = 0) -> list[m.TradingSignal]:
    end = await bus.end_offset(topic, partition)
    if end == 0:
        return []
    out: list[m.TradingSignal] = []
    sub = await bus.subscribe(topic, Start.BEGINNING, tracked=False, partitions=[partition])
    decoder = m.Decoder()
    try:
        while True:
            item = await asyncio.wait_for(sub.__anext__(), 30)
            if isinstance(item, Gap):
                continue
            out.append(item.msg or decoder.decode(topic, item.value, m.SIGNALS))  # type: ignore[arg-type]
            if item.offset >= end - 1:
                return out
    finally:
        await sub.close()


async def run_with_kills(desk, feed: list[m.MarketData], kills: list[Kill]) -> list[dict]:
    """Play the feed into a durable indicator, killing and restarting it after the trades `kills` name;
    returns, per kill, where it landed: the last record published, the committed offset the restart
    resumes after, the signals published before the kill, and the restarted worker."""
    trade_at = [i for i, md in enumerate(feed) if md.kind == "trade"]  # record index of each trade
    landed: list[dict] = []
    worker, task, bus = await desk.start()
    done, resume = 0, 0
    for kill in kills:
        upto = trade_at[kill.after_trade] + 1
        await desk.publish(feed[done:upto])
        await desk.handled(worker, sum(1 for md in feed[resume:upto] if md.kind == "trade"))
        done = upto
        published = len(await desk.signals())
        if kill.in_process:
            task = await desk.rerun(worker, task)
        else:
            await desk.kill(task, bus, kill.clean)
        committed = await desk.committed()
        resume = committed + 1
        if not kill.in_process:
            worker, task, bus = await desk.start()
        landed.append({"after_record": upto - 1, "committed": committed, "signals_before": published, "worker": worker})
    await desk.publish(feed[done:])
    await desk.handled(worker, sum(1 for md in feed[resume:] if md.kind == "trade"))
    await desk.kill(task, bus, clean=True)
    return landed


async def test_a_killed_and_restarted_indicator_publishes_the_signals_of_an_uninterrupted_one(feed):
    at_signal = signal_trades(feed)
    need = history_points(SETTINGS.indicators)
    # Kills: before the indicators have values; right after a signal (its record not committed yet: handed
    # again); between signals, stopped cleanly; right after a signal after more trades than are read back.
    late = next(i for i in at_signal if i > need + 50)
    kills = [Kill(30), Kill(at_signal[2]), Kill(at_signal[5] + 40, clean=True), Kill(late)]

    reference = EmbeddedDesk()
    await reference.open()
    await run_with_kills(reference, feed, [])
    want = await reference.signals()
    await reference.close()
    assert len(want) == len(at_signal) > 40

    desk = EmbeddedDesk()
    await desk.open()
    landed = await run_with_kills(desk, feed, kills)
    got = await desk.signals()
    await desk.close()

    assert [decision(s) for s in got] == [decision(s) for s in want]
    assert len({s.id for s in got}) == len(got)
    # Up to the last kill every restart read its history back to the topic's first trade: bit for bit. The
    # last one read back `need` trades of the 645 before it: the values agree to round-off (TA-Lib's SMA and
    # bands keep running sums whose last bits depend on where the series began).
    exact = landed[3]["signals_before"]
    assert [values(s) for s in got[:exact]] == [values(s) for s in want[:exact]]
    for s, w in zip(got[exact:], want[exact:], strict=True):
        assert values(s) == pytest.approx(values(w), rel=1e-9)
    # Where the kills landed: right after a signal, with that signal's record after the last commit, so it
    # was handed again and not published twice; the late one after more trades than are read back.
    for k in (1, 3):
        spot = landed[k]
        assert spot["signals_before"] == at_signal.index(kills[k].after_trade) + 1
        assert spot["committed"] < spot["after_record"]
        assert spot["worker"].counters()["already_published"] == 1
    assert landed[0]["signals_before"] == 0 and landed[2]["committed"] == landed[2]["after_record"]
    assert landed[3]["worker"].counters()["history_trades"] == need < kills[3].after_trade


async def test_a_run_restarted_in_its_process_skips_the_trades_its_indicators_already_had(feed):
    """The runtime restarts a crashed run() in the same process, the worker's engine kept: the records after
    the last commit come again, and are not fed twice (nor their signals published twice)."""
    at_signal = signal_trades(feed)
    kill = Kill(at_signal[3], in_process=True)
    runs = []
    for kills in ([], [kill]):
        desk = EmbeddedDesk()
        await desk.open()
        landed = await run_with_kills(desk, feed, kills)
        runs.append((await desk.signals(), landed))
        await desk.close()
    (want, _), (got, landed) = runs
    assert [decision(s) for s in got] == [decision(s) for s in want]
    assert [values(s) for s in got] == [values(s) for s in want]
    spot = landed[0]
    again = sum(1 for md in feed[spot["committed"] + 1 : spot["after_record"] + 1] if md.kind == "trade")
    assert again > 0 and spot["worker"].counters()["seen_again"] == again
    assert spot["worker"].counters()["history_trades"] == 0  # nothing rebuilt: the engine was kept


def eth_of(md: m.MarketData) -> m.MarketData:
    """An ETHUSDT trade moving as the BTC one does (a second symbol, in the other partition of two)."""
    return msgspec.structs.replace(md, symbol="ETHUSDT", price=round(md.price / 20, 2))


async def test_a_member_rebuilds_only_the_symbols_of_its_own_partitions(feed):
    """`--member 1/2`: BTCUSDT's partition (ETHUSDT's is the other). Its restart reads back that partition
    only, and its signals are those of an uninterrupted member."""
    settings = parse({"indicators": {"bar": "tick"}, "bus": {"partitions": 2}})
    mixed = [x for md in feed[:5_000] for x in ((md, eth_of(md)) if md.kind == "trade" else (md,))]
    trades = [md for md in mixed if md.kind == "trade"]
    kill = Kill([i for i, md in enumerate(trades) if md.symbol == "BTCUSDT"][300])  # after BTC's 301st trade
    runs = []
    for kills in ([], [kill]):
        desk = EmbeddedDesk(settings, partitions=(1,))
        await desk.open()
        landed = await run_with_kills(desk, mixed, kills)
        runs.append((await desk.signals(), landed))
        await desk.close()
    (want, _), (got, landed) = runs
    assert want and {s.symbol for s in want} == {"BTCUSDT"}
    assert [decision(s) for s in got] == [decision(s) for s in want]
    assert [values(s) for s in got] == [values(s) for s in want]
    # History: BTC's trades before the resume point (partition 1 holds BTC's records only), no ETH one.
    btc_records = [md for md in mixed if md.symbol == "BTCUSDT"]
    before = sum(1 for md in btc_records[: landed[0]["committed"] + 1] if md.kind == "trade")
    restarted = landed[0]["worker"]
    assert restarted.warmup["trades"] == {"BTCUSDT": before}
    assert restarted.counters()["history_trades"] == before > 250


async def test_a_topic_trimmed_by_retention_warms_with_what_there_is_and_says_so(feed):
    desk = EmbeddedDesk(retention=300)  # at most 600 market records kept, at least 300
    await desk.open()
    landed = await run_with_kills(desk, feed[:3_000], [Kill(400)])
    await desk.close()
    restarted = landed[0]["worker"]
    assert restarted.warmup["state"] == "short"
    assert 0 < restarted.warmup["trades"]["BTCUSDT"] < history_points(SETTINGS.indicators)
    said = [h.detail for h in desk.health if h.component == m.worker_component("indicator") and "rebuilt" in h.detail]
    assert said and "the older records are gone (retention)" in said[-1] and "BTCUSDT" in said[-1]


@pytest.mark.fluvio
@pytest.mark.skipif(not FLUVIO, reason=FLUVIO_SKIP)
async def test_on_fluvio_a_killed_and_restarted_indicator_publishes_the_signals_of_an_uninterrupted_one(
    feed, fluvio_topics_deleted_at_the_end
):
    at_signal = signal_trades(feed)
    need = history_points(SETTINGS.indicators)
    late = next(i for i in at_signal if i > need + 50)
    kills = [Kill(at_signal[2]), Kill(late)]
    reference = EmbeddedDesk()
    await reference.open()
    await run_with_kills(reference, feed, [])
    want = await reference.signals()
    await reference.close()

    desk = FluvioDesk()
    try:
        await desk.open()
        landed = await run_with_kills(desk, feed, kills)
        await until(lambda: _count(desk, len(want)), "every signal on the cluster", 30)
        got = await desk.signals()
    finally:
        await desk.close()
    assert [decision(s) for s in got] == [decision(s) for s in want]
    exact = landed[1]["signals_before"]
    assert [values(s) for s in got[:exact]] == [values(s) for s in want[:exact]]
    for s, w in zip(got[exact:], want[exact:], strict=True):
        assert values(s) == pytest.approx(values(w), rel=1e-9)
    for k, spot in enumerate(landed):  # right after a signal whose record was not committed: handed again
        assert spot["signals_before"] == at_signal.index(kills[k].after_trade) + 1
        assert spot["committed"] < spot["after_record"]
        assert spot["worker"].counters()["already_published"] == 1


async def _count(desk: FluvioDesk, n: int) -> bool:
    return len(await desk.signals()) >= n
