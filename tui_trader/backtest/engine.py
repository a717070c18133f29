"""The backtest loop: the live desk's own indicator, router and paper broker cores, driven bar by bar.

Why the cores are called directly and not through the bus: a backtest is one process replaying a fixed past
at full speed, and the workers are thin shells that decode a record, call the same core method and encode the
answer. Driving `SignalEngine`, `RouterCore` and `PaperBroker` in one loop runs exactly the decisions of the
pipeline (the same settings, sizing, risk limits, fees and trigger logic) without paying for JSON and queues
on every bar, which is what makes a month of 1-minute bars take seconds. Every status the broker reports
goes to the router, as the executor would publish it; nothing is modelled twice.

One bar of one symbol, in order (times: the bar's close, except a next-open fill at its open):
1. an order the router sent on the previous bar with `entry = "next_open"` fills at this bar's open (if this
   bar is the very next one; after a gap in the data it is rejected instead, never filled hours later);
2. with a position open, the bar's path reaches the paper broker as trades: open, then the extreme against
   the position, then the other extreme, then the close (so when the stop and the target both lie inside one
   bar the stop fills first: the conservative reading, counted in `both_in_bar`). The resting trigger
   prices (and the liquidation price) crossed by a leg are inserted where the leg crosses them, as real
   trades would pass through them: a stop fills at its trigger, or at the open when the bar opens beyond it
   (a gap, counted in `gap_stops`). A move wider than the paper broker's price band (`risk.price_band_pct`,
   which holds back prints that jump farther) is walked in steps inside it;
3. the close marks the router's book, becomes one indicator point, and a signal goes to the router; its
   orders fill at this close with the paper slippage and fees (or wait for the next open).
At the end, positions still open are closed at the last close (reason "end_of_data").

Funding (off by default): at each 00:00/08:00/16:00 UTC bar the flat rate is announced to the paper broker,
which settles it on an open position as it does a venue's (quantity × mark × rate, the last trade standing in
for the mark; a long pays a positive rate, a short receives it); the amount is counted against the trip. The
router's book has no funding input, so its equity (sizing, daily loss) leaves funding out.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from tui_trader import messages as m
from tui_trader.backtest.loaders import Bars
from tui_trader.brokers.base import Report
from tui_trader.brokers.paper import PaperBroker
from tui_trader.indicators.signals import Emitted, SignalEngine
from tui_trader.instruments import InstrumentRules, RulesBook
from tui_trader.portfolio.router_core import Output, RouterCore
from tui_trader.results.trips import TripBook
from tui_trader.settings import Settings, replace_field

FUNDING_MS = 8 * 3_600_000
PROGRESS_EVERY = 4096
Entry = Literal["close", "next_open"]


@dataclass(frozen=True)
class Options:
    entry: Entry = "close"  # where a signal's order fills: the signal bar's close, or the next bar's open
    funding_rate_8h: float = 0.0  # flat funding rate per 8 h (0 = off)


@dataclass
class Counts:
    bars: int = 0
    signals: int = 0
    commands: int = 0
    both_in_bar: int = 0  # stop and target both inside one bar: the stop was taken
    gap_stops: int = 0  # a bar opened beyond the stop: filled at the open
    next_open_missed: int = 0  # orders for the next open dropped because the data had a gap there
    unanswered: int = 0  # orders the router stopped waiting for (must stay 0: every order is answered in the loop)
    funding_payments: int = 0
    denials: dict[str, int] = field(default_factory=dict)
    rejects: dict[str, int] = field(default_factory=dict)


@dataclass
class Run:
    """What a backtest produced; the report, the export and the desk's results screen are built from it."""

    settings: Settings
    options: Options
    bar_ms: int
    data: dict[str, Bars]
    rules: dict[str, InstrumentRules]
    statuses: list[m.OrderStatus]
    trips: TripBook
    equity_ts: np.ndarray
    equity: np.ndarray
    counts: Counts
    elapsed_s: float = 0.0

    @property
    def start_ts(self) -> int:
        return min(int(b.open_ms[0]) for b in self.data.values())

    @property
    def end_ts(self) -> int:
        return max(int(b.open_ms[-1]) for b in self.data.values()) + self.bar_ms


def _trade(symbol: str, price: float, ts: int) -> m.MarketData:
    return m.MarketData(symbol=symbol, kind="trade", price=price, event_time=ts, recv_time=ts, ts=ts)


class Backtest:
    def __init__(
        self,
        settings: Settings,
        data: dict[str, Bars],
        rules: dict[str, InstrumentRules],
        bar_ms: int,
        options: Options = Options(),
    ) -> None:
        if sorted(settings.trading.symbols) != sorted(data):
            # The router trades only `trading.symbols`: a backtest trades the symbols of its data.
            settings = replace_field(settings, "trading", "symbols", sorted(data))
        self.settings = settings
        self.options = options
        self.data = data
        self.rules = rules
        self.bar_ms = bar_ms
        self.engine = SignalEngine(settings.indicators, settings.trading.min_signal_strength)
        ids = iter(range(1, 1 << 62))
        # Ids from a counter: two runs give the same ids, so their exports are byte for byte the same.
        self.router = RouterCore(settings, rules=RulesBook(rules), new_id=lambda: f"bt-{next(ids):08d}")
        self.broker = PaperBroker(settings.paper, RulesBook(rules), settings.risk)
        self.band = settings.risk.price_band_pct
        self.statuses: list[m.OrderStatus] = []
        self.reasons: dict[str, str] = {}
        self.trips = TripBook(self.reasons)
        self.counts = Counts()
        self.pending: dict[str, tuple[int, list[m.OrderCommand]]] = {}  # symbol → (fill at open_ms, orders)
        self._signal_ids = 0
        self._at_open = False  # orders that follow a fill at an open (a reversal's entry) fill at that open too

    # --- plumbing: what the executor and the router workers do -----------------------------------------

    def _publish(self, reports: list[Report], now: int) -> None:
        for report in reports:
            st = report.to_status("paper", now)
            self.statuses.append(st)
            self.trips.apply(st)
            if st.status == "rejected":
                key = (st.error or "rejected").split(":", 1)[0]
                self.counts.rejects[key] = self.counts.rejects.get(key, 0) + 1
            self._route(self.router.on_status(st, now), now, st.symbol)

    def _route(self, out: Output, now: int, symbol: str) -> None:
        for cmd in out.commands:
            self.counts.commands += 1
            if self.options.entry == "next_open" and not self._at_open:
                self.pending.setdefault(cmd.symbol, (now, []))[1].append(cmd)
            else:
                self._execute(cmd, now)

    def _execute(self, cmd: m.OrderCommand, now: int) -> None:
        if cmd.purpose == "entry" and not cmd.reduce_only:
            reports = self.broker.enter_now(cmd)
        else:
            reports = self.broker.reduce_now(cmd)
        self._publish(reports, now)

    def _market(self, symbol: str, price: float, ts: int) -> None:
        reports = self.broker.on_market(_trade(symbol, price, ts))
        if reports:
            self._publish(reports, ts)

    # --- one bar ----------------------------------------------------------------------------------------

    def _path(
        self, symbol: str, o: float, h: float, lo: float, c: float, ts: int, opened: bool, md: m.MarketData
    ) -> None:
        """The bar's trades as the broker sees them while a position is open (see the module doc)."""
        pos = self.broker.positions.get(symbol)
        if pos is None:
            self._market(symbol, c, ts)
            return
        long = pos.side == "long"
        sl = pos.stop_loss.price if pos.stop_loss is not None else None
        tp = pos.take_profit.price if pos.take_profit is not None else None
        liq = pos.liquidation_price
        if (
            not opened
            and (lo > liq if long else h < liq)
            and (sl is None or (lo > sl if long else h < sl))
            and (tp is None or (h < tp if long else lo > tp))
        ):
            # Nothing rests inside this bar's range: no trigger can fire, only the last price moves. (Most bars;
            # the full path below gives the same result for them, at four times the cost.)
            last = self.broker.last.get(symbol, c)
            if abs(c - last) <= last * self.band * 0.9:
                reports = self.broker.on_market(md)
                if reports:
                    self._publish(reports, ts)
            else:
                self._walk(symbol, last, c, ts)
            return
        if sl is not None:
            beyond = o <= sl if long else o >= sl
            if beyond and not opened:
                self.counts.gap_stops += 1
            elif tp is not None and (lo <= sl and h >= tp if long else h >= sl and lo <= tp):
                self.counts.both_in_bar += 1
        legs = (o, lo, h, c) if long else (o, h, lo, c)
        if not opened:
            # The open is the bar's first trade (a gap through the stop fills there); only a jump from the last
            # close wider than the broker's price band is walked, or the broker would hold the open back.
            self._walk(symbol, self.broker.last.get(symbol, o), o, ts)
        prev = o
        for target in legs[1:]:
            if target == prev:
                continue
            pos = self.broker.positions.get(symbol)
            marks = () if pos is None else [t.price for t in pos.triggers()] + [pos.liquidation_price]
            up = target > prev
            stops = sorted((x for x in marks if (prev < x < target if up else target < x < prev)), reverse=not up)
            for x in [*stops, target]:
                self._walk(symbol, prev, x, ts)
                prev = x

    def _walk(self, symbol: str, a: float, b: float, ts: int) -> None:
        """To b, from a in steps the broker's price band accepts when the move is wider than the band (a real
        market passes through them; a stop inside such a move fills at the first step beyond it)."""
        band = self.band * 0.9
        if band > 0 and abs(b - a) > a * band:
            steps = math.ceil(abs(math.log(b / a)) / math.log1p(band))
            ratio = (b / a) ** (1 / steps)
            for i in range(1, steps):
                self._market(symbol, a * ratio**i, ts)
        self._market(symbol, b, ts)

    def _drop_pending(
        self, symbol: str, now: int, why: str = "no bar right after the signal (gap in the data)"
    ) -> None:
        _, queue = self.pending.pop(symbol)
        self.counts.next_open_missed += len(queue)
        self._publish(
            [
                Report(
                    order_id=c.id,
                    symbol=c.symbol,
                    side=c.side,
                    purpose=c.purpose,
                    status="rejected",
                    error=f"backtest: {why}",
                )
                for c in queue
            ],
            now,
        )

    def _fill_pending(self, symbol: str, open_ms: int, price: float) -> bool:
        if self.pending[symbol][0] != open_ms:  # the data has a gap after the signal bar: its open never came
            self._drop_pending(symbol, open_ms)
            return False
        _, queue = self.pending.pop(symbol)
        self._market(symbol, price, open_ms)
        self._at_open = True
        try:
            for cmd in queue:
                self._execute(cmd, open_ms)
        finally:
            self._at_open = False
        return True

    def _funding(self, symbol: str, when: int) -> None:
        """Funding at `when` (a funding time), settled by the paper broker's own funding: the rate is announced
        for `when`, and a trade at the last price (nothing moves) makes the broker settle it."""
        broker = self.broker
        if symbol not in broker.positions:
            return
        broker.next_funding[symbol] = (when, self.options.funding_rate_8h)
        before = broker.funding_paid
        self._market(symbol, broker.last[symbol], when)
        paid = before - broker.funding_paid  # funding_paid counts what the account received
        if paid:
            self.trips.add_funding("paper", symbol, paid)
            self.counts.funding_payments += 1

    def _equity(self) -> float:
        """`broker.equity()` without its generator and method calls: it runs at every bar time."""
        broker = self.broker
        value, last = broker.wallet, broker.last
        for p in broker.positions.values():
            value += (last.get(p.symbol, p.entry_price) - p.entry_price) * p.quantity * p.sign
        return value

    def _signal(self, emitted: Emitted, ts: int) -> None:
        ev = emitted.evaluation
        if ev.kind is None:  # never: the engine emits only evaluations with a signal kind
            return
        self._signal_ids += 1
        self.counts.signals += 1
        sig = m.TradingSignal(
            id=f"sig-{self._signal_ids:08d}",
            symbol=emitted.symbol,
            signal=ev.kind,
            strength=ev.strength,
            buy_score=ev.buy,
            sell_score=ev.sell,
            reasons=list(ev.reasons),
            indicators=m.Indicators(**emitted.values._asdict()),
            price=emitted.price,
            ts=ts,
        )
        self._route(self.router.on_signal(sig, ts), ts, emitted.symbol)

    # --- the run ----------------------------------------------------------------------------------------

    def run(self, progress: Callable[[int, int], None] | None = None) -> Run:
        started = time.perf_counter()
        symbols = sorted(self.data)
        # Every bar of every symbol in time order (symbols in name order within one time), as flat Python lists:
        # the loop below runs once per bar and indexing lists of floats is its cheapest form.
        order = np.argsort(np.concatenate([self.data[s].open_ms for s in symbols]), kind="stable")

        def column(name: str) -> list[Any]:  # ints for the open times, floats for the prices
            values: list[Any] = np.concatenate([getattr(self.data[s], name) for s in symbols])[order].tolist()
            return values

        seq_ts, seq_o, seq_h, seq_l, seq_c = (column(c) for c in ("open_ms", "open", "high", "low", "close"))
        names = np.array(symbols, dtype=object)
        seq_sym = names[np.concatenate([np.full(len(self.data[s]), i) for i, s in enumerate(symbols)])[order]].tolist()
        total = len(seq_ts)
        # The last bar of each time: the equity curve takes one point per bar time.
        ts_arr = np.asarray(seq_ts, dtype=np.int64)
        last_of_time = np.append(ts_arr[1:] != ts_arr[:-1], True).tolist() if total else []
        eq_ts: list[int] = []
        eq: list[float] = []
        filled: set[str] = set()
        bar_ms, funding, next_open = self.bar_ms, self.options.funding_rate_8h != 0.0, self.options.entry == "next_open"
        broker, router, engine, pending = self.broker, self.router, self.engine, self.pending
        positions, MarketData = broker.positions, m.MarketData
        point, on_market_data, on_market, equity = engine.point, router.on_market_data, broker.on_market, self._equity
        for k in range(total):
            t = seq_ts[k]
            symbol = seq_sym[k]
            c = seq_c[k]
            close_ms = t + bar_ms
            opened = False
            if next_open:
                if k == 0 or seq_ts[k - 1] != t:
                    # Every symbol's orders for this open fill before any bar of this time reaches its close: the
                    # router's clock must not pass a bar's close while another symbol's order waits for its open.
                    filled = set()
                    j = k
                    while j < total and seq_ts[j] == t:
                        if seq_sym[j] in pending and self._fill_pending(seq_sym[j], t, seq_o[j]):
                            filled.add(seq_sym[j])
                        j += 1
                    for sym_p in [sp for sp, (due, _) in pending.items() if due <= t and sp not in filled]:
                        self._drop_pending(sym_p, t)  # no bar of it at the open its orders waited for
                opened = symbol in filled
            if funding and t % FUNDING_MS == 0:
                self._funding(symbol, t)
            md = MarketData(symbol=symbol, kind="trade", price=c, event_time=close_ms, recv_time=close_ms, ts=close_ms)
            if symbol in positions:
                self._path(symbol, seq_o[k], seq_h[k], seq_l[k], c, close_ms, opened, md)
            else:
                on_market(md)
            out = on_market_data(md, close_ms)
            if out.commands:
                self._route(out, close_ms, symbol)
            emitted = point(symbol, c)
            if emitted is not None:
                self._signal(emitted, close_ms)
            if last_of_time[k]:
                eq_ts.append(close_ms)
                eq.append(equity())
            if progress is not None and k % PROGRESS_EVERY == 0:
                progress(k, total)
        self.counts.bars = total
        end = eq_ts[-1] if eq_ts else 0
        self._finish(end)
        if eq:
            eq[-1] = broker.equity()  # after the end-of-data closes: the final equity is the wallet
        if progress is not None:
            progress(total, total)
        self.counts.denials = dict(router.denials)
        self.counts.unanswered = router.unanswered
        return Run(
            settings=self.settings,
            options=self.options,
            bar_ms=bar_ms,
            data=self.data,
            rules=self.rules,
            statuses=self.statuses,
            trips=self.trips,
            equity_ts=np.array(eq_ts, dtype=np.int64),
            equity=np.array(eq, dtype=np.float64),
            counts=self.counts,
            elapsed_s=time.perf_counter() - started,
        )

    def _finish(self, now: int) -> None:
        """End of data: orders still waiting for an open are dropped, open positions closed at the last close."""
        for symbol in list(self.pending):
            self._drop_pending(symbol, now, "the data ended before the next open")
        self._at_open = True  # no bar follows: whatever the closes lead to fills now
        out = self.router.on_control(m.Control(command="flatten", origin="backtest", ts=now), now)
        for cmd in out.commands:
            self.reasons[cmd.id] = "end_of_data"
            self._execute(cmd, now)
