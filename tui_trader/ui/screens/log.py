"""Health and log: why a feed or worker is down and when it tries again, the collector's bad-frame counts,
and the desk's log tailed from memory with a level filter (the file under the XDG state dir has it all).

Drawn on the desk's clock like the main screen (`render_view`); the log pane only appends what is new since
the last tick, and is rewritten when the level filter changes.
"""

from __future__ import annotations

import logging
import time
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import DataTable, Footer, RichLog

from tui_trader import logs
from tui_trader.ui import keys
from tui_trader.ui.screens.timed import TimedScreen
from tui_trader.ui.widgets.status import StatusBar, short_reason
from tui_trader.ui.widgets.view import View

LEVELS = (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR)
LEVEL_STYLE = {
    logging.DEBUG: "dim",
    logging.INFO: "",
    logging.WARNING: "bold yellow",
    logging.ERROR: "bold red",
    logging.CRITICAL: "bold red",
}
STATE_STYLE = {
    "down": "bold red",
    "failed": "bold red",
    "restarting": "bold red",
    "stale": "bold yellow",
    "bad_frames": "yellow",
    "alarm": "bold red",
}
SHOWN_LINES = 1000
COUNTERS_ROOM = 28  # a component's counters can be many (the collector's by reason); the reason matters more


def health_rows(view: View, room: int = 200) -> list[tuple[str, Text, str, str]]:
    """(component, state, reason with its retry counted down, counters), feeds and workers first; the
    reason is cut to `room` characters, keeping the retry (the log pane below has the whole line)."""
    rows = []
    order = {"feed": 0, "worker": 1}
    for h in sorted(view.state.health.values(), key=lambda h: (order.get(h.component.split(":")[0], 2), h.component)):
        counters = " ".join(f"{k} {v}" for k, v in sorted(h.counters.items()) if v) if h.counters else ""
        if len(counters) > COUNTERS_ROOM:
            counters = counters[: COUNTERS_ROOM - 1] + "…"
        rows.append(
            (
                h.component,
                Text(h.state, style=STATE_STYLE.get(h.state, "")),
                short_reason(h, view.now_ms, room),
                counters,
            )
        )
    return rows


def log_line(line: logs.Line) -> Text:
    out = Text(no_wrap=False)
    out.append(time.strftime("%H:%M:%S ", time.gmtime(line.created)), style="dim")
    out.append(f"{logging.getLevelName(line.level)[:4]:<5}", style=LEVEL_STYLE.get(line.level, ""))
    out.append(f"{line.name.removeprefix('tui_trader.')}: ", style="dim")
    out.append(line.text)
    return out


class LogScreen(TimedScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(keys.default("log_level"), "next_level", "Level", id="log_level"),
        Binding(keys.default("log_close"), "close", "Close", id="log_close"),
    ]

    def __init__(self, tail: logs.LogTail | None = None, level: int = logging.INFO) -> None:
        super().__init__(id="log-screen")
        self.tail = tail if tail is not None else logs.TAIL
        self.level = level
        self._seq = 0
        self._wrote = False  # a line is on the pane
        self._placeholder = False  # the "nothing logged" line is on the pane

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with Vertical(id="health-pane", classes="pane"):
            yield DataTable(id="health-table", cursor_type="row", zebra_stripes=False)
        with Vertical(id="log-pane", classes="pane"):
            yield RichLog(id="log-lines", max_lines=SHOWN_LINES, wrap=True, markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("Component", "State", "Reason / next try", "Counters")
        self.query_one("#health-pane").border_title = "Health"
        self._rewrite()

    def _title(self) -> str:
        return f"Log · {logging.getLevelName(self.level).lower()} and above"

    def _rewrite(self) -> None:
        self.query_one("#log-pane").border_title = self._title()
        out = self.query_one(RichLog)
        out.clear()
        self._seq = 0
        self._wrote = self._placeholder = False
        self._append()

    def _append(self) -> None:
        lines = self.tail.since(self._seq, self.level)
        if self.tail.seq:
            self._seq = self.tail.seq
        out = self.query_one(RichLog)
        if not lines and not self._wrote:
            if not self._placeholder:
                out.write(
                    Text(
                        f"nothing logged at {logging.getLevelName(self.level).lower()} or above since the desk started",
                        style="dim",
                    )
                )
                self._placeholder = True
            return
        if self._placeholder:
            out.clear()
            self._placeholder = False
        self._wrote = self._wrote or bool(lines)
        for line in lines[-SHOWN_LINES:]:
            out.write(log_line(line))

    def render_view(self, view: View, replay: str = "") -> None:
        self.query_one(StatusBar).show(view, replay)
        table = self.query_one(DataTable)
        rows = health_rows(view)
        widest = (
            max([0, *(len(r[0]) for r in rows)])
            + max([0, *(r[1].cell_len for r in rows)])
            + max([0, *(len(r[3]) for r in rows)])
        )
        rows = health_rows(view, max(20, self.size.width - widest - 12))
        table.clear()
        for component, state, reason, counters in rows:
            table.add_row(component, state, reason, counters, key=component)
        if not rows:
            table.add_row("–", Text("no health record yet", style="dim"), "", "")
        self._append()

    def action_next_level(self) -> None:
        self.level = LEVELS[(LEVELS.index(self.level) + 1) % len(LEVELS)] if self.level in LEVELS else logging.INFO
        logging.getLogger(__name__).info("log pane shows %s and above", logging.getLevelName(self.level).lower())
        self._rewrite()

    def action_close(self) -> None:
        self.dismiss(None)
