"""The desk counts Textual's layout and compositing as drawing time (screens/timed.py overrides two private
Screen methods for it): if a Textual upgrade renamed them, the throttle would stop seeing most of what
drawing costs, and this fails."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Static

from tui_trader.ui.screens.timed import TimedScreen


class Shown(TimedScreen):
    def compose(self) -> ComposeResult:
        yield Static("first", id="text")


class Probe(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.draw_time = 0.0
        self.calls = 0

    def add_draw_time(self, seconds: float) -> None:
        self.draw_time += seconds
        self.calls += 1

    def on_mount(self) -> None:
        self.push_screen(Shown())


async def test_layout_and_compositing_of_a_timed_screen_are_counted():
    app = Probe()
    async with app.run_test(size=(40, 10)) as pilot:
        await pilot.pause()
        assert app.calls > 0, "the first layout and compositing were not counted"
        calls, spent = app.calls, app.draw_time
        app.screen.query_one("#text", Static).update("second, longer\nand taller")
        await pilot.pause()
        assert app.calls > calls and app.draw_time > spent, "a redraw was not counted"
