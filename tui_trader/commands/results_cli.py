"""The options of `backtest`, `trades` and `report` (argparse only: nothing heavy is imported to parse them)."""

from __future__ import annotations

import argparse
from typing import Any


def add_parsers(sub: argparse._SubParsersAction[Any], common: argparse.ArgumentParser) -> None:
    b = sub.add_parser(
        "backtest",
        parents=[common],
        help="run the strategy over history and print the results report",
        description="Run the desk's own indicator, router and paper broker (same settings, sizing, risk limits "
        "and fees) over OHLCV klines or recordings, and print the report. Besides settings, --set also takes "
        "instrument.tick, instrument.step, instrument.min_qty, instrument.min_notional, backtest.entry "
        "(close|next_open) and backtest.funding_rate_8h.",
    )
    b.add_argument(
        "--data",
        action="append",
        required=True,
        metavar="[SYMBOL=]FILE[,…]",
        help="kline JSON ([[open_ms,o,h,l,c,v],…], gzip ok), Binance kline CSV (zip ok) or a recording; "
        "the symbol comes from the file name when not given (repeatable)",
    )
    b.add_argument("--bar", metavar="BAR", help="bar size (1m, 5m, 1h…) overriding indicators.bar")
    _period(b, ("--start", "--since"), ("--end", "--until"))
    b.add_argument("--json", action="store_true", help="print the report as JSON")
    b.add_argument("--export", metavar="DIR", help="write trades.csv, equity.csv and report.json into DIR")
    b.add_argument(
        "--entry",
        choices=["close", "next-open"],
        default="close",
        help="fill a signal's orders at the signal bar's close (default) or the next bar's open",
    )
    b.add_argument(
        "--funding-rate",
        type=float,
        default=0.0,
        metavar="RATE",
        help="flat funding rate per 8 h (e.g. 0.0001); default 0 = off",
    )
    for name, what in (
        ("tick", "price tick"),
        ("step", "quantity step"),
        ("min-qty", "minimum quantity"),
        ("min-notional", "minimum notional (USDT)"),
    ):
        b.add_argument(f"--{name}", type=float, metavar="X", help=f"instrument {what} for every symbol of the run")
    b.add_argument("--offline", action="store_true", help="never ask the exchange for instrument rules")
    # `--set` is every command's (cli.py); the backtest also takes its own keys there (commands/backtest.py).

    t = sub.add_parser(
        "trades",
        parents=[common],
        help="the journal's round trips (entry and exit paired)",
        description="Pair the journal's entry and exit fills into round trips with PnL, fees and "
        "why each ended; paper and live apart.",
    )
    _period(t)
    t.add_argument("--csv", action="store_true", help="print CSV instead of a table")
    t.add_argument("--mode", choices=["paper", "live"], help="only this account")

    r = sub.add_parser(
        "report",
        parents=[common],
        help="the results report for a journal period",
        description="The backtest's report over the journal's round trips of a period.",
    )
    _period(r)
    r.add_argument("--json", action="store_true", help="print the report as JSON")
    r.add_argument("--mode", choices=["paper", "live"], default="paper", help="which account (default paper)")


def _period(
    p: argparse.ArgumentParser,
    start: tuple[str, ...] = ("--since", "--start"),
    end: tuple[str, ...] = ("--until", "--end"),
) -> None:
    p.add_argument(*start, dest="start", metavar="DATE", help="from this UTC date or date-time")
    p.add_argument(*end, dest="end", metavar="DATE", help="up to this UTC date or date-time (exclusive)")
