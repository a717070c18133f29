"""`tui-trader ui` (not built yet)."""

from __future__ import annotations

from tui_trader.commands import not_built


def run(args) -> int:
    return not_built("tui-trader ui", "show the desk from the bus topics of workers running elsewhere, sending keys as Control records")
