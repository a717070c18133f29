"""Writing results to files, and reading them back: `trades.csv`, `equity.csv`, `report.json`.

Floats are written with `repr` (shortest round-trip form), so a file read back gives exactly the numbers the
report was computed from: the drawdown recomputed from `equity.csv` equals the reported one to the bit.
Times are epoch milliseconds plus a UTC ISO column for people and spreadsheets.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from tui_trader.results.report import Report
from tui_trader.results.trips import Trip

TRADE_COLUMNS = (
    "symbol",
    "side",
    "quantity",
    "entry_ts",
    "entry_time",
    "entry_price",
    "exit_ts",
    "exit_time",
    "exit_price",
    "pnl",
    "fees",
    "funding",
    "net",
    "reason",
    "mode",
    "entry_order_id",
    "exit_order_id",
)
EQUITY_COLUMNS = ("ts", "time", "equity")


def iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def trades_csv(trips: Iterable[Trip]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(TRADE_COLUMNS)
    for t in trips:
        w.writerow(
            [
                t.symbol,
                t.side,
                repr(t.quantity),
                t.entry_ts,
                iso(t.entry_ts),
                repr(t.entry_price),
                t.exit_ts,
                iso(t.exit_ts),
                repr(t.exit_price),
                repr(t.pnl),
                repr(t.fees),
                repr(t.funding),
                repr(t.net),
                t.reason,
                t.mode,
                t.entry_order_id,
                t.exit_order_id,
            ]
        )
    return out.getvalue()


def read_trades_csv(text: str) -> list[Trip]:
    rows = csv.DictReader(io.StringIO(text))
    floats = ("quantity", "entry_price", "exit_price", "pnl", "fees", "funding", "net")
    trips = []
    for row in rows:
        fields: dict[str, Any] = {k: row[k] for k in TRADE_COLUMNS if k not in ("entry_time", "exit_time")}
        for k in floats:
            fields[k] = float(fields[k])
        for k in ("entry_ts", "exit_ts"):
            fields[k] = int(fields[k])
        trips.append(msgspec.convert(fields, Trip))
    return trips


def equity_csv(ts: Sequence[int] | np.ndarray, equity: Sequence[float] | np.ndarray) -> str:
    out = io.StringIO()
    out.write(",".join(EQUITY_COLUMNS) + "\n")
    for t, e in zip(np.asarray(ts).tolist(), np.asarray(equity).tolist(), strict=True):
        out.write(f"{t},{iso(t)},{e!r}\n")
    return out.getvalue()


def read_equity_csv(text: str) -> tuple[np.ndarray, np.ndarray]:
    ts, eq = [], []
    for row in csv.DictReader(io.StringIO(text)):
        ts.append(int(row["ts"]))
        eq.append(float(row["equity"]))
    return np.array(ts, dtype=np.int64), np.array(eq, dtype=np.float64)


def report_json(report: Report, trips: Sequence[Trip] | None = None) -> bytes:
    """The report as JSON (indented, keys in a fixed order); with `trips`, the trade list under "trips"."""
    data = msgspec.to_builtins(report)
    if trips is not None:
        data["trips"] = msgspec.to_builtins(list(trips))
    return msgspec.json.format(msgspec.json.encode(data), indent=2)


def read_report_json(raw: bytes) -> Report:
    data = msgspec.json.decode(raw)
    data.pop("trips", None)
    return msgspec.convert(data, Report)


def export(
    directory: str | Path, report: Report, trips: Sequence[Trip], ts: np.ndarray, equity: np.ndarray
) -> list[Path]:
    """Write the three files into `directory` (created if missing); returns their paths."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    files = [
        (d / "trades.csv", trades_csv(trips).encode()),
        (d / "equity.csv", equity_csv(ts, equity).encode()),
        (d / "report.json", report_json(report) + b"\n"),
    ]
    for path, body in files:
        path.write_bytes(body)
    return [p for p, _ in files]
