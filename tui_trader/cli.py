"""The command line: the desk, headless, worker, ui --attach, record, bench, doctor.

Parsing only; each subcommand lives in `tui_trader.commands.<name>` and returns an exit code. A
`TuiTraderError` anywhere ends the program with one line `Title: message` and exit code 1, never a
traceback.
"""

from __future__ import annotations

import argparse
import importlib
import math
import sys
from collections.abc import Sequence
from typing import NoReturn

from tui_trader import __version__
from tui_trader.errors import TuiTraderError

EPILOG = "Settings: settings.toml (see README). Logs: the XDG state dir (tui-trader doctor prints where)."


# Bounds a user would never need to exceed: a replay a million times faster than real time is `max` in
# practice, and a run longer than a year is not a run with a duration. They keep `inf` and `nan` out: float()
# accepts both, and neither is a speed or a number of seconds (NaN even passes `> 0` checks written as
# `not value <= 0`).
MAX_SPEED = 1_000_000.0
MAX_SECONDS = 366 * 86400.0


def _finite(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what} (got {text!r})") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{what}; {text!r} is not a finite number")
    return value


def _speed(text: str) -> float | None:
    if text == "max":
        return None
    value = _finite(text, "speed must be a number > 0 or 'max'")
    if not 0 < value <= MAX_SPEED:
        raise argparse.ArgumentTypeError(f"speed must be > 0 and at most {MAX_SPEED:g}, or 'max' (got {text!r})")
    return value


def _files(text: str) -> list[str]:
    return [p for p in text.split(",") if p]


def _positive(text: str) -> float:
    value = _finite(text, "expected a number of seconds")
    if not 0 < value <= MAX_SECONDS:
        raise argparse.ArgumentTypeError(
            f"expected a number of seconds > 0 and at most {MAX_SECONDS:.0f} (a year) (got {text!r})"
        )
    return value


def _rate(text: str) -> float:
    value = _finite(text, "expected a number of messages per second")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number of messages per second > 0 (got {text!r})")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number (got {text!r})") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1 (got {text!r})")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line (what is wrong and where the usage is), not the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see: {self.prog} --help)\n")


def _options(top: bool) -> tuple[_Parser, _Parser]:
    """Options accepted before and after the subcommand. After it they default to SUPPRESS, so that
    `tui-trader --config X doctor` keeps X instead of the subcommand's default overwriting it."""
    default = (lambda value: value) if top else (lambda value: argparse.SUPPRESS)
    common = _Parser(add_help=False)
    common.add_argument(
        "--config",
        metavar="PATH",
        default=default(None),
        help="settings file (default: XDG user copy, else ./settings.toml)",
    )
    # Repeatable; validated like the file after it is loaded (tui_trader.commands.apply_overrides). Those
    # before the subcommand land apart: the subcommand's own list would replace them, not add to them.
    common.add_argument(
        "--set",
        action="append",
        dest="top_overrides" if top else "overrides",
        metavar="SECTION.KEY=VALUE",
        default=default([]),
        help="override one setting for this run, e.g. --set indicators.bar=tick (repeatable)",
    )
    replay = _Parser(add_help=False)
    replay.add_argument(
        "--replay",
        metavar="FILE[,FILE…]",
        type=_files,
        default=default([]),
        help="play recordings instead of the live feed (gzip or plain; several play merged by event time)",
    )
    replay.add_argument(
        "--speed",
        type=_speed,
        default=default(1.0),
        metavar="X|max",
        help="replay speed: a multiple of real time, or 'max' (default 1)",
    )
    return common, replay


def build_parser() -> argparse.ArgumentParser:
    top_common, top_replay = _options(top=True)
    common, replay = _options(top=False)
    p = _Parser(
        prog="tui-trader",
        description="Terminal trading desk for crypto perpetual futures. Without a command: open the desk.",
        parents=[top_common, top_replay],
        epilog=EPILOG,
    )
    p.add_argument("--version", action="version", version=f"tui-trader {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    h = sub.add_parser(
        "headless",
        parents=[common, replay],
        help="run the pipeline without the desk",
        description="Run the whole pipeline without the desk. With --replay it ends when the file "
        "ends and every worker has drained; live it runs until Ctrl-C/SIGTERM or --duration.",
    )
    h.add_argument("--json", action="store_true", help="print the summary as JSON")
    h.add_argument("--tap", metavar="DIR", help="write every record of every topic to DIR/<topic>.jsonl")
    h.add_argument("--duration", type=_positive, metavar="S", help="live: stop after S seconds")

    w = sub.add_parser(
        "worker",
        parents=[common],
        help="run one worker in this process (Fluvio bus)",
        description="Run one worker of the pipeline on the Fluvio bus; run the others elsewhere.",
    )
    w.add_argument("name", choices=["collector", "indicator", "router", "executor", "notifier"])
    w.add_argument("--member", metavar="I/N", help="indicator: read the partitions p with p %% N == I (0/2, 1/2)")
    w.add_argument("--partitions", metavar="P,P", help="indicator: read these partitions of the per-symbol topics")

    u = sub.add_parser(
        "ui",
        parents=[common],
        help="the desk only, attached to workers running elsewhere",
        description="Show the desk from the bus topics without running workers; keys go out as Control records.",
    )
    u.add_argument("--attach", action="store_true", required=True, help="attach to the bus in settings")

    r = sub.add_parser(
        "record",
        parents=[common],
        help="capture the live feed to a file",
        description="Write what the live feed receives in the recording format "
        "(<recv_time_ns> <raw JSON> per line), so it replays as it was.",
    )
    r.add_argument("--out", required=True, metavar="FILE.gz", help="output file (.gz for gzip)")
    r.add_argument("--duration", type=_positive, metavar="S", help="stop after S seconds (default: Ctrl-C)")

    b = sub.add_parser(
        "bench",
        parents=[common],
        help="benchmark the pipeline",
        description="Replay a stream through the real pipeline (embedded bus, paper broker) as fast "
        "as it goes and report throughput, latency and memory.",
    )
    b.add_argument("--json", action="store_true", help="print the results as JSON")
    b.add_argument("--file", metavar="CAPTURE", help="a real capture instead of the synthetic stream")
    b.add_argument("--symbols", type=_count, default=2, metavar="N", help="symbols in the synthetic stream (default 2)")
    b.add_argument("--messages", type=_count, default=200_000, metavar="N", help="synthetic messages (default 200000)")
    b.add_argument("--rate", type=_rate, metavar="MSG_PER_S", help="pace the input at this rate (latency mode)")
    b.add_argument("--ui", action="store_true", help="also run the desk headless to show its cost")

    d = sub.add_parser(
        "doctor",
        parents=[common],
        help="check settings, journal, bus, feed, exchange and keys",
        description="Check for real that the desk can run: settings, journal (opens, writable), bus, "
        "feed (a market frame arrives), exchange (answers, clock skew), API keys (a signed read), "
        "position mode and leverage brackets. One line per check; exit 1 on a failure.",
    )
    d.add_argument(
        "--timeout", type=_positive, metavar="S", help="give up on each network check after S seconds (default 10)"
    )

    from tui_trader.commands.results_cli import add_parsers  # backtest, trades, report

    add_parsers(sub, common)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = args.command or "desk"
    args.overrides = [*args.top_overrides, *getattr(args, "overrides", [])]
    module = importlib.import_module(f"tui_trader.commands.{command}")
    try:
        return int(module.run(args) or 0)
    except TuiTraderError as err:
        print(f"{err.title}: {err.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
