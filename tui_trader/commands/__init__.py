"""One module per CLI subcommand; each exposes `run(args) -> int` (the exit code)."""

from __future__ import annotations

from tui_trader import settings as settings_mod
from tui_trader.errors import BusError
from tui_trader.settings import Settings


def load_settings(args) -> tuple[Settings, object]:
    return settings_mod.load(getattr(args, "config", None))


def require_shared_bus(settings: Settings, what: str, instead: str) -> None:
    """Commands that spread the desk over processes need Fluvio: say so in one line otherwise."""
    if settings.bus.backend != "fluvio":
        raise BusError(
            f'{what} needs a shared bus: set bus.backend = "fluvio" (the embedded bus lives inside one '
            f"process; run {instead} instead)"
        )
