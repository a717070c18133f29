"""`tui-trader ui --attach`: the desk only, showing a Fluvio bus where the workers run elsewhere.

It runs no worker: panes fill from the topics, and the keys (pause, flatten, kill, re-arm, paper/live) go out
as Control records that the remote router and executor act on, even after this desk has gone.
"""

from __future__ import annotations

import argparse
import asyncio

from tui_trader import logs, paths
from tui_trader import settings as settings_mod
from tui_trader.bus import open_bus
from tui_trader.commands import apply_overrides, require_shared_bus


def run(args: argparse.Namespace) -> int:
    saved, path = settings_mod.load(getattr(args, "config", None))
    # `--set` is for this run: the settings screen edits and saves the file's values, not the overrides.
    settings = apply_overrides(saved, getattr(args, "overrides", None) or [])
    require_shared_bus(settings, "attaching the desk", "`tui-trader`")
    logs.setup(paths.state_dir() / "desk-attached.log")
    bus = asyncio.run(open_bus(settings.bus))  # fails with one line when the cluster cannot be reached
    from tui_trader.ui.app import DeskApp

    app = DeskApp(settings, settings_path=path, bus=bus, saved_settings=saved)
    app.run()
    return app.return_code or 0
