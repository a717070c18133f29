"""Snapshots of the desk at 80×24 and 160×48 on the canned session with a fixed clock (deterministic; the
adaptive refresh is off, so how busy the machine is cannot show in the status bar).

Update after looking at the report: pytest tests/ui/test_snapshots.py --snapshot-update
"""

from __future__ import annotations

from pathlib import Path

import desk_canned as canned
import msgspec
import pytest
from desk_helpers import LARGE, SMALL, feed
from kit import until
from textual.widgets import Input

from tui_trader import messages as m
from tui_trader import settings as settings_mod
from tui_trader.ui.screens.settings import SettingsScreen


@pytest.fixture
def desk(desk):
    return lambda *a, **kw: desk(*a, adaptive_refresh=False, **kw)


def fed(bus):
    async def run_before(pilot) -> None:
        await feed(pilot, bus)

    return run_before


def test_small_market(snap_compare, desk, bus):
    assert snap_compare(desk(), terminal_size=SMALL, run_before=fed(bus))


def test_small_indicators(snap_compare, desk, bus):
    assert snap_compare(desk(), terminal_size=SMALL, run_before=fed(bus), press=["2"])


def test_small_positions(snap_compare, desk, bus):
    assert snap_compare(desk(), terminal_size=SMALL, run_before=fed(bus), press=["3"])


def test_small_orders(snap_compare, desk, bus):
    assert snap_compare(desk(), terminal_size=SMALL, run_before=fed(bus), press=["4"])


async def kill(pilot) -> None:
    """The kill key, then the router's answer drawn (the desk shows HALTED from the router's record)."""
    await pilot.press("f12")
    await until(lambda: pilot.app.state.halted, "the router's halted record")
    await pilot.app.refresh_desk()


def test_small_halted(snap_compare, desk, bus):
    async def run_before(pilot) -> None:
        await feed(pilot, bus)
        await pilot.press("4")
        await kill(pilot)

    assert snap_compare(desk(), terminal_size=SMALL, run_before=run_before)


def test_small_settings(snap_compare, desk, bus):
    # A fixed path: the screen shows it (nothing is saved here).
    app = desk(settings_path=Path("settings.toml"))

    async def run_before(pilot) -> None:
        await feed(pilot, bus)
        await pilot.press("s")
        await until(lambda: isinstance(pilot.app.screen, SettingsScreen), "the settings screen")
        # The focused field's cursor blinks on a timer: held on, so a slow machine cannot catch it off.
        for field in pilot.app.screen.query(Input):
            field.cursor_blink = False
        await pilot.pause()

    assert snap_compare(app, terminal_size=SMALL, run_before=run_before)


def test_small_live_dialog(snap_compare, desk, bus, monkeypatch):
    monkeypatch.setenv("TUI_TRADER_API_KEY", "key-0001")
    monkeypatch.setenv("TUI_TRADER_API_SECRET", "secret-0001")
    settings = settings_mod.replace_field(settings_mod.Settings(), "exchange", "demo", False)
    assert snap_compare(desk(settings), terminal_size=SMALL, run_before=fed(bus), press=["m"])


def test_large_desk(snap_compare, desk, bus):
    assert snap_compare(desk(), terminal_size=LARGE, run_before=fed(bus))


def test_small_switching_to_live(snap_compare, desk, bus, monkeypatch):
    # Asked, not answered: the badge says switching, never LIVE.
    monkeypatch.setenv("TUI_TRADER_API_KEY", "key-0001")
    monkeypatch.setenv("TUI_TRADER_API_SECRET", "secret-0001")
    assert snap_compare(desk(), terminal_size=SMALL, run_before=fed(bus), press=["3", "m", *"LIVE", "enter"])


def test_large_halted_live(snap_compare, desk, bus, monkeypatch):
    # Live as the executor reports it, ETHUSDT's stop no longer resting (marked, counted, the watchdog's
    # alarm up), the earlier paper book as a muted line, then the kill switch.
    monkeypatch.setenv("TUI_TRADER_API_KEY", "key-0001")
    monkeypatch.setenv("TUI_TRADER_API_SECRET", "secret-0001")

    async def run_before(pilot) -> None:
        await feed(pilot, bus)
        await pilot.press("m", *"LIVE", "enter")
        paper = canned.batches()[20][-1][2]
        btc, eth = paper.positions
        live = msgspec.structs.replace(
            paper,
            mode="live",
            exchange="binanceusdm",
            balance_total=4_870.5,
            positions=[btc, msgspec.structs.replace(eth, stop_loss_resting=False)],
        )
        await canned.publish(
            bus,
            [
                (m.HEALTH, m.MODE_COMPONENT, m.Health(component=m.MODE_COMPONENT, state="live", ts=canned.NOW)),
                (m.ACCOUNT, "live", live),
                (m.ACCOUNT, "paper", msgspec.structs.replace(paper, acting=False, positions=[])),
                (
                    m.HEALTH,
                    m.WATCHDOG_COMPONENT,
                    m.Health(
                        component=m.WATCHDOG_COMPONENT,
                        state="alarm",
                        symbols=["ETHUSDT"],
                        ts=canned.NOW,
                        detail="ETHUSDT short 0.5 without a resting stop-loss for 5.1 s: re-protecting",
                    ),
                ),
            ],
        )
        await pilot.app.refresh_desk()
        await kill(pilot)

    assert snap_compare(desk(), terminal_size=LARGE, run_before=run_before)


def test_large_light_theme(snap_compare, desk, bus):
    settings = settings_mod.replace_field(settings_mod.Settings(), "ui", "theme", "desk-light")
    assert snap_compare(desk(settings), terminal_size=LARGE, run_before=fed(bus))
