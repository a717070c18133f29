"""Starting the desk: no error toast at launch, however slowly the rest of the process starts."""

from __future__ import annotations

import time

from desk_helpers import LARGE, SMALL, ready
from kit import until

from tui_trader.bus import EmbeddedBus, EmbeddedCluster
from tui_trader.ui.screens.main import MainScreen
from tui_trader.ui.widgets.status import StatusBar

STARTS = 20
# What a desk running its own pipeline goes through at launch: the first imports of the pipeline (TA-Lib,
# ccxt) hold the event loop for a moment, so UI clock ticks fall due while the main screen is still mounting.
BLOCK_S = 0.15


class SlowStartBus(EmbeddedBus):
    async def create_topics(self, names, partitions: int = 1) -> None:  # type: ignore[no-untyped-def]
        deadline = time.perf_counter() + BLOCK_S
        while time.perf_counter() < deadline:  # busy, like an import: the loop cannot run meanwhile
            pass
        await super().create_topics(names, partitions=partitions)


def errors(app) -> list[str]:
    return [f"{n.title}: {n.message}" for n in app._notifications if n.severity == "error"]


async def test_many_starts_show_no_error_notification(desk, clock, tmp_path):
    from tui_trader.settings import Settings
    from tui_trader.ui.app import DeskApp

    for n in range(STARTS):
        app = DeskApp(
            Settings(), bus=SlowStartBus(EmbeddedCluster()), clock=clock, settings_path=tmp_path / "settings.toml"
        )
        async with app.run_test(size=SMALL if n % 2 else LARGE) as pilot:
            await ready(pilot)
            main = app.main_screen
            assert isinstance(main, MainScreen)
            bar = main.query_one(StatusBar)
            await until(lambda: "PAPER" in bar.shown, "the status bar to be drawn")  # noqa: B023 - awaited here
            await app.refresh_desk()
            assert errors(app) == [], f"start {n + 1}: {errors(app)}"
