"""Snapshots of the desk at 80×24 and 160×48 on the canned session with a fixed clock (deterministic; the
adaptive refresh is off, so how busy the machine is cannot show in the status bar).

Update after looking at the report: pytest tests/ui/test_snapshots.py --snapshot-update
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_trader import settings as settings_mod

from .helpers import LARGE, SMALL, feed


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


def test_small_halted(snap_compare, desk, bus):
    assert snap_compare(desk(), terminal_size=SMALL, run_before=fed(bus), press=["4", "ctrl+k"])


def test_small_settings(snap_compare, desk, bus):
    # A fixed path: the screen shows it (nothing is saved here).
    app = desk(settings_path=Path("settings.toml"))
    assert snap_compare(app, terminal_size=SMALL, run_before=fed(bus), press=["s"])


def test_small_live_dialog(snap_compare, desk, bus, monkeypatch):
    monkeypatch.setenv("TUI_TRADER_API_KEY", "key-0001")
    monkeypatch.setenv("TUI_TRADER_API_SECRET", "secret-0001")
    settings = settings_mod.replace_field(settings_mod.Settings(), "exchange", "demo", False)
    assert snap_compare(desk(settings), terminal_size=SMALL, run_before=fed(bus), press=["m"])


def test_large_desk(snap_compare, desk, bus):
    assert snap_compare(desk(), terminal_size=LARGE, run_before=fed(bus))


def test_large_halted_live(snap_compare, desk, bus, monkeypatch):
    monkeypatch.setenv("TUI_TRADER_API_KEY", "key-0001")
    monkeypatch.setenv("TUI_TRADER_API_SECRET", "secret-0001")
    assert snap_compare(desk(), terminal_size=LARGE, run_before=fed(bus),
                        press=["m", *"LIVE", "enter", "ctrl+k"])


def test_large_light_theme(snap_compare, desk, bus):
    settings = settings_mod.replace_field(settings_mod.Settings(), "ui", "theme", "desk-light")
    assert snap_compare(desk(settings), terminal_size=LARGE, run_before=fed(bus))
