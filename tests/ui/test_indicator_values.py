"""The Indicators pane shows each symbol's live values and the rules that fire, with no signal at all; the
warm-up text stays for a symbol until its values come, and a newer signal shows its own."""

from __future__ import annotations

import desk_canned as canned
from desk_helpers import SMALL, feed

from tui_trader import messages as m
from tui_trader.ui.widgets.indicators import IndicatorsPane

IND = m.Indicators(
    rsi=63.25,
    macd=12.5,
    macd_signal=10.0,
    macd_hist=2.5,
    bb_upper=60_400.0,
    bb_middle=60_000.0,
    bb_lower=59_600.0,
    sma_fast=60_050.0,
    sma_slow=59_900.0,
    ema_fast=60_020.0,
    ema_slow=59_980.0,
)


def values(
    ts: int, rsi: float = 63.25, reasons: tuple[str, ...] = ("rsi>60:+1", "macd>signal:+1")
) -> m.IndicatorValues:
    return m.IndicatorValues(
        symbol="BTCUSDT",
        indicators=m.msgspec.structs.replace(IND, rsi=rsi),  # type: ignore[attr-defined]
        price=60_100.0,
        buy_score=1,
        sell_score=1,
        reasons=list(reasons),
        points=57,
        ts=ts,
    )


def warming(symbol: str) -> m.Health:
    return m.Health(
        component=f"{m.WARMUP_COMPONENT}{symbol}",
        state="warming",
        symbols=[symbol],
        counters={"points": 12, "needed": 50},
        ts=canned.NOW,
    )


async def shown(pilot) -> tuple[str, str, str]:
    """(BTCUSDT's RSI cell, the rules lines, the pane's title) as drawn."""
    await pilot.app.refresh_desk()
    await pilot.pause()
    screen = pilot.app.main_screen
    table = screen.query_one("#indicators-narrow")  # 80 columns: one column per symbol
    pane = screen.query_one(IndicatorsPane)
    return table.cell_text("rsi", "BTCUSDT"), screen.query_one("#indicators-rules").shown, str(pane.border_title)


async def test_pane_shows_live_values_and_the_rules_that_fire_without_any_signal(desk, bus):
    app = desk()
    async with app.run_test(size=SMALL) as pilot:
        await feed(pilot, bus, [[(m.HEALTH, h.component, h) for h in (warming("BTCUSDT"), warming("ETHUSDT"))]])
        await pilot.press("2")
        rsi, rules, _ = await shown(pilot)
        assert "BTCUSDT  warming up: 12/50 points" in rules and "63.2" not in rsi
        await feed(pilot, bus, [[(m.INDICATOR_VALUES, "BTCUSDT", values(canned.NOW))]])
        rsi, rules, title = await shown(pilot)
        assert rsi.strip() == "63.2"  # RSI to one decimal
        assert "BTCUSDT  rsi>60:+1 macd>signal:+1" in rules
        assert "ETHUSDT  warming up: 12/50 points" in rules  # no values for it yet: still warming
        assert "live" in title and app.state.signals == {}
        # Values keep moving with no signal; a rule that stops firing leaves the line
        await feed(pilot, bus, [[(m.INDICATOR_VALUES, "BTCUSDT", values(canned.NOW + 250, 55.0, ("macd>signal:+1",)))]])
        rsi, rules, _ = await shown(pilot)
        assert rsi.strip() == "55.0" and "BTCUSDT  macd>signal:+1" in rules and "rsi>60" not in rules


async def test_the_newer_of_a_signal_and_the_live_values_is_shown(desk, bus):
    sig = m.TradingSignal(
        id="s1",
        symbol="BTCUSDT",
        signal="Sell",
        strength=0.75,
        buy_score=1,
        sell_score=3,
        reasons=["rsi>70:+2", "macd<signal:+1", "macd>signal:+1"],
        indicators=m.msgspec.structs.replace(IND, rsi=71.5),  # type: ignore[attr-defined]
        price=60_100.0,
        ts=canned.NOW + 1_000,
    )
    app = desk()
    async with app.run_test(size=SMALL) as pilot:
        await feed(pilot, bus, [[(m.INDICATOR_VALUES, "BTCUSDT", values(canned.NOW))]])
        await pilot.press("2")
        await feed(pilot, bus, [[(m.SIGNALS, "BTCUSDT", sig)]])
        rsi, _, _ = await shown(pilot)
        assert rsi.strip() == "71.5"  # the signal came after the values
        await feed(pilot, bus, [[(m.INDICATOR_VALUES, "BTCUSDT", values(canned.NOW + 1_250, 69.0))]])
        rsi, _, _ = await shown(pilot)
        assert rsi.strip() == "69.0"
