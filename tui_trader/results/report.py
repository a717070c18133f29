"""The results report: round trips and an equity curve in, the figures a trader judges a strategy by out.

Pure maths over plain inputs, shared by `tui-trader backtest`, `tui-trader report` (a journal period) and the
desk. Definitions (what each figure means, so a reader can recompute it):
- net PnL = sum of the trips' net (realised PnL − fees − funding); return % = net ÷ starting equity;
- win rate = trips with net > 0 ÷ trips; profit factor = gross wins ÷ |gross losses| of trip nets (None when
  there is no losing trip); expectancy = mean trip net;
- max drawdown = the largest fall of the equity curve from its running peak (absolute, and as a share of that
  peak); its duration runs from that peak to the point the curve regains it (or the curve's end);
- Sharpe and Sortino from daily returns of the equity curve (last value of each UTC day, the first day
  measured from the starting equity), annualised with √365 (crypto trades every day); Sortino's downside
  deviation is √(mean(min(r, 0)²)); None with fewer than two days or no variation;
- exposure % = time with at least one position open ÷ the period.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import msgspec
import numpy as np

from tui_trader.results.trips import REASONS, Trip

DAY_MS = 86_400_000


class Drawdown(msgspec.Struct, frozen=True, kw_only=True):
    amount: float  # USDT below the peak
    pct: float  # share of the peak, in percent
    peak_ts: int | None
    trough_ts: int | None
    recovered_ts: int | None  # None: not regained by the end
    duration_ms: int


class Breakdown(msgspec.Struct, frozen=True, kw_only=True):
    trades: int
    wins: int
    win_rate_pct: float
    net_pnl: float
    fees: float
    avg_trade: float


class Report(msgspec.Struct, frozen=True, kw_only=True):
    start_ts: int
    end_ts: int
    bars: int
    starting_equity: float
    final_equity: float
    trades: int
    wins: int
    losses: int
    win_rate_pct: float
    net_pnl: float
    return_pct: float
    gross_pnl: float
    fees: float
    funding: float
    profit_factor: float | None
    expectancy: float
    max_drawdown: Drawdown
    sharpe: float | None
    sortino: float | None
    exposure_pct: float
    avg_trade: float
    best_trade: float
    worst_trade: float
    avg_hold_ms: int
    by_symbol: dict[str, Breakdown]
    by_reason: dict[str, Breakdown]
    extra: dict[str, Any] = msgspec.field(default_factory=dict)  # run facts: counters, gaps, warnings, settings


def max_drawdown(ts: np.ndarray, equity: np.ndarray) -> Drawdown:
    """The largest fall from a running peak, and how long until the peak was regained."""
    if len(equity) == 0:
        return Drawdown(amount=0.0, pct=0.0, peak_ts=None, trough_ts=None, recovered_ts=None, duration_ms=0)
    peaks = np.maximum.accumulate(equity)
    falls = peaks - equity
    trough = int(np.argmax(falls))
    amount = float(falls[trough])
    if amount <= 0:
        return Drawdown(amount=0.0, pct=0.0, peak_ts=None, trough_ts=None, recovered_ts=None, duration_ms=0)
    peak_value = float(peaks[trough])
    peak = int(np.flatnonzero(equity[: trough + 1] == peak_value)[0])
    after = np.flatnonzero(equity[trough:] >= peak_value)
    recovered = int(ts[trough + after[0]]) if len(after) else None
    end = recovered if recovered is not None else int(ts[-1])
    return Drawdown(
        amount=amount,
        pct=amount / peak_value * 100.0 if peak_value > 0 else 0.0,
        peak_ts=int(ts[peak]),
        trough_ts=int(ts[trough]),
        recovered_ts=recovered,
        duration_ms=end - int(ts[peak]),
    )


def daily_returns(ts: np.ndarray, equity: np.ndarray, starting_equity: float) -> np.ndarray:
    if len(equity) == 0:
        return np.zeros(0)
    days = ts // DAY_MS
    last_of_day = np.flatnonzero(np.append(days[1:] != days[:-1], True))
    closes = np.concatenate(([starting_equity], equity[last_of_day]))
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = np.diff(closes) / closes[:-1]
    return returns[np.isfinite(returns)]


def sharpe_sortino(returns: np.ndarray) -> tuple[float | None, float | None]:
    if len(returns) < 2:
        return None, None
    mean = float(np.mean(returns))
    std = float(np.std(returns, ddof=1))
    downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2)))
    scale = math.sqrt(365.0)
    sharpe = mean / std * scale if std > 0 else None
    sortino = mean / downside * scale if downside > 0 else None
    return sharpe, sortino


def exposure_ms(trips: Sequence[Trip], open_since: Sequence[int], start_ts: int, end_ts: int) -> int:
    """Time with at least one position open: the union of the trips' intervals (and of positions still open)."""
    spans = sorted([(t.entry_ts, t.exit_ts) for t in trips] + [(s, end_ts) for s in open_since])
    total = 0
    cur: tuple[int, int] | None = None  # the union's interval being extended
    for a, b in spans:
        a, b = max(a, start_ts), min(b, end_ts)
        if b <= a:
            continue
        if cur is None or a > cur[1]:
            if cur is not None:
                total += cur[1] - cur[0]
            cur = (a, b)
        else:
            cur = (cur[0], max(cur[1], b))
    if cur is not None:
        total += cur[1] - cur[0]
    return total


def _breakdown(trips: Sequence[Trip]) -> Breakdown:
    wins = sum(1 for t in trips if t.net > 0)
    net = sum(t.net for t in trips)
    return Breakdown(
        trades=len(trips),
        wins=wins,
        win_rate_pct=wins / len(trips) * 100.0 if trips else 0.0,
        net_pnl=net,
        fees=sum(t.fees for t in trips),
        avg_trade=net / len(trips) if trips else 0.0,
    )


def build_report(
    trips: Sequence[Trip],
    ts: np.ndarray,
    equity: np.ndarray,
    *,
    starting_equity: float,
    start_ts: int,
    end_ts: int,
    bars: int = 0,
    open_since: Sequence[int] = (),
    extra: dict[str, Any] | None = None,
) -> Report:
    """The report of one period. `ts`/`equity` is the equity curve (ascending times); `open_since` the entry
    times of positions still open at the end (they count in exposure, not in the trades)."""
    ts = np.asarray(ts, dtype=np.int64)
    equity = np.asarray(equity, dtype=np.float64)
    nets = [t.net for t in trips]
    wins = [n for n in nets if n > 0]
    losses = [n for n in nets if n <= 0]
    gross_win, gross_loss = sum(wins), -sum(n for n in nets if n < 0)
    net = sum(nets)
    period = max(1, end_ts - start_ts)
    sharpe, sortino = sharpe_sortino(daily_returns(ts, equity, starting_equity))
    # Exit reasons in a fixed order (the known ones first), only those that occurred.
    order = [*REASONS, *sorted({t.reason for t in trips} - set(REASONS))]
    reasons = {r: _breakdown([t for t in trips if t.reason == r]) for r in order}
    return Report(
        start_ts=start_ts,
        end_ts=end_ts,
        bars=bars,
        starting_equity=starting_equity,
        final_equity=float(equity[-1]) if len(equity) else starting_equity + net,
        trades=len(trips),
        wins=len(wins),
        losses=len(losses),
        win_rate_pct=len(wins) / len(trips) * 100.0 if trips else 0.0,
        net_pnl=net,
        return_pct=net / starting_equity * 100.0 if starting_equity else 0.0,
        gross_pnl=sum(t.pnl for t in trips),
        fees=sum(t.fees for t in trips),
        funding=sum(t.funding for t in trips),
        profit_factor=gross_win / gross_loss if gross_loss > 0 else None,
        expectancy=net / len(trips) if trips else 0.0,
        max_drawdown=max_drawdown(ts, equity),
        sharpe=sharpe,
        sortino=sortino,
        exposure_pct=exposure_ms(trips, open_since, start_ts, end_ts) / period * 100.0,
        avg_trade=net / len(trips) if trips else 0.0,
        best_trade=max(nets) if nets else 0.0,
        worst_trade=min(nets) if nets else 0.0,
        avg_hold_ms=round(sum(t.hold_ms for t in trips) / len(trips)) if trips else 0,
        by_symbol={s: _breakdown([t for t in trips if t.symbol == s]) for s in sorted({t.symbol for t in trips})},
        by_reason={r: b for r, b in reasons.items() if b.trades},
        extra=dict(extra or {}),
    )
