"""The desk (placeholder): runs the pipeline and shows each worker's state until the panes exist."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from textual.app import App, ComposeResult
from textual.widgets import DataTable, Footer, Header

from tui_trader.session import pipeline
from tui_trader.settings import Settings


class DeskApp(App[int]):
    TITLE = "tui-trader"
    BINDINGS = [("q", "quit", "Quit")]

    def __init__(self, settings: Settings, replay_files: Sequence[str] = (), speed: float | None = 1.0) -> None:
        super().__init__()
        self.settings = settings
        self.replay_files = list(replay_files)
        self.speed = speed
        self.runtime = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="workers")
        yield Footer()

    async def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("worker", key="worker")
        table.add_column("state", key="state")
        table.add_column("restarts", key="restarts")
        self.run_worker(self._pipeline(), exclusive=True, group="pipeline")
        self.set_interval(1 / self.settings.ui.refresh_hz, self._refresh)

    async def _pipeline(self) -> None:
        async with pipeline(self.settings, replay_files=self.replay_files, speed=self.speed) as runtime:
            self.runtime = runtime
            await self._forever()

    @staticmethod
    async def _forever() -> None:
        import asyncio

        await asyncio.Event().wait()

    def _refresh(self) -> None:
        if self.runtime is None:
            return
        table = self.query_one(DataTable)
        for name, st in self.runtime.states.items():
            if name not in table.rows:
                table.add_row(name, st.state, str(st.restarts), key=name)
            else:
                table.update_cell(name, "state", st.state)
                table.update_cell(name, "restarts", str(st.restarts))


def run_desk(
    settings: Settings, settings_path: Path | None = None, replay_files: Sequence[str] = (), speed: float | None = 1.0
) -> int:
    DeskApp(settings, replay_files, speed).run()
    return 0
