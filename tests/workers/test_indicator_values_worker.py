"""Live indicator values (trading-indicators): the indicator worker publishes each symbol's latest values and
scores between signals, rate-limited on the clock, and nothing before every indicator has a value."""

from __future__ import annotations

import msgspec
from indicator_harness import IndicatorHarness, trade

from tui_trader import messages as m
from tui_trader.bus import Start
from tui_trader.clock import ReplayClock
from tui_trader.indicators.signals import SignalEngine
from tui_trader.settings import parse
from tui_trader.workers.indicator import IND_VALUES_MIN_MS

T0 = 1_723_161_240_000


async def read(h: IndicatorHarness, topic: str) -> list:
    end = await h.bus.end_offset(topic)
    out: list = []
    if end == 0:
        return out
    sub = await h.bus.subscribe(topic, Start.BEGINNING, tracked=False)
    dec = m.Decoder()
    async for rec in sub:
        out.append(dec.decode(topic, rec.value))
        if rec.offset == end - 1:
            break
    await sub.close()
    return out


def steady(n: int, step_ms: int) -> list[m.MarketData]:
    """A market drifting down at a steady pace: its rules balance out, so it never makes a signal."""
    return [trade("BTCUSDT", 60_000 - 2 * i, T0 + i * step_ms) for i in range(n)]


async def test_values_keep_coming_while_no_signal_does():
    settings = parse({"indicators": {"bar": "tick", "emit": "change"}})
    feed = steady(400, 100)
    core = SignalEngine(settings.indicators, settings.trading.min_signal_strength)
    at: dict[int, tuple[float, ...] | None] = {}  # the engine's own values after each trade
    async with IndicatorHarness(settings, ReplayClock()) as h:
        for md in feed:
            await h.send(md)
            core.on_trade(md.symbol, md.price, md.event_time)
            at[md.event_time] = core.symbols["BTCUSDT"].values
        signals = await h.signals()
        values = await read(h, m.INDICATOR_VALUES)
    assert signals == []
    # 35 s of evaluated trades 100 ms apart: values every 300 ms (the first trade 250 ms after the last sent)
    assert len(values) == len(range(49, 400, 3))
    # Nothing before every indicator has a value: the first values are the 50th trade's.
    assert values[0].points == 50 and values[0].ts == feed[49].event_time and values[0].price == feed[49].price
    by_time = {md.event_time: md.price for md in feed}
    for v in values:
        assert v.symbol == "BTCUSDT" and v.price == by_time[v.ts]  # the point evaluated at that time
        assert sum(int(r.rsplit("+", 1)[1]) for r in v.reasons) == v.buy_score + v.sell_score
        assert msgspec.structs.astuple(v.indicators) == at[v.ts]  # what the indicators are at that point
    assert h.indicator.counters()["values_published"] == len(values)


async def test_values_are_rate_limited_on_the_clock_per_symbol():
    settings = parse({"indicators": {"bar": "tick"}, "trading": {"symbols": ["BTCUSDT", "ETHUSDT"]}})
    btc = steady(50 + 300, 10)  # after warm-up: 3 s of trades 10 ms apart
    eth = [trade("ETHUSDT", 3_000 - 0.1 * i, T0 + 5 + i * 400) for i in range(60)]  # 400 ms apart
    feed = sorted(btc + eth, key=lambda md: md.event_time)
    async with IndicatorHarness(settings, ReplayClock()) as h:
        for md in feed:
            await h.send(md)
        values = await read(h, m.INDICATOR_VALUES)
    btc_ts = [v.ts for v in values if v.symbol == "BTCUSDT"]
    eth_ts = [v.ts for v in values if v.symbol == "ETHUSDT"]
    # 300 evaluated trades over 3 s give one values record per 250 ms of event time (not one per trade)
    assert btc_ts == [btc[49].event_time + k * IND_VALUES_MIN_MS for k in range(13)]
    # a symbol whose points are farther apart than the limit gets every evaluated point, unaffected by the other
    assert eth_ts == [md.event_time for md in eth[49:]]


async def test_time_bars_send_values_once_per_closed_bar_not_per_trade():
    settings = parse({"indicators": {"bar": "1s"}})
    # 60 one-second bars, 5 trades each: points close when the next bar's first trade arrives
    feed = [trade("BTCUSDT", 60_000 - 2 * b + 0.1 * k, T0 + b * 1000 + k * 150) for b in range(60) for k in range(5)]
    async with IndicatorHarness(settings, ReplayClock()) as h:
        for md in feed:
            await h.send(md)
        values = await read(h, m.INDICATOR_VALUES)
        evaluations = h.indicator.counters()["evaluations"]
    assert len(values) == evaluations == 10  # bars 50..59 closed, each scored once
    assert [v.points for v in values] == list(range(50, 60))
    assert [v.price for v in values] == [60_000 - 2 * b + 0.4 for b in range(49, 59)]  # each bar's last trade


async def test_replays_publish_the_same_values():
    settings = parse({"indicators": {"bar": "tick"}})
    runs = []
    for _ in range(2):
        async with IndicatorHarness(settings, ReplayClock()) as h:
            for md in steady(200, 37):
                await h.send(md)
            runs.append(await read(h, m.INDICATOR_VALUES))
    assert runs[0] == runs[1] and len(runs[0]) > 10
