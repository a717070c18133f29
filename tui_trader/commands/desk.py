"""`tui-trader` with no command: the desk (Textual app) running every worker in-process.

`--replay FILE --speed X` runs the desk on a recording instead of the live feed: the way to demo and test
it offline. A recording that cannot be opened is refused before the screen opens, in one line.
"""

from __future__ import annotations

import argparse

from tui_trader import logs
from tui_trader import settings as settings_mod
from tui_trader.commands import apply_overrides
from tui_trader.feeds.replay import check_readable


def run(args: argparse.Namespace) -> int:
    saved, path = settings_mod.load(getattr(args, "config", None))
    # `--set` is for this run: the settings screen edits and saves the file's values, not the overrides.
    settings = apply_overrides(saved, getattr(args, "overrides", None) or [])
    if args.replay:
        check_readable(args.replay)
    logs.setup()
    from tui_trader.ui.app import run_desk

    return run_desk(settings, settings_path=path, replay_files=args.replay, speed=args.speed, saved_settings=saved)
