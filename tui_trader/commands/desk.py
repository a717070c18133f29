"""`tui-trader` with no command: the desk (Textual app) running every worker in-process.

`--replay FILE --speed X` runs the desk on a recording instead of the live feed: the way to demo and test
it offline. A recording that cannot be opened is refused before the screen opens, in one line.
"""

from __future__ import annotations

from tui_trader import logs
from tui_trader.commands import load_settings
from tui_trader.feeds.replay import check_readable


def run(args) -> int:
    settings, path = load_settings(args)
    if args.replay:
        check_readable(args.replay)
    logs.setup()
    from tui_trader.ui.app import run_desk

    return run_desk(settings, settings_path=path, replay_files=args.replay, speed=args.speed)
