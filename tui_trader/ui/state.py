"""What the desk knows, folded from bus messages into plain dicts and deques. Pure: no Textual, no bus, no clock.

The bridge feeds every decoded message to `DeskModel.on_<kind>`; the panes read the state on the UI clock.
Positions come from the same `Portfolio` class the router uses, folded from the same commands and statuses,
so the desk and the router show the same numbers.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Literal

from tui_trader import messages as m
from tui_trader.portfolio import Portfolio
from tui_trader.ui.session_results import SessionResults

# One sparkline point per 5 s of exchange time (the last price seen in it); 120 points = 10 minutes.
SPARK_BUCKET_MS = 5000
SPARK_POINTS = 120
# Order log rows kept (oldest dropped first); the log is for the trader's eyes, the journal keeps all.
MAX_ORDER_ROWS = 500
MAX_NOTICES = 50
NOTICE_REPEAT_MS = 60_000  # the same component in the same bad state is notified at most this often
DAY_MS = 86_400_000

Severity = Literal["information", "warning", "error"]


@dataclass
class Quote:
    symbol: str
    last: float = 0.0
    bid: float = 0.0
    ask: float = 0.0
    first: float = 0.0  # first trade price seen: "change since start"
    event_time: int = 0  # exchange time of the newest message (ms)
    # The venue's mark price, funding rate per interval and next funding time (from kind="mark" records;
    # 0 / None: none seen, e.g. a recording without marks).
    mark: float = 0.0
    funding_rate: float | None = None
    next_funding: int = 0
    spark: collections.deque = field(default_factory=lambda: collections.deque(maxlen=SPARK_POINTS))
    _bucket: int = -1

    def update(self, md: m.MarketData) -> None:
        if md.price > 0:
            self.last = md.price
            if self.first <= 0:
                self.first = md.price
            bucket = md.event_time // SPARK_BUCKET_MS
            if bucket == self._bucket and self.spark:
                self.spark[-1] = md.price
            elif bucket > self._bucket:
                self.spark.append(md.price)
                self._bucket = bucket
        if md.kind == "mark":
            if md.mark_price > 0:
                self.mark = md.mark_price
            self.funding_rate = md.funding_rate
            if md.next_funding_time > 0:
                self.next_funding = md.next_funding_time
        if md.bid > 0:
            self.bid = md.bid
        if md.ask > 0:
            self.ask = md.ask
        if md.event_time > self.event_time:
            self.event_time = md.event_time

    @property
    def spread_bps(self) -> float | None:
        if self.bid <= 0 or self.ask <= 0:
            return None
        mid = (self.bid + self.ask) / 2
        return (self.ask - self.bid) / mid * 10_000

    @property
    def change_pct(self) -> float | None:
        if self.first <= 0 or self.last <= 0:
            return None
        return (self.last - self.first) / self.first * 100


@dataclass
class OrderRow:
    """One line of the order log: an order id with its latest status."""

    seq: int
    order_id: str
    ts: int
    symbol: str
    side: str
    qty: float
    purpose: str
    status: str
    price: float
    mode: str
    filled: float = 0.0
    reason: str = ""
    rev: int = 0  # bumped on every change, so the log redraws only rows that changed
    denial: bool = False  # a router denial (no command behind it)
    repeats: int = 1  # identical denials in a row, folded into this one


@dataclass(frozen=True)
class Notice:
    severity: Severity
    title: str
    message: str


@dataclass
class DeskModel:
    """Everything the desk shows, as folded from the topics. Facts other workers own are kept as their last
    record and read through properties (paused and halted: the router's; the mode: the executor's)."""

    starting_balance: float
    mode: str = "paper"
    quotes: dict[str, Quote] = field(default_factory=dict)
    signals: dict[str, m.TradingSignal] = field(default_factory=dict)
    indicator_values: dict[str, m.IndicatorValues] = field(default_factory=dict)  # the newest per symbol
    orders: dict[str, OrderRow] = field(default_factory=dict)
    health: dict[str, m.Health] = field(default_factory=dict)
    account: m.Account | None = None
    realized_by_day: dict[int, float] = field(default_factory=dict)
    fees_by_day: dict[int, float] = field(default_factory=dict)
    records: collections.Counter = field(default_factory=collections.Counter)
    gaps: collections.Counter = field(default_factory=collections.Counter)
    notices: collections.deque = field(default_factory=lambda: collections.deque(maxlen=MAX_NOTICES))
    replay_done: str = ""
    # The router's last Health record: the one owner of paused, halted and the daily loss limit.
    router: m.Health | None = None
    # The mode is what the executor reports it acts in (its "mode" Health record, an acting Account), never
    # what was asked for: a requested switch shows as switching until the executor answers.
    mode_ts: int = 0  # time of the record the mode was last taken from
    mode_requested: str = ""  # a switch asked for and not answered yet ("" = none)
    mode_requested_ts: int = 0
    mode_refusal: str = ""  # why the executor refused the last switch ("" = it did not)
    paper_book: m.Account | None = None  # a non-acting broker's account (an earlier paper session's book)
    # The watchdog's alarm: what is wrong and the symbols concerned ("" = no alarm).
    alarm: str = ""
    alarm_symbols: tuple[str, ...] = ()
    alarm_ts: int = 0
    # Bumped per area on every change, so a pane whose data did not move skips its redraw.
    versions: collections.Counter = field(default_factory=collections.Counter)
    _noticed: dict = field(default_factory=dict)  # (component, state) -> ts of the last notice
    portfolio: Portfolio = field(init=False)
    _seq: int = 0
    alarm_count: int = 0  # alarms raised (each rings the terminal bell once)
    position_mode: dict = field(default_factory=dict)  # symbol -> mode of the broker that filled its entry
    _mode_asks: set = field(default_factory=set)  # (origin, ts, arg) of set_mode controls applied
    results: SessionResults = field(default_factory=SessionResults)  # trips, prices, equity: the Results screen

    def __post_init__(self) -> None:
        self.portfolio = Portfolio(self.starting_balance)

    # --- the trading state, as the router published it -------------------------------------------------

    @property
    def router_state(self) -> str:
        """trading | paused | halted | daily_loss_limit | waiting ("" before the router's first record)."""
        return self.router.state if self.router is not None else ""

    @property
    def halt(self) -> m.HaltState:
        r = self.router
        if r is None:
            return m.HaltState()
        if r.halt is None:  # a router of an older version: its state word is all there is
            return m.HaltState(halted=r.state == "halted")
        return r.halt

    @property
    def halted(self) -> bool:
        return self.halt.halted

    @property
    def paused(self) -> bool:
        """No new entries: paused, or halted (a halted router is also paused until re-armed and resumed)."""
        return self.halted or self.router_state == "paused"

    @property
    def halted_at(self) -> int:
        return self.halt.halted_at or 0

    @property
    def halt_detail(self) -> str:
        h = self.halt
        if not h.halted:
            return ""
        return h.detail or (f"kill switch ({h.halted_by})" if h.halted_by else "kill switch")

    def notice(self, severity: Severity, title: str, message: str) -> None:
        self.notices.append(Notice(severity, title, message))

    # --- market data ----------------------------------------------------------------------------------

    def on_market_data(self, md: m.MarketData) -> None:
        q = self.quotes.get(md.symbol)
        if q is None:
            q = self.quotes[md.symbol] = Quote(md.symbol)
        q.update(md)
        if q.last > 0:
            self.portfolio.mark(md.symbol, q.last)
        self.results.on_market_data(md, self.portfolio.equity)

    def stale_symbols(self, now_ms: int, stale_after_s: float) -> set[str]:
        """Symbols whose newest message is older than the feed's staleness limit, or that a feed says are stale."""
        out = {s for s, q in self.quotes.items() if now_ms - q.event_time > stale_after_s * 1000}
        for h in self.health.values():
            if m.split_component(h.component)[0] == m.FEED and h.state in ("stale", "down"):
                out.update(h.symbols)
        return out

    # --- signals --------------------------------------------------------------------------------------

    def on_signal(self, sig: m.TradingSignal) -> None:
        self.signals[sig.symbol] = sig
        self.versions["signals"] += 1

    def on_indicator_values(self, values: m.IndicatorValues) -> None:
        self.indicator_values[values.symbol] = values
        self.versions["indicator_values"] += 1

    # --- orders ---------------------------------------------------------------------------------------

    def _new_row(self, **kw) -> OrderRow:
        self._seq += 1
        row = OrderRow(seq=self._seq, **kw)
        self.orders[row.order_id] = row
        if len(self.orders) > MAX_ORDER_ROWS:
            del self.orders[next(iter(self.orders))]
        return row

    def on_command(self, cmd: m.OrderCommand) -> None:
        self.versions["orders"] += 1
        self.portfolio.on_command(cmd)  # cmd.mode is what the router asked for, not what the executor did
        self.results.on_command(cmd)
        if cmd.id in self.orders:
            return
        self._new_row(
            order_id=cmd.id,
            ts=cmd.ts,
            symbol=cmd.symbol,
            side=cmd.side,
            qty=cmd.quantity,
            purpose=cmd.purpose,
            status="sent",
            price=cmd.ref_price,
            mode=cmd.mode,
        )

    def on_status(self, st: m.OrderStatus) -> None:
        self.versions["orders"] += 1
        if st.purpose == "entry" and st.filled_qty > 0:
            self.position_mode[st.symbol] = st.mode
        for fill in self.portfolio.apply(st):
            day = fill.ts // DAY_MS
            self.realized_by_day[day] = self.realized_by_day.get(day, 0.0) + fill.realized_pnl
            self.fees_by_day[day] = self.fees_by_day.get(day, 0.0) + fill.fee
        self.results.on_status(st, self.portfolio.equity)
        row = self.orders.get(st.order_id)
        if row is None and st.status == "rejected" and self._repeat_denial(st):
            return
        if row is None:
            row = self._new_row(
                order_id=st.order_id,
                ts=st.ts,
                symbol=st.symbol,
                side=st.side,
                qty=st.filled_qty,
                purpose=st.purpose,
                status=st.status,
                price=st.avg_price,
                mode=st.mode,
                denial=st.status == "rejected",
            )
        row.status = st.status
        row.rev += 1
        if st.filled_qty > 0:
            row.filled = st.filled_qty
            if row.qty <= 0:
                row.qty = st.filled_qty
        if st.avg_price > 0:
            row.price = st.avg_price
        if st.error:
            row.reason = st.error
        if st.status == "error":
            self.notice("error", "Order error", f"{st.symbol} {st.side} {st.purpose}: {st.error or 'no detail'}")

    def _repeat_denial(self, st: m.OrderStatus) -> bool:
        """A denial for the same symbol and rule as the newest row folds into it (count, time, reason):
        while halted or in a cooldown the router denies every signal, and a log of identical rows would
        push the orders that matter (the kill's closes) off the screen."""
        if not self.orders:
            return False
        newest = self.orders[next(reversed(self.orders))]
        rule = (st.error or "").split(":", 1)[0]
        if not (newest.denial and newest.symbol == st.symbol and newest.reason.split(":", 1)[0] == rule):
            return False
        newest.repeats += 1
        newest.ts, newest.side, newest.reason = st.ts, st.side, st.error or ""
        newest.rev += 1
        return True

    def orders_newest_first(self) -> list[OrderRow]:
        return list(reversed(self.orders.values()))  # insertion order is seq order

    def realized_today(self, now_ms: int) -> float:
        return self.realized_by_day.get(now_ms // DAY_MS, 0.0)

    def fees_today(self, now_ms: int) -> float:
        return self.fees_by_day.get(now_ms // DAY_MS, 0.0)

    # --- control, health, account ---------------------------------------------------------------------

    def on_control(self, c: m.Control) -> None:
        """A control changes nothing here by itself: the worker that acts on it publishes what changed (the
        router its state, the executor its mode). Only a mode switch asked for shows as pending until then."""
        if c.command == "set_mode" and c.arg in ("paper", "live"):
            # Asked, not done: the executor says when it acts in the new mode, or why it refused. The desk
            # applies its own request when sending it; the same record read back from the bus is not new.
            seen = (c.origin, c.ts, c.arg)
            if seen not in self._mode_asks:
                self._mode_asks.add(seen)
                self.mode_requested = c.arg if c.arg != self.mode else ""
                self.mode_requested_ts = c.ts
                self.mode_refusal = ""
        if c.origin != "desk":
            what = f" {', '.join(c.settings.values)}" if c.settings is not None else f" {c.arg}" if c.arg else ""
            self.notice("warning", "Control", f"{c.command}{what} from {c.origin}")

    def on_health(self, h: m.Health) -> None:
        before = self.health.get(h.component)
        self.health[h.component] = h
        if h.component == m.MODE_COMPONENT:
            self._on_mode(h)
            return
        if h.component == m.WATCHDOG_COMPONENT:
            self._on_watchdog(h, before)
            return
        if h.component == m.ROUTER_COMPONENT:
            self.router = h  # the newest on the topic is the router's state now, whatever its clock says
            self.versions["router"] += 1
        if before is not None and before.state == h.state:
            return
        kind, name = m.split_component(h.component)
        bad = (kind == m.WORKER and h.state in ("restarting", "failed")) or (
            kind in (m.FEED, m.BROKER) and h.state in ("down", "stale", "gap")
        )
        if bad:
            # A reconnect loop goes down, connecting, down… every few seconds: say it once a minute.
            last = self._noticed.get((h.component, h.state))
            if last is not None and 0 <= h.ts - last < NOTICE_REPEAT_MS:
                return
            self._noticed[(h.component, h.state)] = h.ts
        if kind == m.WORKER and h.state in ("restarting", "failed"):
            self.notice("error", f"Worker {name} {h.state}", h.detail or h.state)
        elif kind in (m.FEED, m.BROKER) and h.state in ("down", "stale", "gap"):  # gap: trades lost (feed:gaps)
            self.notice("warning", f"{kind.capitalize()} {h.state}", h.detail or h.component)
        elif h.component == m.ROUTER_COMPONENT and h.state == "daily_loss_limit":
            self.notice("warning", "Daily loss limit", h.detail)

    def _on_mode(self, h: m.Health) -> None:
        if h.state not in ("paper", "live") or h.ts < self.mode_ts:
            return
        requested = self.mode_requested
        # The executor publishes this record at start and after every set_mode. The answer to a request is the
        # record in the requested mode, or one with a refusal, or a later one: not only by time, since the
        # workers' clock may run behind the desk's (an attached desk on another machine).
        answered = bool(requested) and (h.state == requested or bool(h.detail) or h.ts >= self.mode_requested_ts)
        self._set_mode(h.state, h.ts)
        if answered or not requested:
            # The executor's answer to the switch asked for (or a switch asked elsewhere): its refusal, if any.
            if h.detail and (answered or h.detail != self.mode_refusal):
                self.notice("error", f"{(requested or 'live').upper()} refused", h.detail)
            self.mode_refusal = h.detail
            self.mode_requested = ""

    def _set_mode(self, mode: str, ts: int) -> None:
        self.mode_ts = ts
        if mode == self.mode:
            return
        self.mode = mode
        self.versions["mode"] += 1
        if mode == "paper" and self.portfolio.balance_from_exchange:
            self.portfolio.use_starting_balance()
        self.notice(
            "warning",
            "Mode",
            "LIVE: orders go to the exchange" if mode == "live" else "PAPER: orders go to the paper broker",
        )

    def _on_watchdog(self, h: m.Health, before: m.Health | None) -> None:
        if h.state == "alarm":
            new = before is None or before.state != "alarm" or before.detail != h.detail
            self.alarm, self.alarm_symbols, self.alarm_ts = h.detail or "watchdog alarm", tuple(h.symbols), h.ts
            if new:
                self.alarm_count += 1
                self.notice("error", "Watchdog ALARM", self.alarm)
                self._alarm_row(h, "alarm", self.alarm)
        elif self.alarm:
            self._alarm_row(h, "ok", f"cleared: {self.alarm}")
            self.alarm, self.alarm_symbols = "", ()
        self.versions["alarm"] += 1

    def _alarm_row(self, h: m.Health, status: str, text: str) -> None:
        """The alarm and its end in the order log, where the trader reads what happened to orders."""
        self.versions["orders"] += 1
        self._new_row(
            order_id=f"watchdog-{h.ts}-{status}",
            ts=h.ts,
            symbol=",".join(h.symbols) or "-",
            side="",
            qty=0.0,
            purpose="watchdog",
            status=status,
            price=0.0,
            mode=self.mode,
            reason=text,
        )

    def on_account(self, a: m.Account) -> None:
        if not a.acting:
            # Another broker's book (an earlier paper session after a switch to live): shown as such, it
            # never sets the mode, the balance or the positions at risk.
            self.paper_book = a
            self.versions["account"] += 1
            return
        if a.ts < self.mode_ts and a.mode != self.mode:
            return  # older than the mode the executor reported since
        self.account = a
        self.versions["account"] += 1
        if self.paper_book is not None and self.paper_book.mode == a.mode:
            self.paper_book = None  # that broker acts again
        self._set_mode(a.mode, max(a.ts, self.mode_ts))
        if self.mode_requested == a.mode:
            self.mode_requested = ""
        if a.mode == "live":
            self.portfolio.set_balance(a.balance_total)
        for snap in a.positions:
            if snap.liquidation_price is not None:
                self.portfolio.set_liquidation_price(snap.symbol, snap.liquidation_price)

    def feed_state(self) -> str:
        """One word for the status bar: the worst state of any feed connection."""
        if self.replay_done:
            return "replay done"
        states = [h.state for h in self.health.values() if m.split_component(h.component)[0] == m.FEED]
        # "gap": the collector lost trades of a symbol (its `feed:gaps` record) and the feed is not whole yet.
        for worst in ("down", "stale", "gap", "connecting"):
            if worst in states:
                return worst
        return "live" if states else "waiting"

    def worker_states(self) -> dict[str, str]:
        parts = ((m.split_component(h.component), h.state) for h in self.health.values())
        return {name: state for (kind, name), state in parts if kind == m.WORKER}

    def acting_positions(self) -> dict:
        """The desk's positions opened with the acting broker (a paper position left in the paper book after a
        switch to live is not at risk: the paper book line shows it)."""
        # A live position is always at risk, whatever the desk has heard about the mode so far.
        return {
            s: p
            for s, p in self.portfolio.positions.items()
            if not (self.mode == "live" and self.position_mode.get(s) == "paper")
        }

    def account_positions(self) -> dict[str, m.PositionSnapshot]:
        """The broker's own positions (shown for symbols the desk has no fills for, e.g. after a restart)."""
        if self.account is None:
            return {}
        return {p.symbol: p for p in self.account.positions}
