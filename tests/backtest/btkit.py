"""Helpers for backtest tests: deterministic klines, the files traders have them in, and a runner."""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from pathlib import Path

import numpy as np

from tui_trader.backtest.engine import Backtest, Options, Run
from tui_trader.backtest.loaders import Bars
from tui_trader.instruments import PAPER_RULES
from tui_trader.settings import Settings

T0 = 1_700_000_000_000 - 1_700_000_000_000 % 86_400_000  # a UTC midnight
MIN = 60_000
CSV_HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore"
)


def walk(n: int, seed: int, start: float = 30_000.0, vol: float = 0.004, t0: int = T0) -> list[list[float]]:
    """A seeded random walk as klines [[open_ms, o, h, l, c, v], …] with 2-decimal prices: trends and reversals
    enough for the strategy to trade and hit stops and targets."""
    rng = np.random.default_rng(seed)
    drift = np.repeat(rng.normal(0, vol / 3, n // 200 + 1), 200)[:n]
    closes = start * np.exp(np.cumsum(rng.normal(0, vol, n) + drift))
    rows, prev = [], start
    for i, c in enumerate(closes):
        o = prev
        wick = abs(rng.normal(0, vol / 2)) * c
        h, lo = max(o, c) + wick, min(o, c) - wick * rng.random()
        rows.append(
            [t0 + i * MIN, round(o, 2), round(h, 2), round(lo, 2), round(c, 2), round(float(rng.random() * 5), 3)]
        )
        prev = round(c, 2)
    return rows


def bars_of(symbol: str, rows: list[list[float]]) -> Bars:
    a = np.array(rows, dtype=np.float64)
    return Bars(
        symbol=symbol,
        open_ms=a[:, 0].astype(np.int64),
        open=a[:, 1],
        high=a[:, 2],
        low=a[:, 3],
        close=a[:, 4],
        volume=a[:, 5],
        source=symbol,
    )


def run(data: dict[str, Bars], settings: Settings | None = None, options: Options | None = None) -> Run:
    settings = settings or Settings()
    rules = {s: PAPER_RULES.get(s, PAPER_RULES["BTCUSDT"]) for s in data}
    return Backtest(settings, data, rules, 60_000, options or Options()).run()


def write_json(path: Path, rows, gz: bool = False) -> Path:
    body = json.dumps(rows).encode()
    path.write_bytes(gzip.compress(body) if gz else body)
    return path


def csv_text(rows, header: bool, micro: bool = False) -> str:
    lines = [CSV_HEADER] if header else []
    for r in rows:
        t = int(r[0]) * (1000 if micro else 1)
        close_t = t + (60_000_000 if micro else 60_000) - 1
        lines.append(f"{t},{r[1]:.2f},{r[2]:.2f},{r[3]:.2f},{r[4]:.2f},{r[5]:.3f},{close_t},0,0,0,0,0")
    return "\n".join(lines) + "\n"


def write_zip(path: Path, name: str, text: str) -> Path:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name, text)
    path.write_bytes(buf.getvalue())
    return path
