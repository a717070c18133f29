"""`tui-trader backtest`: the live indicator, router and paper broker over history, and the results report.

Inputs, fills and the report are described in `tui_trader.backtest` (loaders, engine) and
`tui_trader.results.report`. This module parses the options, loads and checks the data, runs, prints.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path
from typing import TextIO

from tui_trader import settings as settings_mod
from tui_trader.backtest import loaders
from tui_trader.backtest.engine import Backtest, Options
from tui_trader.backtest.loaders import Bars, DataError
from tui_trader.backtest.rules import Overrides, resolve
from tui_trader.backtest.summary import report_of
from tui_trader.commands import load_settings
from tui_trader.errors import SettingsError
from tui_trader.results import export as ex
from tui_trader.results.render import render_report
from tui_trader.settings import bar_seconds

# `--set` keys of the backtest itself (not in settings.toml): instrument rules and the fill options.
RUN_KEYS = {
    "instrument.tick": "tick",
    "instrument.step": "step",
    "instrument.min_qty": "min_qty",
    "instrument.min_notional": "min_notional",
    "backtest.entry": "entry",
    "backtest.funding_rate_8h": "funding_rate",
}


def run_overrides(args: argparse.Namespace) -> list[str]:
    """Move `--set` items for the backtest's own keys onto the matching options; the others stay in
    `args.overrides` for the settings (`load_settings`, like every command) and are returned."""
    rest = []
    for item in getattr(args, "overrides", []):
        key, sep, raw = item.partition("=")
        dest = RUN_KEYS.get(key.strip())
        if dest is None or not sep:
            rest.append(item)
            continue
        raw = raw.strip().strip('"')
        if dest == "entry":
            if raw.replace("_", "-") not in ("close", "next-open"):
                raise SettingsError(f"--set {item!r}: backtest.entry is \"close\" or \"next_open\"")
            args.entry = raw.replace("_", "-")
            continue
        try:
            setattr(args, dest, float(raw))
        except ValueError:
            raise SettingsError(f"--set {item!r}: {key.strip()} takes a number") from None
    args.overrides = rest
    return rest


def parse_time(text: str | None) -> int | None:
    if not text:
        return None
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise DataError(f"not a date or date-time: {text!r} (e.g. 2021-05-01 or 2021-05-01T12:00)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp() * 1000)


def data_specs(values: list[str]) -> list[tuple[str | None, str]]:
    specs: list[tuple[str | None, str]] = []
    for value in values:
        for part in filter(None, (p.strip() for p in value.split(","))):
            sym, sep, path = part.partition("=")
            specs.append((sym.upper(), path) if sep else (None, part))
    return specs


def load_data(specs: list[tuple[str | None, str]], bar_ms: int) -> dict[str, Bars]:
    out: dict[str, Bars] = {}
    for symbol, path in specs:
        if not Path(path).is_file():
            raise DataError(f"no such file: {path}")
        for bars in loaders.load(path, symbol, bar_ms):
            if bars.symbol in out:
                raise DataError(f"{bars.symbol} is given twice ({out[bars.symbol].source} and {path})")
            out[bars.symbol] = bars
    return out


class Progress:
    """A one-line progress bar with bars/s and ETA, on stderr when it is a terminal (nothing otherwise)."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream
        self.started = time.perf_counter()
        self.drawn = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        if done == 0 or (done < total and now - self.drawn < 0.1):
            return  # nothing to estimate from yet / at most ten redraws a second
        self.drawn = now
        rate = done / max(now - self.started, 1e-9)
        eta = (total - done) / rate if rate > 0 else 0.0
        width = 30
        filled = int(width * done / max(total, 1))
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,} bars  {rate:,.0f} bars/s  ETA {eta:4.1f} s "
        )
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


def run(args: argparse.Namespace) -> int:
    run_overrides(args)
    settings, _ = load_settings(args)
    if args.bar:
        settings = settings_mod.replace_field(settings, "indicators", "bar", args.bar)
    bar_ms = bar_seconds(settings.indicators.bar) * 1000
    data = load_data(data_specs(args.data), bar_ms)
    for bars in data.values():
        found = loaders.bar_size_ms(bars)
        if found != bar_ms:
            raise DataError(
                f"{bars.source}: the data's bars are {loaders.bar_text(found)} but indicators.bar is "
                f"{settings.indicators.bar!r}; give --bar {loaders.bar_text(found)} to backtest on these bars"
            )
    gaps = [g for b in data.values() for g in loaders.gaps(b, bar_ms)]
    start, end = parse_time(args.start), parse_time(args.end)
    if start is not None or end is not None:
        data = {s: b.slice(start, end) for s, b in data.items()}
        gaps = [g for g in gaps if (start is None or g.next_ms > start) and (end is None or g.after_ms < end)]
    empty = [s for s, b in data.items() if len(b) == 0]
    if empty:
        raise DataError(f"no bars of {', '.join(empty)} in the period asked for")
    overrides = Overrides(tick=args.tick, step=args.step, min_qty=args.min_qty, min_notional=args.min_notional)
    rules, origin, warnings = resolve(data, settings.exchange.name, overrides, offline=args.offline)
    for g in gaps:
        warnings.append(
            f"{g.symbol}: {g.missing} bars missing from {ex.iso(g.after_ms + bar_ms)} until "
            f"{ex.iso(g.next_ms)} (not filled: the indicators continue across the gap)"
        )
    if args.json:  # the table lists them under the report; JSON keeps stdout machine-readable
        for w in warnings:
            print(f"warning: {w}", file=sys.stderr)
    options = Options(entry="next_open" if args.entry == "next-open" else "close", funding_rate_8h=args.funding_rate)
    progress = Progress() if sys.stderr.isatty() else None
    result = Backtest(settings, data, rules, bar_ms, options).run(progress)
    report = report_of(result, gaps, origin, warnings)
    if args.export:
        for path in ex.export(args.export, report, result.trips.closed, result.equity_ts, result.equity):
            print(f"wrote {path}", file=sys.stderr)
    if args.json:
        sys.stdout.write(ex.report_json(report).decode() + "\n")
    else:
        sys.stdout.write(render_report(report))
    return 0
