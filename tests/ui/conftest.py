"""Desk test fixtures: a bus with no workers, a fixed clock, and a desk factory (desk_helpers.py has the bus
readers and start-up waits, desk_canned.py the canned session)."""

from __future__ import annotations

import os

# Before Textual is imported: no animations, so a test never waits on a transition.
os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")

from collections.abc import Callable

import desk_canned as canned
import pytest

from tui_trader.bus import EmbeddedBus, EmbeddedCluster
from tui_trader.clock import FixedClock
from tui_trader.settings import Settings
from tui_trader.ui.app import DeskApp


@pytest.fixture
def bus() -> EmbeddedBus:
    return EmbeddedBus(EmbeddedCluster())


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(canned.NOW)


@pytest.fixture
def desk(bus, clock, tmp_path) -> Callable[..., DeskApp]:
    """A desk showing `bus` (no workers run), saving its settings under tmp_path."""

    def make(settings: Settings | None = None, **kw) -> DeskApp:
        kw.setdefault("settings_path", tmp_path / "settings.toml")
        return DeskApp(settings or Settings(), bus=bus, clock=clock, **kw)

    return make
