"""History for a backtest: OHLCV bars per symbol from the formats traders already have.

- JSON arrays `[[open_ms, open, high, low, close, volume], …]` (the exchange REST answer, freqtrade's files),
  plain or gzip (recognised by its magic bytes);
- Binance public-data kline CSV (`open_time,open,high,low,close,volume,close_time,…`), plain or zipped, with or
  without the header row (Binance added headers in 2022; spot files from 2025 count in microseconds);
- recordings in the replay format (`<recv_time_ns> <raw JSON>` per line): trades become bars by event time,
  an interval without trades repeats the previous close with zero volume, as exchange klines do.

Bars are numpy arrays (one column each), ascending and de-duplicated by open time. Gaps are found, never filled.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import zipfile
from pathlib import Path

import msgspec
import numpy as np

from tui_trader.errors import TuiTraderError

GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"


class DataError(TuiTraderError):
    def __init__(self, message: str) -> None:
        super().__init__(message, "Backtest data")


class Bars(msgspec.Struct, kw_only=True):
    """One symbol's klines, ascending by open time."""

    symbol: str
    open_ms: np.ndarray  # int64
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    source: str = ""

    def __len__(self) -> int:
        return len(self.open_ms)

    def slice(self, start_ms: int | None, end_ms: int | None) -> Bars:
        lo = 0 if start_ms is None else int(np.searchsorted(self.open_ms, start_ms, "left"))
        hi = len(self) if end_ms is None else int(np.searchsorted(self.open_ms, end_ms, "left"))
        return Bars(
            symbol=self.symbol,
            open_ms=self.open_ms[lo:hi],
            open=self.open[lo:hi],
            high=self.high[lo:hi],
            low=self.low[lo:hi],
            close=self.close[lo:hi],
            volume=self.volume[lo:hi],
            source=self.source,
        )


class Gap(msgspec.Struct, frozen=True, kw_only=True):
    symbol: str
    after_ms: int  # open time of the last bar before the gap
    next_ms: int  # open time of the first bar after it
    missing: int  # bars missing


def symbol_from_name(path: str | Path) -> str:
    """`BTC_USDT-1m.json.gz` → BTCUSDT, `BTCUSDT-1m-2024-01.zip` → BTCUSDT, `btcusdt_20240808.gz` → BTCUSDT."""
    parts = []
    stem = re.sub(r"(\.(gz|zip|json|csv|txt|jsonl))+$", "", Path(path).name, flags=re.IGNORECASE)
    for token in re.split(r"[-_.]", stem):
        if not token or not token.isalpha():
            break
        parts.append(token)
    if not parts:
        raise DataError(f"{path}: cannot tell the symbol from the file name; give it as SYMBOL=FILE")
    return "".join(parts).upper()


def _read(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise DataError(f"cannot read {str(path)!r}: {err.strerror or err}") from None
    if raw[:2] == GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise DataError(f"{path}: damaged gzip file ({err})") from None
    elif raw[:4] == ZIP_MAGIC:
        try:
            with zipfile.ZipFile(io.BytesIO(raw)) as zf:
                names = [n for n in zf.namelist() if not n.endswith("/")]
                if len(names) != 1:
                    raise DataError(f"{path}: a zip with one kline file expected, found {len(names)}")
                raw = zf.read(names[0])
        except zipfile.BadZipFile as err:
            raise DataError(f"{path}: damaged zip file ({err})") from None
    return raw


def _bars(symbol: str, rows: np.ndarray, source: str) -> Bars:
    if rows.size == 0:
        raise DataError(f"{source}: no klines in the file")
    open_ms = rows[:, 0].astype(np.int64)
    if open_ms.max() > 10**14:  # microseconds (Binance spot files from 2025 on)
        open_ms //= 1000
    order = np.argsort(open_ms, kind="stable")
    open_ms = open_ms[order]
    keep = np.append(True, open_ms[1:] != open_ms[:-1])  # a repeated bar: the first copy counts
    idx = order[keep]
    cols = [np.ascontiguousarray(rows[idx, i], dtype=np.float64) for i in range(1, 6)]
    bad = ~np.isfinite(np.stack(cols[:4])).all(axis=0) | (np.stack(cols[:4]) <= 0).any(axis=0)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise DataError(f"{source}: bar {first + 1} has a price that is not a positive number")
    return Bars(
        symbol=symbol,
        open_ms=open_ms[keep],
        open=cols[0],
        high=cols[1],
        low=cols[2],
        close=cols[3],
        volume=cols[4],
        source=source,
    )


def load_json(path: Path, symbol: str) -> Bars:
    try:
        data = msgspec.json.decode(_read(path))
        try:
            rows = np.array(data, dtype=np.float64)  # the usual case: every row has the same length
        except ValueError:
            rows = np.array([r[:6] for r in data], dtype=np.float64)
        if rows.ndim == 2 and rows.shape[1] > 6:
            rows = rows[:, :6]
    except (msgspec.DecodeError, TypeError, ValueError, IndexError) as err:
        raise DataError(f"{path}: not a JSON array of [open_ms, open, high, low, close, volume] ({err})") from None
    if rows.ndim != 2 or (rows.size and rows.shape[1] < 6):
        raise DataError(f"{path}: each kline needs 6 values [open_ms, open, high, low, close, volume]")
    return _bars(symbol, rows.reshape(-1, 6), str(path))


def load_csv(path: Path, symbol: str) -> Bars:
    text = _read(path).decode("utf-8", errors="replace")
    rows = []
    for n, row in enumerate(csv.reader(io.StringIO(text)), 1):
        if not row:
            continue
        if n == 1 and not row[0].strip().lstrip("-").isdigit():
            continue  # the header row (open_time,open,high,…)
        try:
            rows.append([float(x) for x in row[:6]])
        except ValueError:
            raise DataError(f"{path}: line {n} is not a kline: {','.join(row)[:80]}") from None
        if len(rows[-1]) < 6:
            raise DataError(f"{path}: line {n} has fewer than 6 columns")
    return _bars(symbol, np.array(rows, dtype=np.float64).reshape(-1, 6), str(path))


def load_recording(path: Path, bar_ms: int, symbol: str | None = None) -> list[Bars]:
    """Trades of a recording as bars of `bar_ms`, one Bars per symbol (only `symbol` when given)."""
    from tui_trader.feeds.parser import FrameParser
    from tui_trader.feeds.replay import RecordingReader

    if bar_ms <= 0:
        raise DataError(f"{path}: a recording becomes bars of indicators.bar; \"tick\" has no bar size (use --bar)")
    parser = FrameParser()
    trades: dict[str, list[tuple[int, float, float]]] = {}
    for recv_ns, frame in RecordingReader(path):
        md = parser.parse(frame, recv_ns // 1_000_000)
        if md is None or md.kind != "trade" or md.price <= 0:
            continue
        if symbol is not None and md.symbol != symbol:
            continue
        trades.setdefault(md.symbol, []).append((md.event_time, md.price, md.volume))
    if not trades:
        raise DataError(f"{path}: no trades{' of ' + symbol if symbol else ''} in the recording")
    return [_trade_bars(sym, trades[sym], bar_ms, str(path)) for sym in sorted(trades)]


def _trade_bars(symbol: str, trades: list[tuple[int, float, float]], bar_ms: int, source: str) -> Bars:
    t = np.array([x[0] for x in trades], dtype=np.int64)
    p = np.array([x[1] for x in trades], dtype=np.float64)
    q = np.array([x[2] for x in trades], dtype=np.float64)
    order = np.argsort(t, kind="stable")
    t, p, q = t[order], p[order], q[order]
    bucket = t // bar_ms
    first, last = int(bucket[0]), int(bucket[-1])
    n = last - first + 1
    idx = (bucket - first).astype(np.int64)
    o = np.full(n, np.nan)
    h = np.full(n, -np.inf)
    lo = np.full(n, np.inf)
    c = np.full(n, np.nan)
    v = np.zeros(n)
    starts = np.flatnonzero(np.append(True, idx[1:] != idx[:-1]))
    ends = np.append(starts[1:], len(idx)) - 1
    o[idx[starts]] = p[starts]
    c[idx[ends]] = p[ends]
    np.maximum.at(h, idx, p)
    np.minimum.at(lo, idx, p)
    np.add.at(v, idx, q)
    for i in range(n):  # an empty interval repeats the previous close (flat bar, no volume)
        if np.isnan(c[i]):
            o[i] = h[i] = lo[i] = c[i] = c[i - 1]
    open_ms = (np.arange(n, dtype=np.int64) + first) * bar_ms
    return Bars(symbol=symbol, open_ms=open_ms, open=o, high=h, low=lo, close=c, volume=v, source=source)


def kind_of(path: Path) -> str:
    """ "json", "csv" or "recording", from the content (the first bytes after decompression)."""
    head = _read(path)[:4096].lstrip()
    if head.startswith(b"["):
        return "json"
    first = head.split(b"\n", 1)[0]
    if re.match(rb"^\d+(\.\d+)?:? ", first) or first.startswith((b"wss://", b"ws://")):
        return "recording"
    if b"," in first:
        return "csv"
    raise DataError(f"{path}: not a kline JSON array, a kline CSV or a recording")


def load(path: str | Path, symbol: str | None, bar_ms: int) -> list[Bars]:
    """The bars in one file: a kline file gives one symbol (named, or from the file name); a recording gives
    every symbol it holds (or only the named one)."""
    p = Path(path)
    kind = kind_of(p)
    if kind == "recording":
        return load_recording(p, bar_ms, symbol)
    sym = symbol or symbol_from_name(p)
    return [load_json(p, sym) if kind == "json" else load_csv(p, sym)]


def bar_size_ms(bars: Bars) -> int:
    """The data's bar size: the most common step between open times."""
    if len(bars) < 2:
        raise DataError(f"{bars.source}: at least two bars are needed to tell the bar size")
    steps, counts = np.unique(np.diff(bars.open_ms), return_counts=True)
    return int(steps[int(np.argmax(counts))])


def gaps(bars: Bars, bar_ms: int) -> list[Gap]:
    steps = np.diff(bars.open_ms)
    where = np.flatnonzero(steps != bar_ms)
    return [
        Gap(
            symbol=bars.symbol,
            after_ms=int(bars.open_ms[i]),
            next_ms=int(bars.open_ms[i + 1]),
            missing=int(steps[i] // bar_ms) - 1,
        )
        for i in where
        if steps[i] > bar_ms
    ]


def bar_text(ms: int) -> str:
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"
