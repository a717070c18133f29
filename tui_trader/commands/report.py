"""`tui-trader report`: the backtest's results report over the journal's round trips of a period."""

from __future__ import annotations

import argparse
import sys

from tui_trader.commands import load_settings
from tui_trader.commands.backtest import parse_time
from tui_trader.results import history
from tui_trader.results.export import report_json
from tui_trader.results.render import render_report


def run(args: argparse.Namespace) -> int:
    settings, _ = load_settings(args)
    statuses, funding = history.read_journal(settings)
    book = history.trips_of(statuses, args.mode, funding)
    report, _ = history.period_report(
        book, settings.paper.starting_balance, parse_time(args.start), parse_time(args.end), args.mode
    )
    if args.json:
        sys.stdout.write(report_json(report).decode() + "\n")
    elif report.trades == 0:
        sys.stdout.write(f"no closed {args.mode} trades in the journal for this period\n")
    else:
        sys.stdout.write(render_report(report))
    return 0
