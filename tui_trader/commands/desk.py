"""`tui-trader` with no command: the desk (Textual app) running every worker in-process."""

from __future__ import annotations

from tui_trader import logs
from tui_trader.commands import load_settings


def run(args) -> int:
    settings, path = load_settings(args)
    logs.setup()
    from tui_trader.ui.app import run_desk

    return run_desk(settings, settings_path=path, replay_files=args.replay, speed=args.speed)
