"""The paper broker: a simulated USD-M account that fills from the market data the desk sees.

Rules:
- a market order fills at the ask (buy) or bid (sell) of the latest book, or the last trade when no book has
  been seen, made `slippage_bps` worse; `taker_fee` is charged on the notional of every fill;
- isolated margin: an entry locks notional / leverage; the liquidation price is where the position's equity
  (margin + unrealised PnL) falls to `maintenance_margin_rate` × notional, and a trade at or through it
  liquidates the position (the remaining margin is lost as the exchange's clearance fee);
- stop-loss and take-profit are resting reduce-only triggers placed from the entry's fill: the command carries
  the plan at its ref_price, and the same relative distances are applied to the fill's average price (the
  position's average entry when adding), rounded to the tick toward it, so slippage never brings a stop closer
  nor a target farther than planned. If the market (the last good trade) is already beyond a trigger when the
  fill is known, the position is closed at once and the status says why;
- triggers are checked against every good trade (see `price_band`): a stop fills at the worse of its trigger
  and that trade, never farther than `risk.price_band_pct` beyond the trigger; a take-profit fills at its
  trigger; when one fills the other is canceled;
- sane prices only: a trade that is not finite and positive, or lies outside the band of the last good trade,
  neither fires a trigger nor prices a fill (it is counted in `band.quarantined`). An entry whose market price
  (book side, or last trade) lies outside the band is refused with the reason; a close (close, flatten, kill)
  is never refused for it: it fills at the last good trade instead, and the status says so;
- reduce-only orders never open or flip a position: the quantity is capped to the position;
- perpetual mark and funding (from `kind="mark"` market data): positions are valued and liquidated at the
  venue's mark price, not the last trade (a wick in the trades does not liquidate, a mark through the
  liquidation price does); until a symbol's first mark the last good trade stands in (recordings and
  backtests without marks). Stop-loss and take-profit trigger on `risk.trigger_price` ("mark", as Binance's
  workingType MARK_PRICE, or "last"), again the last trade until a mark is known. At each funding time a
  position open then pays (rate > 0 for a long, < 0 for a short) or receives quantity × mark × rate, the
  rate and time being the last ones the venue announced before it; the amount goes to the wallet, is kept
  per position (`funding`) and in total (`funding_paid`), apart from fees.

Nothing here awaits, reads a clock or draws a random number: the same market data and commands give the same
fills (the replay's determinism rests on it). The async methods only satisfy the Broker interface.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from tui_trader import messages as m
from tui_trader.brokers.base import (
    NO_POSITION,
    AccountView,
    Broker,
    Report,
    anchored_protection,
    derived_id,
    rejected,
)
from tui_trader.brokers.price_band import PriceBand, usable
from tui_trader.instruments import InstrumentRules, RulesBook, UnknownInstrument
from tui_trader.settings import PaperSettings, RiskSettings


@dataclass
class Trigger:
    order_id: str
    purpose: Literal["stop_loss", "take_profit"]
    price: float


@dataclass
class PaperPosition:
    symbol: str
    side: m.PositionSide
    quantity: float
    entry_price: float
    leverage: int
    margin: float
    liquidation_price: float
    entry_id: str
    stop_loss: Trigger | None = None
    take_profit: Trigger | None = None
    funding: float = 0.0  # funding received (+) or paid (−) while open, USDT

    @property
    def sign(self) -> int:
        return 1 if self.side == "long" else -1

    def pnl(self, price: float) -> float:
        return (price - self.entry_price) * self.quantity * self.sign

    def triggers(self) -> list[Trigger]:
        return [t for t in (self.stop_loss, self.take_profit) if t is not None]


def liquidation_price(side: m.PositionSide, entry: float, quantity: float, margin: float, mmr: float) -> float:
    """Where margin + unrealised PnL = mmr × notional (isolated margin, one position).

    long: margin + (P − E)·q = mmr·P·q  →  P = (E·q − margin) / (q·(1 − mmr))
    short: margin + (E − P)·q = mmr·P·q  →  P = (E·q + margin) / (q·(1 + mmr))
    """
    if side == "long":
        return max(0.0, (entry * quantity - margin) / (quantity * (1 - mmr)))
    return (entry * quantity + margin) / (quantity * (1 + mmr))


class PaperBroker(Broker):
    mode: m.Mode = "paper"
    exchange = "paper"

    def __init__(
        self,
        settings: PaperSettings,
        rules: RulesBook | None = None,
        risk: RiskSettings | None = None,
        trigger_price: Literal["mark", "last"] | None = None,
    ) -> None:
        self.settings = settings
        risk = risk if risk is not None else RiskSettings()
        self.trigger_price = trigger_price or risk.trigger_price
        self.marks: dict[str, float] = {}  # symbol → latest sane mark price
        # symbol → (next funding time ms, rate announced for it); settled once the market's time passes it.
        self.next_funding: dict[str, tuple[int, float]] = {}
        self.funding_paid = 0.0  # net funding over the session: received (+) or paid (−), USDT
        # Settlements not yet taken by the caller (the executor journals them): (funding time ms, symbol, amount).
        self.settled: list[tuple[int, str, float]] = []
        self.book = rules if rules is not None else RulesBook()
        self.band = PriceBand(risk.price_band_pct)
        self.wallet = settings.starting_balance  # realised balance: deposits + realised PnL − fees
        self.positions: dict[str, PaperPosition] = {}
        self.quotes: dict[str, tuple[float, float]] = {}  # symbol → (bid, ask)
        self.last = self.band.last  # symbol → last good trade price
        # Positions rebuilt from the journal: their entry price checks the first trade after the restart, so a
        # first absurd print cannot fire their triggers (there is no good trade yet to compare it with).
        self._restored_entry: dict[str, float] = {}
        self.leverage: dict[str, int] = {}
        self.executed: set[str] = set()
        self.fills = 0
        self.fees = 0.0

    def restore(
        self,
        commands: list[m.OrderCommand],
        statuses: list[m.OrderStatus],
        funding: Iterable[tuple[int, str, str, float]] = (),
    ) -> str:
        """Rebuild the account from journaled paper commands, fills and funding settlements (ts, mode, symbol,
        received + / paid −) (a restart of a live-clock paper desk): the wallet, open positions and their
        resting triggers. Returns what was restored, for the log."""
        from tui_trader.portfolio.positions import Portfolio  # the one fold of fills into positions

        book = Portfolio(self.settings.starting_balance)
        for cmd in commands:
            if cmd.mode == "paper":
                book.on_command(cmd)
                self.executed.add(cmd.id)
        for st in statuses:
            if st.mode == "paper":
                book.apply(st)
        self.funding_paid = sum(amount for _, mode, _, amount in funding if mode == "paper")
        self.wallet = self.settings.starting_balance + book.realized_pnl - book.fees + self.funding_paid
        self.fees = book.fees
        mmr = self.settings.maintenance_margin_rate
        placed = _placed_protection(statuses)
        for pos in book.positions.values():
            margin = pos.quantity * pos.entry_price / max(1, pos.leverage)
            entry_id, sl_price, tp_price = placed.get(pos.symbol, ("", None, None))
            # A journal written before entries carried their placed prices: the command's plan was placed.
            sl_price = pos.stop_loss if sl_price is None else sl_price
            tp_price = pos.take_profit if tp_price is None else tp_price
            restored = PaperPosition(
                pos.symbol,
                pos.side,
                pos.quantity,
                pos.entry_price,
                pos.leverage,
                margin,
                liquidation_price(pos.side, pos.entry_price, pos.quantity, margin, mmr),
                entry_id=entry_id,
            )
            if sl_price is not None and pos.stop_loss_order_id:
                restored.stop_loss = Trigger(pos.stop_loss_order_id, "stop_loss", sl_price)
            if tp_price is not None and pos.take_profit_order_id:
                restored.take_profit = Trigger(pos.take_profit_order_id, "take_profit", tp_price)
            self.positions[pos.symbol] = restored
            self._restored_entry[pos.symbol] = pos.entry_price
        if not commands:
            return ""
        held = ", ".join(f"{p.symbol} {p.side} {p.quantity:g}" for p in self.positions.values()) or "no positions"
        return f"wallet {self.wallet:.2f} USDT, {held}"

    # --- Broker interface ---------------------------------------------------------------------------

    def rules(self) -> dict[str, InstrumentRules]:
        return {}

    async def prepare(self, symbol: str, leverage: int) -> None:
        self.leverage[symbol] = leverage

    async def enter(self, cmd: m.OrderCommand) -> list[Report]:
        return self.enter_now(cmd)

    async def reduce(self, cmd: m.OrderCommand) -> list[Report]:
        return self.reduce_now(cmd)

    async def account(self) -> AccountView:
        return self.account_now()

    def on_market(self, md: m.MarketData) -> list[Report]:
        due = self.next_funding.get(md.symbol)
        if due is not None and md.event_time >= due[0]:
            self._settle_funding(md.symbol, *due)
        if md.kind == "mark":
            return self._on_mark(md)
        if md.kind == "book":
            if usable(md.bid) and usable(md.ask):
                self.quotes[md.symbol] = (md.bid, md.ask)
            else:
                self.band.quarantined["bad_book"] += 1
            return []
        price = self.band.on_trade(md.symbol, md.price, self._restored_entry.get(md.symbol))
        if price is None:
            return []  # an absurd print neither fires a trigger nor moves the reference
        marked = md.symbol in self.marks
        return self._check_triggers(
            md.symbol, price, stops=not (marked and self.trigger_price == "mark"), liquidation=not marked
        )

    def _on_mark(self, md: m.MarketData) -> list[Report]:
        """A mark price (and funding) update: remember it, schedule the next funding, and check liquidation
        (and the stops when they work on the mark) against it."""
        symbol, mark = md.symbol, md.mark_price
        # It carries the latest book and trade price too, and a consumer that keeps only the latest record per
        # symbol (no position open) may see only it: they keep the quotes and the band's reference current.
        if usable(md.bid) and usable(md.ask):
            self.quotes[symbol] = (md.bid, md.ask)
        if md.price > 0:
            self.band.on_trade(symbol, md.price, self._restored_entry.get(symbol))
        if md.next_funding_time > 0 and usable(abs(md.funding_rate) + 1):
            self.next_funding[symbol] = (md.next_funding_time, md.funding_rate)
        ref = self.last.get(symbol)
        if not usable(mark) or (ref is not None and self.band.outside(symbol, mark) is not None):
            self.band.quarantined["bad_mark"] += 1  # the parser bands marks too; this broker trusts nothing
            return []
        self.marks[symbol] = mark
        return self._check_triggers(symbol, mark, stops=self.trigger_price == "mark", liquidation=True)

    def _settle_funding(self, symbol: str, when: int, rate: float) -> None:
        """Funding at `when`: a position open then pays or receives quantity × mark × rate (longs pay a positive
        rate, shorts receive it)."""
        del self.next_funding[symbol]
        pos = self.positions.get(symbol)
        if pos is None or rate == 0:
            return
        mark = self.marks.get(symbol) or self.last.get(symbol, pos.entry_price)
        amount = -pos.sign * pos.quantity * mark * rate
        pos.funding += amount
        self.funding_paid += amount
        self.wallet += amount
        self.settled.append((when, symbol, amount))

    def take_settlements(self) -> list[tuple[int, str, float]]:
        """The funding settlements since the last call: (funding time ms, symbol, received + / paid −)."""
        out, self.settled = self.settled, []
        return out

    # --- the simulation (synchronous) ---------------------------------------------------------------

    def quote(self, symbol: str, side: m.Side) -> float | None:
        """The market price an order on `side` takes now: ask/bid of the latest book, else the last good trade."""
        bid, ask = self.quotes.get(symbol, (0.0, 0.0))
        px = ask if side == "buy" else bid
        if px <= 0:
            px = self.last.get(symbol, 0.0)
        return px if px > 0 else None

    def price_for(self, symbol: str, side: m.Side) -> float | None:
        """Where a market order would fill now: `quote` made worse by the slippage."""
        px = self.quote(symbol, side)
        return None if px is None else self._slip(px, side)

    def _band_problem(self, symbol: str, side: m.Side, px: float) -> str | None:
        """Why `px` may not price a fill (it lies outside the band of the last good trade), or None."""
        dev = self.band.outside(symbol, px)
        if dev is None:
            return None
        what = ("ask" if side == "buy" else "bid") if symbol in self.quotes else "price"
        return (
            f"price_band: {symbol} {what} {_px(px)} lies {dev:.1%} from the last good trade "
            f"{_px(self.last[symbol])} (band {self.band.band_pct:.1%})"
        )

    def _close_price(self, symbol: str, side: m.Side) -> tuple[float | None, str | None]:
        """Where a close fills, and a note when the book was out of band: a close is never refused for a bad
        book (a kill must always work), it fills at the last good trade instead."""
        px = self.quote(symbol, side)
        if px is None:
            return None, None
        problem = self._band_problem(symbol, side, px)
        if problem is None:
            return self._slip(px, side), None
        return self._slip(self.last[symbol], side), f"{problem}; filled at the last good trade"

    def _slip(self, price: float, side: m.Side) -> float:
        slip = self.settings.slippage_bps / 10_000
        return price * (1 + slip) if side == "buy" else price * (1 - slip)

    def _fee(self, price: float, qty: float) -> float:
        return price * qty * self.settings.taker_fee

    def _record_fill(self, fee: float) -> None:
        self.fills += 1
        self.fees += fee

    def enter_now(self, cmd: m.OrderCommand) -> list[Report]:
        if cmd.id in self.executed:
            return [rejected(cmd, "duplicate: this command id was already executed")]
        self.executed.add(cmd.id)
        try:
            rules = self.book.get(cmd.symbol)
        except UnknownInstrument as err:
            return [rejected(cmd, f"unknown_instrument: {err.args[0]}")]
        bad = _bad_numbers(cmd)
        if bad is not None:
            return [rejected(cmd, f"invalid_order: {bad}")]
        qty = rules.round_qty_down(cmd.quantity)
        if qty < rules.min_qty or qty <= 0:
            return [rejected(cmd, f"invalid_order: quantity {cmd.quantity:g} is below the minimum {rules.min_qty:g}")]
        market = self.quote(cmd.symbol, cmd.side)
        if market is None:
            return [rejected(cmd, f"no_price: no book or trade seen for {cmd.symbol} yet")]
        problem = self._band_problem(cmd.symbol, cmd.side, market)
        if problem is not None:
            return [rejected(cmd, f"{problem}; not filled")]
        price = self._slip(market, cmd.side)
        notional = price * qty
        if notional < rules.min_notional:
            return [
                rejected(
                    cmd, f"invalid_order: notional {notional:.2f} USDT is below the minimum {rules.min_notional:g} USDT"
                )
            ]
        side: m.PositionSide = m.position_side(cmd.side)
        pos = self.positions.get(cmd.symbol)
        if pos is not None and pos.side != side:
            return [rejected(cmd, f"opposite_position: a {pos.side} {cmd.symbol} position is open; close it first")]
        leverage = max(1, cmd.leverage)
        margin = notional / leverage
        fee = self._fee(price, qty)
        free = self.free_balance()
        if margin + fee > free:
            return [
                rejected(
                    cmd,
                    f"insufficient_margin: margin {margin:.2f} + fee {fee:.2f} USDT exceed the free balance {free:.2f} USDT",
                )
            ]
        self.wallet -= fee
        self._record_fill(fee)
        mmr = self.settings.maintenance_margin_rate
        old_triggers: list[Trigger] = []
        if pos is None:
            liq = liquidation_price(side, price, qty, margin, mmr)
            pos = PaperPosition(cmd.symbol, side, qty, price, leverage, margin, liq, cmd.id)
            self.positions[cmd.symbol] = pos
        else:  # adding to a position: one average entry, margins add up, protection re-placed for the total
            total = pos.quantity + qty
            pos.entry_price = (pos.entry_price * pos.quantity + price * qty) / total
            pos.quantity = total
            pos.margin += margin
            pos.leverage = leverage
            pos.entry_id = cmd.id
            pos.liquidation_price = liquidation_price(side, pos.entry_price, total, pos.margin, mmr)
            old_triggers = pos.triggers()
            pos.stop_loss = pos.take_profit = None
        fill = Report(
            order_id=cmd.id,
            symbol=cmd.symbol,
            side=cmd.side,
            purpose="entry",
            status="filled",
            filled_qty=qty,
            avg_price=price,
            fee=fee,
        )
        reports = [fill]
        close_side = m.closing_side(side)
        reports.extend(
            Report(order_id=trig.order_id, symbol=cmd.symbol, side=close_side, purpose=trig.purpose, status="canceled")
            for trig in old_triggers
        )
        reports += self._protect(cmd, pos, fill, rules.tick)
        return reports

    def _protect(self, cmd: m.OrderCommand, pos: PaperPosition, fill: Report, tick: float) -> list[Report]:
        """Place the stop-loss and take-profit triggers, re-anchored from the command's plan at ref_price onto
        the position's average entry (the fill's price for a new position); if one would fire at once (the
        last good trade is already beyond it), close the position at once."""
        ref = self.last.get(cmd.symbol, fill.avg_price)
        side = m.closing_side(pos.side)
        stop_loss, take_profit = anchored_protection(cmd, pos.entry_price, tick)
        placed: list[Trigger] = []
        legs: tuple[tuple[m.ProtectiveRole, float | None, str], ...] = (
            ("stop_loss", stop_loss, "sl"),
            ("take_profit", take_profit, "tp"),
        )
        for purpose, price, role in legs:
            if price is None:
                continue
            trig = Trigger(derived_id(cmd.id, role), purpose, price)
            problem = _trigger_problem(pos.side, trig, ref)
            if problem is not None:
                # Binance answers -2021 "Order would immediately trigger." here; the paper broker does the same.
                out = [
                    Report(
                        order_id=trig.order_id,
                        symbol=cmd.symbol,
                        side=side,
                        purpose=purpose,
                        status="rejected",
                        error=f"protection_failed: {problem}",
                    )
                ]
                out += [
                    Report(order_id=t.order_id, symbol=cmd.symbol, side=side, purpose=t.purpose, status="canceled")
                    for t in placed
                ]
                out.append(
                    self._close_at_once(
                        pos, derived_id(cmd.id, "close"), f"protection_failed: {problem}; position closed at once"
                    )
                )
                return out
            placed.append(trig)
        for trig in placed:
            if trig.purpose == "stop_loss":
                pos.stop_loss = trig
                fill.stop_loss_order_id, fill.stop_loss_price = trig.order_id, trig.price
            else:
                pos.take_profit = trig
                fill.take_profit_order_id, fill.take_profit_price = trig.order_id, trig.price
        return [
            Report(order_id=t.order_id, symbol=cmd.symbol, side=side, purpose=t.purpose, status="accepted")
            for t in placed
        ]

    def _close_at_once(self, pos: PaperPosition, order_id: str, error: str) -> Report:
        price, _ = self._close_price(pos.symbol, m.closing_side(pos.side))
        return self._fill_close(pos, pos.quantity, price or pos.entry_price, order_id, "close", error)

    def _fill_close(
        self,
        pos: PaperPosition,
        qty: float,
        price: float,
        order_id: str,
        purpose: m.StatusPurpose,
        error: str | None = None,
        fee: float | None = None,
    ) -> Report:
        """Take `qty` off `pos` at `price`: realise PnL, charge the fee, release margin proportionally."""
        fee = self._fee(price, qty) if fee is None else fee
        share = qty / pos.quantity
        pnl = (price - pos.entry_price) * qty * pos.sign
        self.wallet += pnl - fee
        self._record_fill(fee)
        pos.margin -= pos.margin * share
        pos.quantity = round(pos.quantity - qty, 12)
        if pos.quantity <= 1e-12:
            self.positions.pop(pos.symbol, None)
        return Report(
            order_id=order_id,
            symbol=pos.symbol,
            side=m.closing_side(pos.side),
            purpose=purpose,
            status="filled",
            filled_qty=qty,
            avg_price=price,
            fee=fee,
            error=error,
        )

    def reduce_now(self, cmd: m.OrderCommand) -> list[Report]:
        if cmd.id in self.executed:
            return [rejected(cmd, "duplicate: this command id was already executed")]
        self.executed.add(cmd.id)
        pos = self.positions.get(cmd.symbol)
        if pos is None or cmd.side != m.closing_side(pos.side):
            # Reduce-only never opens or flips a position.
            return [rejected(cmd, NO_POSITION)]
        if not usable(cmd.quantity):
            return [rejected(cmd, f"invalid_order: quantity {cmd.quantity} is not a finite positive number")]
        price, note = self._close_price(cmd.symbol, cmd.side)
        if price is None:
            return [rejected(cmd, f"no_price: no book or trade seen for {cmd.symbol} yet")]
        try:
            qty = min(self.book.get(cmd.symbol).round_qty_down(cmd.quantity), pos.quantity)
        except UnknownInstrument:
            qty = min(cmd.quantity, pos.quantity)
        if qty <= 0:
            return [rejected(cmd, f"invalid_order: quantity {cmd.quantity:g} is below the step")]
        old = pos.triggers()
        reports = self._cancel_triggers(cmd.symbol)
        reports.append(self._fill_close(pos, qty, price, cmd.id, cmd.purpose, note))
        if cmd.symbol in self.positions and old:
            # A partial close keeps the rest protected: the same triggers, re-placed for what is left.
            side = m.closing_side(pos.side)
            for trig in old:
                new = Trigger(
                    derived_id(cmd.id, "sl" if trig.purpose == "stop_loss" else "tp"), trig.purpose, trig.price
                )
                setattr(pos, trig.purpose, new)
                reports.append(
                    Report(order_id=new.order_id, symbol=cmd.symbol, side=side, purpose=new.purpose, status="accepted")
                )
        return reports

    def _cancel_triggers(self, symbol: str) -> list[Report]:
        pos = self.positions.get(symbol)
        if pos is None:
            return []
        side = m.closing_side(pos.side)
        out = [
            Report(order_id=t.order_id, symbol=symbol, side=side, purpose=t.purpose, status="canceled")
            for t in pos.triggers()
        ]
        pos.stop_loss = pos.take_profit = None
        return out

    def _check_triggers(self, symbol: str, price: float, stops: bool = True, liquidation: bool = True) -> list[Report]:
        """Fire what `price` reaches: the stops when `stops` (the price is their working price), liquidation
        when `liquidation` (the price is the mark, or stands in for it)."""
        pos = self.positions.get(symbol)
        if pos is None:
            return []
        long = pos.side == "long"
        sl, tp, liq = pos.stop_loss, pos.take_profit, pos.liquidation_price
        if not stops:
            sl = tp = None
        sl_hit = sl is not None and (price <= sl.price if long else price >= sl.price)
        tp_hit = tp is not None and (price >= tp.price if long else price <= tp.price)
        liq_hit = liquidation and (price <= liq if long else price >= liq)
        side = m.closing_side(pos.side)
        if sl is not None and sl_hit and (not liq_hit or (sl.price > liq if long else sl.price < liq)):
            # A gap through the stop fills at the trade beyond it, but never farther than the band: the
            # stop itself is the good reference at this moment (the market was on its safe side), so even a
            # jump that `band` accepted after confirmation cannot cost more than the band beyond the stop.
            gap = self.band.band_pct
            # Triggered by the mark, the stop's market order fills at the market: the last good trade.
            market = self.last.get(symbol, price) if symbol in self.marks and self.trigger_price == "mark" else price
            fill_px = (
                max(min(sl.price, market), sl.price * (1 - gap))
                if long
                else min(max(sl.price, market), sl.price * (1 + gap))
            )
            return self._trigger_fill(pos, sl, pos.take_profit, self._slip(fill_px, side))
        if liq_hit:
            return self._liquidate(pos, liq)
        if tp is not None and tp_hit:
            return self._trigger_fill(pos, tp, pos.stop_loss, self._slip(tp.price, side))
        return []

    def _trigger_fill(self, pos: PaperPosition, fired: Trigger, sibling: Trigger | None, price: float) -> list[Report]:
        symbol, side = pos.symbol, m.closing_side(pos.side)
        pos.stop_loss = pos.take_profit = None
        out = [self._fill_close(pos, pos.quantity, price, fired.order_id, fired.purpose)]
        if sibling is not None:
            out.append(
                Report(order_id=sibling.order_id, symbol=symbol, side=side, purpose=sibling.purpose, status="canceled")
            )
        return out

    def _liquidate(self, pos: PaperPosition, price: float) -> list[Report]:
        out = self._cancel_triggers(pos.symbol)
        # What is left of the isolated margin at the liquidation price goes to the exchange (clearance fee),
        # so a liquidation costs exactly the position's margin.
        remaining = max(0.0, pos.margin + pos.pnl(price))
        error = f"liquidation: {pos.side} {pos.symbol} liquidated at {price:.2f} (isolated margin exhausted)"
        out.append(
            self._fill_close(
                pos, pos.quantity, price, derived_id(pos.entry_id, "liquidation"), "close", error, remaining
            )
        )
        return out

    # --- account --------------------------------------------------------------------------------------

    def free_balance(self) -> float:
        return self.wallet - sum(p.margin for p in self.positions.values())

    def mark_of(self, symbol: str, default: float) -> float:
        """The price positions are valued at: the venue's mark, else the last good trade, else `default`."""
        return self.marks.get(symbol) or self.last.get(symbol, default)

    def unrealized(self) -> float:
        return sum(p.pnl(self.mark_of(s, p.entry_price)) for s, p in self.positions.items())

    def equity(self) -> float:
        return self.wallet + self.unrealized()

    def account_now(self) -> AccountView:
        snaps = []
        for symbol in sorted(self.positions):
            p = self.positions[symbol]
            mark = self.mark_of(symbol, p.entry_price)
            # A paper trigger rests as long as it exists: it always covers the whole position (a partial close
            # re-places it for what is left).
            snaps.append(
                m.PositionSnapshot(
                    symbol=symbol,
                    side=m.opening_side(p.side),
                    quantity=p.quantity,
                    entry_price=p.entry_price,
                    mark_price=mark,
                    unrealized_pnl=p.pnl(mark),
                    leverage=p.leverage,
                    liquidation_price=p.liquidation_price,
                    stop_loss=p.stop_loss.price if p.stop_loss else None,
                    take_profit=p.take_profit.price if p.take_profit else None,
                    stop_loss_resting=p.stop_loss is not None,
                    take_profit_resting=p.take_profit is not None,
                    funding=p.funding,
                )
            )
        return AccountView(balance_total=self.equity(), balance_free=self.free_balance(), positions=snaps)


def _trigger_problem(side: m.PositionSide, trig: Trigger, ref: float) -> str | None:
    """Why a protective trigger cannot rest (it would fire at once), or None."""
    long = side == "long"
    if trig.purpose == "stop_loss":
        bad = trig.price >= ref if long else trig.price <= ref
    else:
        bad = trig.price <= ref if long else trig.price >= ref
    if bad:
        name = "stop-loss" if trig.purpose == "stop_loss" else "take-profit"
        return f"{name} {_px(trig.price)} would trigger immediately (last price {_px(ref)})"
    return None


def _bad_numbers(cmd: m.OrderCommand) -> str | None:
    """Why an entry's numbers cannot be filled or protected (not finite, zero or negative), or None."""
    for name, value in (("quantity", cmd.quantity), ("stop-loss", cmd.stop_loss), ("take-profit", cmd.take_profit)):
        if value is not None and not usable(value):
            return f"{name} {value} is not a finite positive number"
    if (cmd.stop_loss is not None or cmd.take_profit is not None) and not usable(cmd.ref_price):
        return f"ref_price {cmd.ref_price} is not a finite positive price to measure the protection from"
    return None


def _px(price: float) -> str:
    return f"{price:.10g}"


def _placed_protection(statuses: list[m.OrderStatus]) -> dict[str, tuple[str, float | None, float | None]]:
    """Per symbol, the latest paper entry fill: its order id and the protective prices placed from it.

    The journaled command holds only the plan at ref_price; the prices that rest are the ones re-anchored on
    the fill, which its status carries. A partial close re-places the same prices, and adding to a position
    replaces them, so the latest entry's prices are the ones resting."""
    out: dict[str, tuple[str, float | None, float | None]] = {}
    for st in statuses:
        if (
            st.mode == "paper"
            and st.purpose == "entry"
            and st.status in ("filled", "partially_filled")
            and st.filled_qty > 0
        ):
            out[st.symbol] = (st.order_id, st.stop_loss_price, st.take_profit_price)
    return out
