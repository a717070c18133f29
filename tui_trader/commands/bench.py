"""`tui-trader bench` (not built yet)."""

from __future__ import annotations

from tui_trader.commands import not_built


def run(args) -> int:
    return not_built("tui-trader bench", "replay a stream through the real pipeline and report messages/s, latency percentiles and peak RSS")
