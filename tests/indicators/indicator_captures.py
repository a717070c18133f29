"""Reading the real captures of ../shared/data for the indicator tests and benchmark (not a test module).

`trades` reads the trade prices of a Binance USD-M capture directly from its lines, independently of the
collector, so the tests compare the pipeline against the file itself.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

from tui_trader import messages as m


def frames(path: Path) -> Iterator[dict]:
    """The `data` payload of each combined-stream frame, in file order (lines without one are skipped)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            _, _, raw = line.partition(" ")
            try:
                frame = json.loads(raw)
            except ValueError:
                continue
            data = frame.get("data") if isinstance(frame, dict) else None
            if isinstance(data, dict):
                yield data


def trades(path: Path) -> list[tuple[str, float, int]]:
    """(symbol, price, event time ms) of every trade (`trade` or `aggTrade` event) in file order."""
    return [(d["s"], float(d["p"]), int(d["E"])) for d in frames(path) if d.get("e") in ("trade", "aggTrade")]


def market_data(path: Path) -> list[m.MarketData]:
    """Trades and book tickers as the collector publishes them (for the worker benchmark)."""
    out: list[m.MarketData] = []
    for d in frames(path):
        e = d.get("e")
        if e in ("trade", "aggTrade"):
            out.append(
                m.MarketData(
                    symbol=d["s"],
                    kind="trade",
                    price=float(d["p"]),
                    volume=float(d["q"]),
                    event_time=int(d["E"]),
                    recv_time=int(d["E"]),
                    ts=int(d["E"]),
                )
            )
        elif e == "bookTicker":
            out.append(
                m.MarketData(
                    symbol=d["s"],
                    kind="book",
                    bid=float(d["b"]),
                    bid_qty=float(d["B"]),
                    ask=float(d["a"]),
                    ask_qty=float(d["A"]),
                    event_time=int(d["E"]),
                    recv_time=int(d["E"]),
                    ts=int(d["E"]),
                )
            )
    return out


def spot_closes(path: Path) -> tuple[list[int], list[float]]:
    """Open times and closes of a freqtrade 1-minute OHLCV file ([open_ms, o, h, l, c, v] rows)."""
    with gzip.open(path, "rt", encoding="utf-8") as f:
        rows = json.load(f)
    return [int(r[0]) for r in rows], [float(r[4]) for r in rows]
