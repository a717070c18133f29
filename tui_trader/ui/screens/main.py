"""The main screen: status bar, HALTED banner, the panes, and the footer with every key.

Layout follows the terminal: from 40 rows and 120 columns the panes stack (prices beside signal strength
from 140 columns); smaller terminals (80×24) show one group of panes at a time behind tabs (keys 1-4).
Narrow terminals also switch the wide tables to their transposed form (`View.narrow`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container
from textual.widgets import Tab, Tabs

from tui_trader.ui import keys
from tui_trader.ui.screens.timed import TimedScreen
from tui_trader.ui.widgets.footer import DeskFooter
from tui_trader.ui.widgets.indicators import IndicatorsPane
from tui_trader.ui.widgets.orders import OrdersPane
from tui_trader.ui.widgets.pane import Pane
from tui_trader.ui.widgets.positions import PositionsPane
from tui_trader.ui.widgets.prices import PricesPane
from tui_trader.ui.widgets.signals import SignalsPane
from tui_trader.ui.widgets.status import AlarmBanner, HaltBanner, StatusBar
from tui_trader.ui.widgets.view import View

if TYPE_CHECKING:
    from tui_trader.ui.app import DeskApp

GROUPS = (("market", "1 Market"), ("indicators", "2 Indicators"), ("positions", "3 Positions"), ("orders", "4 Orders"))
STACK_MIN_W, STACK_MIN_H = 120, 40
SIDE_BY_SIDE_MIN_W = 140
NARROW_BELOW_W = 120


class MainScreen(TimedScreen):
    # Nothing focused at start: a highlighted table row would look like a selection on a dashboard. In
    # the tabbed layout the tabs take focus (left/right switch them); tab moves into the tables.
    AUTO_FOCUS = None
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(keys.default("pause"), "app.pause", "Pause", id="pause"),
        Binding(keys.default("flatten"), "app.flatten", "Flatten", id="flatten"),
        # Not in the footer: at 80 columns it would push the kill key off it. The help lists it, and the
        # Positions pane names it at its foot while a position is open.
        Binding(keys.default("close_position"), "app.close_position", "Close pos", show=False, id="close_position"),
        Binding(keys.default("results"), "app.results", "Results", id="results"),
        Binding(keys.default("mode"), "app.toggle_mode", "Mode", id="mode"),
        Binding(keys.default("settings"), "app.open_settings", "Settings", id="settings"),
        Binding(keys.default("theme"), "app.next_theme", "Theme", id="theme"),
        Binding(keys.default("log"), "open_log", "Log", id="log"),
        Binding(keys.default("quit"), "app.quit_desk", "Quit", id="quit"),
        *(
            Binding(keys.default(f"tab_{key}"), f"show_group('{key}')", label, show=False, id=f"tab_{key}")
            for key, label in GROUPS
        ),
    ]

    def __init__(self) -> None:
        super().__init__(id="main")
        self.tabbed = True
        self.narrow = True

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield HaltBanner(id="halt")
        yield AlarmBanner(id="alarm")
        yield Tabs(*(Tab(label, id=f"tab-{key}") for key, label in GROUPS), id="tabs")
        with Container(id="panes"):
            with Container(id="group-market", classes="group -shown"):
                yield PricesPane(id="prices")
                yield SignalsPane(id="signals")
            with Container(id="group-indicators", classes="group"):
                yield IndicatorsPane(id="indicators")
            with Container(id="group-positions", classes="group"):
                yield PositionsPane(id="positions")
            with Container(id="group-orders", classes="group"):
                yield OrdersPane(id="orders")
        yield DeskFooter()

    def on_mount(self) -> None:
        self._apply_layout(self.app.size.width, self.app.size.height)
        if self.tabbed:
            self.query_one(Tabs).focus()

    def on_resize(self, event: events.Resize) -> None:
        self._apply_layout(event.size.width, event.size.height)

    @property
    def desk(self) -> DeskApp:
        """The app, as the desk it always is (app.py imports this module, so the type is named lazily)."""
        return cast("DeskApp", self.app)

    def _apply_layout(self, width: int, height: int) -> None:
        self.tabbed = width < STACK_MIN_W or height < STACK_MIN_H
        self.narrow = width < NARROW_BELOW_W
        self.set_class(self.tabbed, "-tabbed")
        self.set_class(not self.tabbed, "-stacked")
        self.set_class(width >= SIDE_BY_SIDE_MIN_W, "-side-by-side")
        self.set_class(self.narrow, "-narrow")
        self.app.call_later(self.desk.refresh_desk)

    def action_open_log(self) -> None:
        from tui_trader.ui.screens.log import LogScreen

        self.app.push_screen(LogScreen())

    # --- tabs -----------------------------------------------------------------------------------------

    def action_show_group(self, key: str) -> None:
        self.query_one(Tabs).active = f"tab-{key}"

    def on_tabs_tab_activated(self, event: Tabs.TabActivated) -> None:
        if event.tab is None or event.tab.id is None:
            return
        key = event.tab.id.removeprefix("tab-")
        for group in self.query(".group"):
            group.set_class(group.id == f"group-{key}", "-shown")
        focused = self.focused
        shown = focused is None or isinstance(focused, Tabs) or any(a.id == f"group-{key}" for a in focused.ancestors)
        if self.tabbed and not shown:
            self.query_one(Tabs).focus()  # the focused table went out of view with its group
        self.app.call_later(self.desk.refresh_desk)

    @property
    def active_group(self) -> str:
        active = self.query_one(Tabs).active or "tab-market"
        return active.removeprefix("tab-")

    # --- drawing --------------------------------------------------------------------------------------

    def render_view(self, view: View, replay: str = "") -> None:
        self.query_one(StatusBar).show(view, replay)
        self.query_one(HaltBanner).show(view)
        self.query_one(AlarmBanner).show(view)
        shown = self.active_group
        for pane in self.query(Pane):
            group = pane.parent
            # Hidden panes are skipped (the state keeps folding; they catch up when shown).
            if self.tabbed and group is not None and group.id != f"group-{shown}":
                continue
            pane.show(view)
