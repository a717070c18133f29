"""`tui-trader worker` (not built yet)."""

from __future__ import annotations

from tui_trader.commands import not_built


def run(args) -> int:
    return not_built("tui-trader worker", "run one pipeline worker in this process on the Fluvio bus, committing consumer offsets")
