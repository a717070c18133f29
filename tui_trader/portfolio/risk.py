"""Risk limits on new entries (settings `[risk]`): each denies with a rule name and a reason a trader reads.

Pure: every time is passed in (the desk's clock: wall time live, replayed event time in a replay), so a
replay at any speed takes the same decisions.

Checked in this order (the first that applies is the one reported): halted (kill switch), paused, daily
loss limit, max open positions, per-symbol cooldown after a close, stale price.
"""

from __future__ import annotations

import datetime as dt

import msgspec

from tui_trader.portfolio.sizing import Denial
from tui_trader.settings import RiskSettings

DAY_MS = 86_400_000
HALTED_TEXT = "trading is halted by the kill switch; re-arm, then resume, to trade again"


def utc_text(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


class DailyLoss:
    """Tracks the UTC trading day's starting equity and whether the day's loss reached the limit.

    The day's starting equity is the equity first observed in that UTC day. Once the loss (start − equity,
    unrealised PnL included) reaches `limit_pct` of it, the limit stays reached until the next UTC day, even
    if prices recover: new entries stop for the day.
    """

    def __init__(self, limit_pct: float) -> None:
        self.limit_pct = limit_pct
        self.day: int | None = None
        self.start_equity = 0.0
        self.reached = False
        self.worst_loss_pct = 0.0

    def observe(self, now_ms: int, equity: float) -> bool:
        """Update with the current equity; True when `reached` changed (the desk shows it)."""
        changed = False
        day = now_ms // DAY_MS
        if day != self.day:
            self.day = day
            self.start_equity = equity
            self.worst_loss_pct = 0.0
            if self.reached:
                self.reached = False
                changed = True
        if self.start_equity > 0:
            loss_pct = (self.start_equity - equity) / self.start_equity
            self.worst_loss_pct = max(self.worst_loss_pct, loss_pct)
            if not self.reached and loss_pct >= self.limit_pct:
                self.reached = True
                changed = True
        return changed

    def rebase(self, equity: float) -> None:
        """The equity's source changed (paper ↔ exchange balance): measure the day's loss from here.
        A limit already reached stays reached."""
        self.start_equity = equity
        self.worst_loss_pct = 0.0

    @property
    def resumes_ms(self) -> int:
        return ((self.day or 0) + 1) * DAY_MS

    def describe(self) -> str:
        return (
            f"the day's loss reached {self.worst_loss_pct:.2%} of its starting equity "
            f"{self.start_equity:,.2f} (limit {self.limit_pct:.2%}); entries resume at {utc_text(self.resumes_ms)}"
        )


class EntryFacts(msgspec.Struct, frozen=True, kw_only=True):
    """What the gate needs to know about one prospective entry."""

    symbol: str
    now_ms: int
    halted: bool = False
    paused: bool = False
    daily_loss_reached: bool = False
    daily_loss_text: str = ""
    open_positions: int = 0  # open, plus entries sent and not answered yet
    last_close_ms: int | None = None  # when this symbol's last position closed
    last_price_ms: int | None = None  # when the symbol's last market price was stamped
    signal_ms: int | None = None  # when the signal's own price was taken
    reversing: bool = False  # the entry of a reversal: the close just before it starts no cooldown


class RiskGate:
    def __init__(self, risk: RiskSettings) -> None:
        self.risk = risk

    def check(self, f: EntryFacts) -> Denial | None:
        """None when the entry may go ahead, else the first limit it breaks."""
        r = self.risk
        if f.halted:
            return Denial("halted", HALTED_TEXT)
        if f.paused:
            return Denial("paused", "new entries are paused; resume to trade again")
        if f.daily_loss_reached:
            return Denial("daily_loss_limit", f.daily_loss_text or "the daily loss limit is reached")
        if f.open_positions >= r.max_open_positions:
            return Denial(
                "max_open_positions", f"{f.open_positions} positions open or opening (limit {r.max_open_positions})"
            )
        cooldown_ms = round(r.cooldown_s * 1000)
        if not f.reversing and f.last_close_ms is not None and f.now_ms - f.last_close_ms < cooldown_ms:
            left = (cooldown_ms - (f.now_ms - f.last_close_ms)) / 1000
            return Denial(
                "cooldown",
                f"{f.symbol} closed {(f.now_ms - f.last_close_ms) / 1000:.1f} s ago; "
                f"cooldown {r.cooldown_s:g} s ({left:.1f} s left)",
            )
        stale_ms = round(r.stale_after_s * 1000)
        if f.last_price_ms is None:
            return Denial("stale_price", f"{f.symbol}: no market price seen yet")
        for label, at in (("last price", f.last_price_ms), ("signal's price", f.signal_ms)):
            if at is not None and f.now_ms - at > stale_ms:
                return Denial(
                    "stale_price",
                    f"{f.symbol} {label} is {(f.now_ms - at) / 1000:.1f} s old (limit {r.stale_after_s:g} s)",
                )
        return None
