"""A settings save reaches the workers as one typed Control ("settings") on trading-control, whether they run
in the desk's process or elsewhere: the desk never touches a worker's settings itself."""

from __future__ import annotations

import gzip

import desk_canned as canned
from desk_helpers import SMALL, ready
from kit import Tap, until

from tui_trader import messages as m
from tui_trader.bus import EmbeddedBus, EmbeddedCluster
from tui_trader.clock import FixedClock
from tui_trader.instruments import RulesBook
from tui_trader.journal import Journal
from tui_trader.runtime import Pipeline
from tui_trader.settings import Settings, replace_field
from tui_trader.ui.app import DeskApp
from tui_trader.ui.runner import LocalPipeline
from tui_trader.workers import WorkerContext
from tui_trader.workers.router import RouterWorker

T0 = canned.NOW


def trade(price: float) -> m.MarketData:
    return m.MarketData(symbol="BTCUSDT", kind="trade", price=price, volume=0.01, event_time=T0, recv_time=T0, ts=T0)


def buy(strength: float, n: int) -> m.TradingSignal:
    values = dict.fromkeys(m.Indicators.__struct_fields__, 1.0)
    return m.TradingSignal(
        id=f"sig-{n}",
        symbol="BTCUSDT",
        signal="Buy",
        strength=strength,
        buy_score=3,
        sell_score=1,
        reasons=["ema12>ema26:+1"],
        indicators=m.Indicators(**values),
        price=60_000.0,
        ts=T0,
    )


async def test_an_attached_desk_changes_a_remote_routers_threshold_and_the_router_trades_by_it(tmp_path):
    cluster = EmbeddedCluster()
    workers_bus = EmbeddedBus(cluster)  # the workers' process
    ctx = WorkerContext(
        settings=Settings(),
        bus=workers_bus,
        clock=FixedClock(T0),
        shared={"instruments": RulesBook(), "journal": Journal(":memory:")},
    )
    runtime = Pipeline(ctx, workers=[RouterWorker(ctx)])
    await runtime.start()
    orders = await Tap[m.OrderCommand](workers_bus, m.ORDERS).start()
    desk_bus = EmbeddedBus(cluster)  # the desk's own handle, as `ui --attach` has
    app = DeskApp(Settings(), bus=desk_bus, clock=FixedClock(T0), settings_path=tmp_path / "settings.toml")
    try:
        async with app.run_test(size=SMALL) as pilot:
            await ready(pilot, router=False)
            await workers_bus.publish(m.MARKET_DATA, "BTCUSDT", m.encode(trade(60_000.0)))
            stricter = replace_field(app.saved_settings, "trading", "min_signal_strength", 0.8)
            app.save_settings(stricter, tmp_path / "settings.toml")
            await until(lambda: ctx.settings.trading.min_signal_strength == 0.8, "the router's runtime to take 0.8")
            await workers_bus.publish(m.SIGNALS, "BTCUSDT", m.encode(buy(0.7, 1)))
            await workers_bus.wait_idle()
            assert orders.items == [], "a 0.7 signal under the desk's new 0.8 threshold is not traded"

            looser = replace_field(app.saved_settings, "trading", "min_signal_strength", 0.6)
            app.save_settings(looser, tmp_path / "settings.toml")
            await until(lambda: ctx.settings.trading.min_signal_strength == 0.6, "the router's runtime to take 0.6")
            await workers_bus.publish(m.SIGNALS, "BTCUSDT", m.encode(buy(0.7, 2)))
            await until(lambda: [c.purpose for c in orders.items] == ["entry"], "the router's entry at 0.6")
            assert "min_signal_strength = 0.6" in (tmp_path / "settings.toml").read_text(), "the desk saved the file"
    finally:
        await orders.close()
        await runtime.stop()
        ctx.shared["journal"].close()


async def test_the_in_process_desk_changes_its_workers_through_the_same_control(tmp_path, btc_capture):
    # A few hundred trades of a real capture, played at the recording's pace: the pipeline is up and idle.
    replay = tmp_path / "short.gz"
    with gzip.open(btc_capture, "rt") as src, gzip.open(replay, "wt") as out:
        for _, line in zip(range(300), src, strict=False):
            out.write(line)
    runner = LocalPipeline(Settings(), [str(replay)], speed=1.0)
    app = DeskApp(Settings(), runner=runner, settings_path=tmp_path / "settings.toml")
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        await until(lambda: runner.runtime is not None, "the pipeline to start")
        runtime = runner.runtime
        assert runtime is not None
        controls = await Tap[m.Control](await runner.open_bus(), m.CONTROL).start()
        app.save_settings(replace_field(app.saved_settings, "risk", "cooldown_s", 5.0), tmp_path / "settings.toml")
        assert runtime.ctx.settings.risk.cooldown_s == 60.0, "the desk set the workers' settings itself"
        await until(lambda: runtime.ctx.settings.risk.cooldown_s == 5.0, "the workers to take risk.cooldown_s")
        [sent] = [c for c in controls.items if c.command == "settings"]
        assert sent.origin == "desk" and sent.settings == m.SettingsChange(values={"risk.cooldown_s": 5.0})
        await controls.close()


def test_a_change_a_worker_does_not_read_live_leaves_it_as_it_runs():
    ctx = WorkerContext(
        settings=Settings(),
        bus=EmbeddedBus(EmbeddedCluster()),
        clock=FixedClock(T0),
        shared={"journal": Journal(":memory:")},
    )
    runtime = Pipeline(ctx, workers=[RouterWorker(ctx)])
    before = ctx.settings
    change = m.SettingsChange(values={"trading.leverage": 20, "indicators.near_band": 0.3, "risk.cooldown_s": 5.0})
    assert runtime.apply_settings(change, "desk-2") == ["risk.cooldown_s"]
    assert ctx.settings.trading.leverage == before.trading.leverage, "leverage waits for a restart"
    assert ctx.settings.indicators.near_band == before.indicators.near_band, "not the router's to take"
    assert runtime.apply_settings(m.SettingsChange(values={"risk.cooldown_s": "soon"}), "desk-2") == []
    assert ctx.settings.risk.cooldown_s == 5.0, "a bad value changes nothing"
