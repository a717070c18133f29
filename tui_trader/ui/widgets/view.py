"""The `View`: everything a pane may show, built by the app once per UI tick and handed down.

Panes never read the bus or the clock (attributes down): what they show is in the View.
"""

from __future__ import annotations

from dataclasses import dataclass

from tui_trader.settings import Settings
from tui_trader.ui.state import DeskModel
from tui_trader.ui.widgets.colours import Colours


@dataclass(frozen=True)
class View:
    """Everything a pane may show, as of one UI tick."""

    state: DeskModel
    settings: Settings
    now_ms: int
    colours: Colours
    lag: dict[str, int]
    backend: str
    narrow: bool
    throttled_hz: float | None = None  # the desk redraws less often to leave the CPU to the pipeline
    rearm_key: str = "ctrl+r"  # as the trader has it bound (the HALTED banner names it)
