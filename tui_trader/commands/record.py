"""`tui-trader record` (not built yet)."""

from __future__ import annotations

from tui_trader.commands import not_built


def run(args) -> int:
    return not_built("tui-trader record", "write the live Binance feed to a recording file that replays as it was")
