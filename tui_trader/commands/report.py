"""`tui-trader report`: the backtest's results report over the journal's round trips of a period."""

from __future__ import annotations

import sys

from tui_trader.commands import load_settings
from tui_trader.commands.backtest import parse_time
from tui_trader.results import history
from tui_trader.results.export import report_json
from tui_trader.results.render import render_report


def run(args) -> int:
    settings, _ = load_settings(args)
    book = history.trips_of(history.read_statuses(settings), args.mode)
    report, _ = history.period_report(book, settings.paper.starting_balance, parse_time(args.start),
                                          parse_time(args.end), args.mode)
    sys.stdout.write(report_json(report).decode() + "\n" if args.json else render_report(report))
    return 0
