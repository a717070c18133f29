"""Help: every key of the desk with what it does, read from the bindings themselves (so it cannot drift)."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui_trader.ui import keys

EXPLAIN = {
    "pause": "pause or resume new entries (open positions stay protected)",
    "flatten": "close every open position at market (asks first)",
    "close_position": "close the selected position at market (asks first; up/down in Positions selects)",
    "results": "results: trades, totals, equity curve, price charts with entries and exits",
    "mode": "switch paper/live; live asks you to type LIVE and needs API keys",
    "kill": "KILL SWITCH, from anywhere (even while typing), no question: pause, cancel, flatten, halt",
    "rearm": "re-arm after the kill switch (asks first)",
    "settings": "edit settings.toml; live values apply at once",
    "theme": "next theme",
    "log": "health (why a feed or worker is down, next try, bad frames) and the log; v filters by level",
    "help": "this help",
    "quit": "quit (asks first when positions are open)",
}


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding(keys.default("help_close"), "close", "Close", id="help_close")]

    def __init__(self, bindings: list[tuple[str, Binding]]) -> None:
        super().__init__(classes="dialog-screen")
        self.key_bindings = bindings

    def compose(self) -> ComposeResult:
        # A grid, not one block of text: a long explanation wraps inside its own column instead of back to
        # column 0 under the keys.
        grid = Table.grid(padding=(0, 1))
        grid.add_column(justify="right", no_wrap=True, style="bold")
        grid.add_column(no_wrap=True, style="bold")
        grid.add_column(ratio=1)
        for key, b in self.key_bindings:
            grid.add_row(key, b.description, EXPLAIN.get(b.id or "", ""))
        grid.add_row("", "", "")
        grid.add_row("1-4", "Panes", "show a group of panes (small terminals)")
        grid.add_row("tab", "Move", "move between the tables; the arrows scroll them")
        with Vertical(classes="dialog", id="help-dialog"):
            yield Static("Keys", classes="dialog-title")
            with VerticalScroll():
                yield Static(grid, id="help-keys")
            yield Static("escape closes", classes="dialog-hint")

    def action_close(self) -> None:
        self.dismiss(None)
