"""One module per CLI subcommand; each exposes `run(args) -> int` (the exit code)."""

from __future__ import annotations

import sys

from tui_trader import settings as settings_mod
from tui_trader.settings import Settings

NOT_BUILT_EXIT = 2


def load_settings(args) -> tuple[Settings, object]:
    return settings_mod.load(getattr(args, "config", None))


def not_built(what: str, will: str) -> int:
    print(f"{what} is not available yet: it will {will}.", file=sys.stderr)
    return NOT_BUILT_EXIT
