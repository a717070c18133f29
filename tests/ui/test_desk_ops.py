"""Reasons on screen: a down feed's reason and next try in the status bar, the health and log screen (bad
frames, level filter), and the trader's actions in the log.

Update snapshots after looking at the report: pytest tests/ui/test_desk_ops.py --snapshot-update
"""

from __future__ import annotations

import logging

import desk_canned as canned
import pytest
from desk_helpers import SMALL, feed, ready
from kit import until

from tui_trader import logs
from tui_trader import messages as m
from tui_trader.ui.screens.log import LogScreen

MEDIUM = (100, 30)
DNS = "cannot resolve fstream.binance.com ([Errno -3] Temporary failure in name resolution)"


@pytest.fixture
def desk(desk):
    return lambda *a, **kw: desk(*a, adaptive_refresh=False, **kw)


def down_feed(age_ms: int = 0) -> list[tuple[str, str, object]]:
    """The collector's records while offline: one connection down (its retry counted from its time), the
    other live, and bad frames counted."""
    return [
        (
            m.HEALTH,
            "feed:market",
            m.Health(
                component="feed:market",
                state="down",
                detail=f"{DNS}; reconnecting in 5.4 s",
                symbols=["BTCUSDT"],
                ts=canned.NOW - age_ms,
            ),
        ),
        (m.HEALTH, "feed:public", m.Health(component="feed:public", state="live", symbols=["BTCUSDT"], ts=canned.NOW)),
        (
            m.HEALTH,
            "collector",
            m.Health(
                component="collector",
                state="bad_frames",
                detail="malformed 3",
                counters={"malformed": 3, "ignored": 0, "quarantined": 1},
                ts=canned.NOW,
            ),
        ),
    ]


def fixed_tail() -> logs.LogTail:
    tail = logs.LogTail()
    t = canned.NOW / 1000 - 30
    for i, (level, name, text) in enumerate(
        [
            (logging.INFO, "tui_trader.workers.collector", "feed market: connecting wss://fstream.binance.com/market"),
            (logging.WARNING, "tui_trader.feeds.live", f"feed market: {DNS}; reconnecting in 5.4 s"),
            (logging.DEBUG, "tui_trader.workers.indicator", "BTCUSDT warming up: 12/50 points"),
            (logging.INFO, "tui_trader.ui.actions", "desk (trader) sent pause"),
            (logging.ERROR, "tui_trader.runtime", "worker router crashed (restart 1 in 0.5 s)"),
        ]
    ):
        record = logging.LogRecord(name, level, __file__, 0, text, None, None)
        record.created = t + i
        tail.emit(record)
    return tail


def test_status_bar_names_why_the_feed_is_down_and_counts_down_to_the_next_try():
    from tui_trader.ui.widgets.status import with_retry

    h = m.Health(component="feed:market", state="down", detail=f"{DNS}; reconnecting in 5.4 s", ts=1_000)
    assert with_retry(h, 1_000) == f"{DNS}, retry in 5.4 s"
    assert with_retry(h, 3_000) == f"{DNS}, retry in 3.4 s"
    assert with_retry(h, 9_000) == f"{DNS}, retry now"


async def test_status_bar_shows_the_reason_of_a_down_feed(desk, bus):
    app = desk()
    async with app.run_test(size=MEDIUM) as pilot:
        await feed(pilot, bus, [down_feed(age_ms=2_000)])
        text = app.main_screen.query_one("#status").shown
        assert "feed down: cannot resolve fstream.binance.com" in text
        assert "retry in 3.4 s" in text


def test_status_bar_with_a_down_feed_and_its_reason(snap_compare, desk, bus):
    async def run_before(pilot) -> None:
        await feed(pilot, bus, [*canned.batches(), down_feed(age_ms=1_000)])

    assert snap_compare(desk(), terminal_size=MEDIUM, run_before=run_before)


def test_status_bar_with_a_down_feed_at_80x24(snap_compare, desk, bus):
    async def run_before(pilot) -> None:
        await feed(pilot, bus, [*canned.batches(), down_feed(age_ms=1_000)])

    assert snap_compare(desk(), terminal_size=SMALL, run_before=run_before)


def test_log_screen(snap_compare, desk, bus):
    async def run_before(pilot) -> None:
        await feed(pilot, bus, [*canned.batches(), down_feed(age_ms=1_000)])
        pilot.app.push_screen(LogScreen(fixed_tail()))
        await until(lambda: isinstance(pilot.app.screen, LogScreen), "the log screen")
        await pilot.app.refresh_desk()
        await pilot.pause()

    assert snap_compare(desk(), terminal_size=MEDIUM, run_before=run_before)


async def test_log_key_opens_health_and_log_and_the_level_filter_hides_lower_lines(desk, bus, caplog):
    caplog.set_level(logging.INFO)  # as logs.setup sets it for the desk
    app = desk()
    async with app.run_test(size=MEDIUM) as pilot:
        await feed(pilot, bus, [down_feed()])
        await pilot.press("p")  # a key action: logged with who pressed it
        await pilot.press("l")
        await until(lambda: isinstance(app.screen, LogScreen), "the log screen")
        screen = app.screen
        await app.refresh_desk()
        await pilot.pause()
        table = screen.query_one("#health-table")
        rows = {str(table.get_row_at(i)[0]): [str(c) for c in table.get_row_at(i)] for i in range(table.row_count)}
        assert rows["feed:market"][1] == "down"
        reason = rows["feed:market"][2]  # cut to the pane's width, the retry always kept
        assert reason.startswith("cannot resolve fstream") and reason.endswith(", retry in 5.4 s")
        assert rows["collector"][3] == "malformed 3 quarantined 1"  # the bad-frame counters

        def shown() -> str:
            return "\n".join(line.text for line in screen.query_one("#log-lines").lines)

        await until(lambda: "sent pause" in shown(), "the pause in the log pane")
        await pilot.press("v")  # info → warning and above
        await until(lambda: "sent pause" not in shown(), "info lines to go")
        assert "warning and above" in str(screen.query_one("#log-pane").border_title)
        await pilot.press("escape")
        await until(lambda: not isinstance(app.screen, LogScreen), "the log screen to close")


async def test_a_settings_save_and_a_mode_switch_are_logged_with_who_and_what(desk, bus, caplog):
    from tui_trader import settings as settings_mod

    app = desk()
    caplog.set_level(logging.INFO, logger="tui_trader.ui.actions")
    async with app.run_test(size=MEDIUM) as pilot:
        await ready(pilot)
        new = settings_mod.replace_field(app.saved_settings, "trading", "leverage", 4)
        app.save_settings(new, app.settings_path)
        await app.send("set_mode", "paper")
        await pilot.pause()
    lines = [r.getMessage() for r in caplog.records if r.name == "tui_trader.ui.actions"]
    assert any(
        line.startswith("desk (") and "saved settings to" in line and "trading.leverage" in line for line in lines
    ), lines
    assert any(line.startswith("desk (") and line.endswith("sent set_mode paper") for line in lines), lines


def test_the_log_tail_redacts_secrets_and_keeps_its_size():
    tail = logs.LogTail(size=3)
    logs.REDACT.add("s3cr3t-value")
    try:
        for i in range(5):
            tail.handle(logging.LogRecord("x", logging.INFO, __file__, 0, "key %s line %d", ("s3cr3t-value", i), None))
    finally:
        logs.REDACT.secrets.remove("s3cr3t-value")
    assert [line.text for line in tail.since(0)] == ["key *** line 2", "key *** line 3", "key *** line 4"]
    assert tail.since(4) == [tail.lines[-1]]


async def test_the_indicator_worker_says_how_far_each_symbol_has_warmed_up():
    import asyncio
    import math

    from tui_trader.bus import EmbeddedBus
    from tui_trader.clock import ReplayClock
    from tui_trader.runtime import Pipeline
    from tui_trader.settings import parse
    from tui_trader.workers import WorkerContext
    from tui_trader.workers.indicator import IndicatorWorker

    settings = parse({"indicators": {"bar": "tick"}})
    bus, clock, health = EmbeddedBus(), ReplayClock(canned.NOW), []
    ctx = WorkerContext(settings=settings, bus=bus, clock=clock, on_health=health.append)
    runtime = Pipeline(ctx, workers=[IndicatorWorker(ctx)])
    await runtime.start()
    try:
        market = bus.cluster.topic(m.MARKET_DATA)  # type: ignore[attr-defined]
        for _ in range(500):
            if market.subs:
                break
            await asyncio.sleep(0.01)
        for i in range(55):
            t = canned.NOW + i * 1000
            clock.advance_to(t)
            price = 60_000 + 50 * math.sin(i / 3)
            md = m.MarketData(symbol="BTCUSDT", kind="trade", price=price, volume=0.01, event_time=t, recv_time=t, ts=t)
            await bus.publish(m.MARKET_DATA, "BTCUSDT", m.encode(md))
            await bus.wait_idle()
    finally:
        await runtime.stop()
        await bus.close()
    warm = [h for h in health if h.component == f"{m.WARMUP_COMPONENT}BTCUSDT"]
    assert [h.counters["points"] for h in warm if h.state == "warming"] == list(range(1, 50))
    assert [h.state for h in warm][-1] == "ready" and len(warm) == 50  # then nothing more: off the hot path
    assert warm[11].counters == {"points": 12, "needed": 50}


async def test_indicators_pane_says_warming_up_with_the_points_so_far(desk, bus):
    app = desk()
    h = m.Health(
        component=f"{m.WARMUP_COMPONENT}BTCUSDT",
        state="warming",
        symbols=["BTCUSDT"],
        counters={"points": 12, "needed": 50},
        ts=canned.NOW,
    )
    async with app.run_test(size=SMALL) as pilot:
        await feed(pilot, bus, [[(m.HEALTH, h.component, h)]])
        await pilot.press("2")
        await app.refresh_desk()
        await pilot.pause()
        rules = app.main_screen.query_one("#indicators-rules").shown
        assert "BTCUSDT  warming up: 12/50 points (1m bars)" in rules  # the default bar
