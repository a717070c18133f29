"""The indicator worker on the embedded bus: what it publishes in a replay, and the live warm-up from klines
(against a loopback server speaking Binance's REST), including its failure and the replay that skips it."""

from __future__ import annotations

import asyncio
import logging
import math
import re
import socket

import pytest
from aiohttp import web
from indicator_harness import IndicatorHarness, trade
from indicators import indicator_captures  # tests/indicators/indicator_captures.py (tests/ is on sys.path)
from kit import until

from tui_trader import messages as m
from tui_trader.clock import FixedClock, ReplayClock
from tui_trader.indicators.signals import SignalEngine
from tui_trader.settings import IndicatorSettings, Settings, TradingSettings, parse
from tui_trader.workers import indicator as indicator_module

MIN = 60_000
# The live tests' wall clock, fixed so a minute boundary cannot fall in the middle of one: 30 s into a minute.
NOW = 1_723_161_270_000


# --- replay: the worker publishes what the core computes ---------------------------------------------


async def test_replayed_feed_publishes_the_cores_signals_at_event_time(btc_capture):
    feed = indicator_captures.market_data(btc_capture)[:12_000]
    settings = parse({"indicators": {"bar": "tick"}})
    core = SignalEngine(settings.indicators, settings.trading.min_signal_strength)
    expected, clock = [], 0
    for md in feed:
        clock = max(clock, md.event_time)  # the replay clock: the latest event time, never backwards
        if md.kind == "trade":
            expected += [
                (e.evaluation.kind, e.price, clock, e.values) for e in core.on_trade(md.symbol, md.price, md.event_time)
            ]
    async with IndicatorHarness(settings, ReplayClock()) as h:
        for i, md in enumerate(feed):
            await h.send(md)
            if i == 100:
                await h.send(b'{"v":1,"symbol":"BTCUSDT","kind":"trade","price":"oops"}')  # malformed
                await h.send(trade("BTCUSDT", 0.0, md.event_time))  # a zero price: refused
        got = await h.signals()
        counters = h.indicator.counters()
    assert len(expected) > 20
    assert [(s.signal, s.price, s.ts) for s in got] == [(k, p, t) for k, p, t, _ in expected]
    for s, (_, _, _, values) in zip(got, expected, strict=False):
        assert s.indicators == m.Indicators(**values._asdict())
        assert s.symbol == "BTCUSDT" and len(s.id) == 36
        # reasons carry the points: they add up to the two scores
        points = [int(r.rsplit("+", 1)[1]) for r in s.reasons]
        assert sum(points) == s.buy_score + s.sell_score
        side_score = s.buy_score if s.signal.endswith("Buy") else s.sell_score
        assert s.strength == side_score / (s.buy_score + s.sell_score) >= 0.65
    books = sum(1 for md in feed if md.kind == "book")
    trades = len(feed) - books
    assert counters["books"] == books > 5_000
    assert counters["trades"] == trades + 1 and counters["rejected"] == 1
    assert counters["malformed:trading-market-data"] == 1
    assert counters["published"] == len(got)
    assert sum(counters[f"signals:{k}"] for k in ("StrongBuy", "Buy", "Sell", "StrongSell")) == len(got)


async def test_replay_never_warms_up(kline_server):
    server = await kline_server()
    settings = parse(
        {"indicators": {"bar": "1m", "warmup": True}, "exchange": {"api_base_url": server.url, "timeout_ms": 2000}}
    )
    async with IndicatorHarness(settings, ReplayClock()) as h:
        t0 = 1_723_161_240_000
        for k in range(3):
            await h.send(trade("BTCUSDT", 100.0 + k, t0 + k * MIN))
        assert h.indicator.warmup == {"state": "skipped"}
        assert h.indicator.counters()["points"] == 2
    assert server.calls == []


# --- live warm-up against a loopback Binance REST server ---------------------------------------------


class KlineServer:
    """GET /fapi/v1/exchangeInfo and /fapi/v1/klines with Binance's JSON shapes. Closes fall steadily (0.1 %
    a bar), which the scoring calls a StrongBuy; the last row is the bar still forming."""

    def __init__(self, status: int = 200, now_ms: int = NOW) -> None:
        self.status = status
        self.now_ms = now_ms
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.release = asyncio.Event()
        self.release.set()
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> KlineServer:
        app = web.Application()
        app.router.add_get("/fapi/v1/exchangeInfo", self.exchange_info)
        app.router.add_get("/fapi/v1/klines", self.klines)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def exchange_info(self, request: web.Request) -> web.Response:
        self.calls.append((request.path, dict(request.query)))
        symbols = [
            {
                "symbol": f"{base}USDT",
                "pair": f"{base}USDT",
                "contractType": "PERPETUAL",
                "deliveryDate": 4133404800000,
                "onboardDate": 1569398400000,
                "status": "TRADING",
                "baseAsset": base,
                "quoteAsset": "USDT",
                "marginAsset": "USDT",
                "pricePrecision": 2,
                "quantityPrecision": 3,
                "baseAssetPrecision": 8,
                "quotePrecision": 8,
                "underlyingType": "COIN",
                "filters": [
                    {"filterType": "PRICE_FILTER", "minPrice": "0.10", "maxPrice": "4529764", "tickSize": "0.10"},
                    {"filterType": "LOT_SIZE", "minQty": "0.001", "maxQty": "1000", "stepSize": "0.001"},
                    {"filterType": "MARKET_LOT_SIZE", "minQty": "0.001", "maxQty": "120", "stepSize": "0.001"},
                    {"filterType": "MIN_NOTIONAL", "notional": "5"},
                ],
                "orderTypes": ["LIMIT", "MARKET", "STOP_MARKET", "TAKE_PROFIT_MARKET"],
                "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
            }
            for base in ("BTC", "ETH")
        ]
        return web.json_response(
            {
                "timezone": "UTC",
                "serverTime": self.now_ms,
                "rateLimits": [],
                "exchangeFilters": [],
                "assets": [],
                "symbols": symbols,
            }
        )

    async def klines(self, request: web.Request) -> web.Response:
        self.calls.append((request.path, dict(request.query)))
        await self.release.wait()
        if self.status != 200:
            return web.json_response({"code": -1000, "msg": "An unknown error occurred."}, status=self.status)
        limit = int(request.query["limit"])
        forming = self.now_ms // MIN * MIN
        rows = []
        for i in range(limit):
            t = forming - (limit - 1 - i) * MIN
            close = f"{1000.0 * 0.999**i:.2f}"
            rows.append([t, close, close, close, close, "1.000", t + MIN - 1, close, 10, "0.5", close, "0"])
        return web.json_response(rows)


@pytest.fixture
async def kline_server():
    servers: list[KlineServer] = []

    async def start(status: int = 200) -> KlineServer:
        server = await KlineServer(status).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.release.set()
        await server.stop()


def live_settings(url: str, **indicators) -> Settings:
    return parse(
        {
            "indicators": {"bar": "1m", **indicators},
            "exchange": {"api_base_url": url, "timeout_ms": 3000},
            "trading": {"symbols": ["BTCUSDT", "ETHUSDT"]},
        }
    )


@pytest.fixture(autouse=True)
def no_bar_clock(monkeypatch):
    """These tests drive bars with trades only; the wall-clock closing would race them across a minute."""
    monkeypatch.setattr(indicator_module, "BAR_GRACE_MS", 3_600_000)


async def test_live_warm_up_scores_the_first_live_bar(kline_server):
    server = await kline_server()
    async with IndicatorHarness(live_settings(server.url), FixedClock(NOW)) as h:
        await until(lambda: any("warmed up" in x.detail for x in h.reported), what="the warm-up report")
        assert h.indicator.warmup == {"state": "done", "bars": {"BTCUSDT": 498, "ETHUSDT": 498}, "errors": {}}
        klines = [q for path, q in server.calls if path == "/fapi/v1/klines"]
        assert klines == [{"interval": "1m", "limit": "499", "symbol": s} for s in ("BTCUSDT", "ETHUSDT")]
        report = h.reported[-1]
        assert report.component == "worker:indicator" and report.counters == {
            "warmup_bars:BTCUSDT": 498,
            "warmup_bars:ETHUSDT": 498,
        }
        # The first live bar closes: it is scored at once (no 50-bar wait) and, as the fall goes on, a StrongBuy.
        start = h.indicator.engine.symbols["BTCUSDT"].bars.start
        await h.send(trade("BTCUSDT", 607.6, start + 1_000))
        assert await h.signals() == []
        await h.send(trade("BTCUSDT", 607.0, start + MIN))
        got = await h.signals()
    assert [(s.signal, s.price) for s in got] == [("StrongBuy", 607.6)]
    assert got[0].ts == NOW  # live: the desk's clock


async def test_a_restarted_worker_process_does_not_publish_its_last_kind_again_on_its_first_live_bar(kline_server):
    """`tui-trader worker indicator` (one per process) started again after a crash: the klines are scored as
    they warm it (nothing published), so it knows the kind the stopped worker last evaluated and the first
    live bar, the same StrongBuy, is not published a second time (the desk's own worker, above, says it)."""
    server = await kline_server()
    async with IndicatorHarness(live_settings(server.url), FixedClock(NOW), durable=True) as h:
        await until(lambda: any("warmed up" in x.detail for x in h.reported), what="the warm-up report")
        assert h.indicator.warmup["bars"] == {"BTCUSDT": 498, "ETHUSDT": 498}
        state = h.indicator.engine.symbols["BTCUSDT"]
        assert state.last_kind == "StrongBuy", "the last closed kline's kind is known"
        assert h.indicator.counters()["evaluations"] == 0, "history is not counted as live evaluations"
        start = state.bars.start
        await h.send(trade("BTCUSDT", 607.6, start + 1_000))
        await h.send(trade("BTCUSDT", 607.0, start + MIN))
        assert h.indicator.counters()["evaluations"] == 1, "the first live bar was scored"
        assert await h.signals() == []


async def test_trades_during_the_warm_up_follow_the_history(kline_server):
    server = await kline_server()
    server.release.clear()  # the klines request hangs until the test lets it answer
    async with IndicatorHarness(live_settings(server.url), FixedClock(NOW)) as h:
        await until(lambda: any(p == "/fapi/v1/klines" for p, _ in server.calls), what="the klines request")
        forming = NOW // MIN * MIN
        await h.send(trade("BTCUSDT", 620.0, forming - 5_000))  # already in a closed kline: late
        await h.send(trade("BTCUSDT", 607.6, forming + 1_000))
        await h.send(trade("BTCUSDT", 607.0, forming + MIN))  # closes the forming bar at 607.6
        assert h.indicator.counters()["trades"] == 0 and await h.signals() == []  # held meanwhile
        server.release.set()
        await until(lambda: h.indicator.warmup["state"] == "done", what="the warm-up")
        await until(lambda: h.indicator.counters()["trades"] == 3, what="the held trades")
        counters = h.indicator.counters()
        got = await h.signals()
    assert counters["late_trades"] == 1 and counters["evaluations"] == 1
    assert [(s.signal, s.price) for s in got] == [("StrongBuy", 607.6)]


async def test_a_full_warm_up_buffer_drops_the_oldest_trades_and_counts_them(kline_server, monkeypatch):
    """The trades held during the warm-up are bounded: past WARMUP_BUFFER the oldest go, counted."""
    monkeypatch.setattr(indicator_module, "WARMUP_BUFFER", 2)
    server = await kline_server()
    server.release.clear()
    async with IndicatorHarness(live_settings(server.url), FixedClock(NOW)) as h:
        await until(lambda: any(p == "/fapi/v1/klines" for p, _ in server.calls), what="the klines request")
        forming = NOW // MIN * MIN
        for k in range(5):
            await h.send(trade("BTCUSDT", 607.6, forming + 1_000 + k))
        assert h.indicator.counters()["warmup_dropped"] == 3
        server.release.set()
        await until(lambda: h.indicator.warmup["state"] == "done", what="the warm-up")
        await until(lambda: h.indicator.counters()["trades"] == 2, what="the two newest held trades")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("where", ["server error", "no server"])
async def test_failed_warm_up_is_reported_and_the_stream_warms_up(kline_server, caplog, where):
    url = (await kline_server(status=500)).url if where == "server error" else f"http://127.0.0.1:{closed_port()}"
    with caplog.at_level(logging.WARNING, logger="tui_trader.worker.indicator"):
        async with IndicatorHarness(live_settings(url), FixedClock(NOW)) as h:
            await until(lambda: h.indicator.warmup["state"] == "failed", what="the failed warm-up")
            await until(lambda: h.reported, what="the health report")
            detail = h.reported[-1].detail
            assert re.search(r"warm-up from klines failed for BTCUSDT, ETHUSDT \(\w+", detail), detail
            assert detail.endswith("warming up from the live stream")
            assert "warm-up from klines failed" in caplog.text
            # From the stream: 51 trades a minute apart close 50 bars; the 50th is the first one scored.
            t0 = (NOW // MIN + 1) * MIN
            for k in range(50):
                await h.send(trade("BTCUSDT", 1000.0 * 0.999**k, t0 + k * MIN + 30_000))
            assert h.indicator.counters()["evaluations"] == 0
            await h.send(trade("BTCUSDT", 940.0, t0 + 50 * MIN + 30_000))  # within the feed's 5 % band
            counters = h.indicator.counters()
            got = await h.signals()
    assert counters["points"] == 50 and counters["evaluations"] == 1 and counters["warmup_points"] == 0
    assert [s.signal for s in got] == ["StrongBuy"]


async def test_a_bar_without_klines_on_the_exchange_warms_up_from_the_stream(kline_server):
    server = await kline_server()
    async with IndicatorHarness(live_settings(server.url, bar="5s"), FixedClock(NOW)) as h:
        await until(lambda: h.indicator.warmup["state"] == "unavailable", what="the warm-up decision")
        await until(lambda: h.reported, what="the health report")
        assert "no Binance USD-M klines for bar '5s'" in h.reported[-1].detail
    assert server.calls == []


def test_default_settings_warm_up_from_mainnet_klines():
    from tui_trader.workers.indicator import warmup_exchange_settings

    assert Settings().exchange.demo is True  # live trading defaults to the demo account …
    ex = warmup_exchange_settings(Settings())
    assert (ex.name, ex.demo) == ("binanceusdm", False)  # … but the feed watches mainnet prices
    testnet = parse({"feed": {"ws_base_url": "wss://fstream.binancefuture.com"}, "exchange": {"name": "okx"}})
    assert (warmup_exchange_settings(testnet).name, warmup_exchange_settings(testnet).demo) == ("binanceusdm", True)
    assert IndicatorSettings().bar == "1m" and IndicatorSettings().warmup


async def test_live_bars_of_a_quiet_symbol_close_on_the_clock(monkeypatch):
    monkeypatch.setattr(indicator_module, "BAR_GRACE_MS", 0)
    settings = parse({"indicators": {"bar": "1s", "warmup": False}})
    async with IndicatorHarness(settings, FixedClock(NOW)) as h:
        await h.send(trade("BTCUSDT", 100.0, NOW - 3_000))  # one trade, then silence
        assert h.indicator.counters()["points"] == 0
        # By the clock (NOW), the bars of NOW-3 s, NOW-2 s and NOW-1 s have ended: three points of 100.
        await until(lambda: h.indicator.counters()["points"] == 3, timeout=5, what="the clock to close the bars")
        bars = h.indicator.engine.symbols["BTCUSDT"].bars
        assert (bars.start, bars.close) == (NOW, 100.0)


async def test_a_stricter_threshold_from_the_desk_applies_to_the_next_points(btc_capture):
    feed = [md for md in indicator_captures.market_data(btc_capture)[:12_000] if md.kind == "trade"]
    settings = parse({"indicators": {"bar": "tick"}})
    async with IndicatorHarness(settings, ReplayClock()) as h:
        half = len(feed) // 2
        for md in feed[:half]:
            await h.send(md)
        before = len(await h.signals())
        assert before > 0 and any(s.strength < 0.9 for s in await h.signals())
        # The desk saves a stricter threshold: from now on only signals of strength >= 0.9 go out.
        h.indicator.ctx.settings = parse({"indicators": {"bar": "tick"}, "trading": {"min_signal_strength": 0.9}})
        for md in feed[half:]:
            await h.send(md)
        after = (await h.signals())[before:]
    assert after and all(s.strength >= 0.9 for s in after)


async def test_the_worker_publishes_only_decodable_signals_whatever_the_topic_carries(btc_capture):
    """Another producer on the market-data topic (a Fluvio cluster, a tool) sends absurd prices: the worker
    still publishes only signals whose every indicator is finite, and keeps no state for foreign symbols."""
    settings = Settings(
        trading=TradingSettings(symbols=["BTCUSDT"]), indicators=IndicatorSettings(bar="tick", emit="every")
    )
    async with IndicatorHarness(settings, ReplayClock()) as h:
        for k, (symbol, price, t) in enumerate(indicator_captures.trades(btc_capture)[:400]):
            if k in (100, 250):
                price = 1e300 if k == 100 else 1e9
            if k == 300:
                await h.send(
                    m.MarketData(
                        symbol="DOGEUSDT", kind="trade", price=0.1, volume=1.0, event_time=t, recv_time=t, ts=t
                    )
                )
            await h.send(
                m.MarketData(symbol=symbol, kind="trade", price=price, volume=0.01, event_time=t, recv_time=t, ts=t)
            )
        signals = await h.signals()
        counters = h.indicator.counters()
    assert signals, "the slice should signal in tick mode with emit=every"
    for s in signals:
        assert all(math.isfinite(getattr(s.indicators, f)) for f in m.Indicators.__struct_fields__)
        assert 50_000 < s.price < 70_000
    assert counters["rejected"] == 1 and counters["quarantined"] == 1 and counters["unconfigured"] == 1
    assert list(h.indicator.engine.symbols) == ["BTCUSDT"]
