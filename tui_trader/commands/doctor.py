"""`tui-trader doctor`: one line per check (ok / warn / FAIL / info) with the reason; exit 1 on a failure.

The checks themselves live in `tui_trader.doctor`; this module only loads the settings, runs them within
the timeout (`--timeout`) and prints.
"""

from __future__ import annotations

import argparse
import asyncio

from tui_trader import logs
from tui_trader.commands import apply_overrides
from tui_trader.doctor.report import Check, exit_code, line
from tui_trader.doctor.runner import DEFAULT_TIMEOUT_S, run_checks, settings_check
from tui_trader.errors import TuiTraderError


def run(args: argparse.Namespace) -> int:
    settings, first = settings_check(getattr(args, "config", None))
    overrides = getattr(args, "overrides", None) or []
    if settings is not None and overrides:
        try:  # checks what this run would use: the file with its `--set` overrides
            settings = apply_overrides(settings, overrides)
        except TuiTraderError as err:
            settings, first = None, Check(name="settings", status="fail", detail=err.message)
        else:
            first = Check(name="settings", status=first.status, detail=f"{first.detail} with {len(overrides)} --set")
    print(line(first), flush=True)
    if settings is None:
        return 1
    logs.setup(to_stderr=False)  # the feed client's reconnect warnings go to the log, not over the report
    timeout = getattr(args, "timeout", None) or DEFAULT_TIMEOUT_S
    checks = asyncio.run(run_checks(settings, timeout=timeout))
    for check in checks:
        print(line(check))
    return exit_code([first, *checks])
