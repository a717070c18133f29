"""The router's decisions: signals, marks, order statuses and desk controls in; order commands and denials
out. Pure: no bus, no clock (every call is given `now_ms`), no files (the shell persists the `HaltState`).

Entry rules (settings `[trading]` and `[risk]`):
- only `trading.symbols` trade: a signal for any other symbol is denied (`unconfigured_symbol`), and market
  data of a symbol neither traded nor held is counted and dropped (no state is kept for it);
- a signal whose strength, price or any indicator is not a finite number is denied (`invalid_signal`): NaN
  passes every `<` comparison, so it is refused before the strength filter;
- a signal weaker than `min_signal_strength` is ignored (counted, not published: it is the normal case);
- an entry is sized only on a price within `risk.price_band_pct` of the symbol's last market price
  (`price_band`), so an absurd print that reached a signal never becomes an order;
- no entry on a symbol whose latest market data says `gap` (the feed lost trades of it, so its indicators
  saw a hole) until a record says the feed is whole again (`feed_gap`);
- no position: open in the signal's direction, if the risk gate and the sizing allow it;
- a position on the same side: ignored (counted, not published);
- a position on the other side: `on_opposite = "close"` closes it with a reduce-only market order,
  `"reverse"` closes it and, once the close has filled, opens the other way, `"ignore"` denies it;
- while an order for the symbol waits for its final status, other signals for it are denied
  (`pending_order`): without this, a second signal before the first fill would see no position and open
  a second one.
Every other signal not acted on becomes a published denial: an OrderStatus `rejected` with a fresh id,
`purpose="entry"` and `error="<rule>: <reason>"`.

Controls: `pause` stops new entries (closes of opposite positions still go out: they only reduce risk);
`resume`; `flatten` closes every position reduce-only (the broker cancels their protective orders) and
keeps the paused/trading state; `close <symbol>` closes that one position the same way (while paused or
halted too: it only takes risk off), and is refused with a published reason (`no_position`, or
`close_pending` while a close of it is on its way) when there is nothing to close; `kill` = pause + flatten + halted, halted persists across restarts and
only `rearm` clears it. Rearm leaves the desk paused: trading starts again on a deliberate `resume`, so
a kill always takes two separate decisions to undo. `set_mode paper|live` is the executor's to grant: the
mode commands carry is the one of the executor's acting Account. An entry still in flight
at a flatten or kill is closed as soon as it fills.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec

from tui_trader import messages as m
from tui_trader.instruments import RulesBook, UnknownInstrument
from tui_trader.portfolio.positions import Portfolio, Position
from tui_trader.portfolio.risk import HALTED_TEXT, DailyLoss, EntryFacts, RiskGate
from tui_trader.portfolio.sizing import Denial, size_entry
from tui_trader.settings import Settings

log = logging.getLogger(__name__)

TERMINAL = frozenset({"filled", "canceled", "rejected", "error"})
BUY_KINDS = frozenset({"Buy", "StrongBuy"})
# Denials counted but not published: they are what most signals meet, and would flood the orders log.
QUIET_RULES = frozenset({"below_min_strength", "same_direction"})


@dataclass
class Output:
    """What one input led to, for the shell to publish (in this order) and act on."""

    commands: list[m.OrderCommand] = field(default_factory=list)
    denials: list[m.OrderStatus] = field(default_factory=list)
    state_changed: bool = False  # paused / halted / daily limit / mode changed: tell the desk
    persist: m.HaltState | None = None  # the halted flag changed: write the state file


class _InFlight(msgspec.Struct, kw_only=True):
    command: m.OrderCommand
    # A flatten or kill came while this entry was in flight: close what it fills, with this purpose.
    close_after: str | None = None
    # on_opposite = "reverse": the signal to enter with once this close has filled.
    reverse: m.TradingSignal | None = None


class RouterCore:
    def __init__(
        self,
        settings: Settings,
        rules: RulesBook | None = None,
        state: m.HaltState | None = None,
        new_id: Callable[[], str] = m.new_id,
    ) -> None:
        self.settings = settings
        self.new_id = new_id  # a seeded sequence in a replay: a restarted replay re-issues the same ids
        self.trading = settings.trading
        self.risk = settings.risk
        self.rules = rules if rules is not None else RulesBook()
        self.portfolio = Portfolio(settings.paper.starting_balance)
        self.gate = RiskGate(settings.risk)
        self.daily = DailyLoss(settings.risk.daily_loss_limit_pct)
        self.mode: m.Mode = "paper" if settings.trading.paper_trading else "live"
        self.halt_state = state or m.HaltState()
        self.halted = self.halt_state.halted
        self.paused = self.halt_state.halted  # a halted desk is also paused: nothing new until rearm
        self.in_flight: dict[str, _InFlight] = {}
        self.last_close_ms: dict[str, int] = {}
        self.last_price_ms: dict[str, int] = {}
        self.feed_gaps: set[str] = set()  # symbols whose latest market data says the feed lost trades
        self.last_price: dict[str, float] = {}  # the symbol's last good market price (bands the signal's price)
        self.traded = frozenset(settings.trading.symbols)  # only these trade; others are denied and counted
        self.foreign_market_data = 0  # market records of symbols neither traded nor held (no state kept)
        # Figures for the summary and the desk.
        self.signals = 0
        self.entries = 0
        self.closes: Counter[str] = Counter()  # by purpose: close / flatten / kill
        self.denials: Counter[str] = Counter()  # by rule, published or not
        self.fills = 0
        self.exits: Counter[str] = Counter()  # positions closed, by the purpose of the closing fill
        self.opened = 0
        self.unanswered = 0

    # --- inputs ---------------------------------------------------------------------------------------

    def apply_settings(self, settings: Settings) -> None:
        """Take new thresholds and risk limits at once (the desk's settings screen). Positions, the mode and
        the day's loss so far are kept; sizing, limits and the strength filter use the new values from the
        next signal on."""
        self.settings = settings
        self.trading = settings.trading
        self.traded = frozenset(settings.trading.symbols)
        self.risk = settings.risk
        self.gate.risk = settings.risk
        self.daily.limit_pct = settings.risk.daily_loss_limit_pct

    def on_signal(self, sig: m.TradingSignal, now_ms: int) -> Output:
        out = Output()
        self._observe(now_ms, out)
        self.signals += 1
        side: m.Side = "buy" if sig.signal in BUY_KINDS else "sell"
        if sig.symbol not in self.traded:
            self._deny(
                out,
                sig,
                side,
                Denial(
                    "unconfigured_symbol", f"{sig.symbol} is not in trading.symbols ({', '.join(sorted(self.traded))})"
                ),
                now_ms,
            )
            return out
        bad = _not_finite(sig)
        if bad:
            self._deny(out, sig, side, Denial("invalid_signal", f"{sig.symbol}: {bad}"), now_ms)
            return out
        if not sig.strength >= self.trading.min_signal_strength:
            self._deny(
                out,
                sig,
                side,
                Denial("below_min_strength", f"strength {sig.strength:.2f} < {self.trading.min_signal_strength:.2f}"),
                now_ms,
            )
            return out
        if self.halted:
            self._deny(out, sig, side, Denial("halted", HALTED_TEXT), now_ms)
            return out
        pos = self.portfolio.position(sig.symbol)
        pending = [f for f in self.in_flight.values() if f.command.symbol == sig.symbol]
        if pos is not None and pos.closing_side != side:
            self._deny(out, sig, side, Denial("same_direction", f"{sig.symbol} {pos.side} already open"), now_ms)
            return out
        if pos is None and any(f.command.purpose == "entry" and f.command.side == side for f in pending):
            self._deny(out, sig, side, Denial("same_direction", f"{sig.symbol} {side} entry already sent"), now_ms)
            return out
        if pending:
            what = ", ".join(f"{f.command.purpose} {f.command.side} {f.command.quantity:g}" for f in pending)
            self._deny(
                out, sig, side, Denial("pending_order", f"{sig.symbol}: waiting for the outcome of {what}"), now_ms
            )
            return out
        if pos is not None:
            self._opposite(out, sig, side, pos, now_ms)
            return out
        self._enter(out, sig, side, now_ms, reversing=False)
        return out

    def on_market_data(self, md: m.MarketData, now_ms: int) -> Output:
        out = Output()
        symbol = md.symbol
        if symbol not in self.traded and symbol not in self.portfolio.positions:
            self.foreign_market_data += 1  # nothing to trade or mark: no state kept for it
            self._observe(now_ms, out)
            return out
        if md.gap:
            self.feed_gaps.add(symbol)
        elif self.feed_gaps:
            self.feed_gaps.discard(symbol)
        price = md.price
        if not 0 < price < _INF and 0 < md.bid < _INF and 0 < md.ask < _INF:
            price = (md.bid + md.ask) / 2
        if 0 < price < _INF:  # NaN, inf, zero or negative: neither marks nor dates a price
            self.portfolio.mark(symbol, price)
            self.last_price[symbol] = price
            if md.ts > self.last_price_ms.get(symbol, -1):
                self.last_price_ms[symbol] = md.ts
        self._observe(now_ms, out)
        return out

    def on_status(self, st: m.OrderStatus, now_ms: int) -> Output:
        out = Output()
        for fill in self.portfolio.apply(st):
            self.fills += 1
            if fill.opened:
                self.opened += 1
            if fill.closed:
                self.exits[fill.purpose] += 1
                self.last_close_ms[fill.symbol] = now_ms
        flight = self.in_flight.get(st.order_id)
        if flight is not None and st.status in TERMINAL:
            del self.in_flight[st.order_id]
            self._settled(out, flight, st, now_ms)
        self._observe(now_ms, out)
        return out

    def on_control(self, c: m.Control, now_ms: int) -> Output:
        out = Output()
        self._observe(now_ms, out)
        cmd = c.command
        if cmd == "pause":
            out.state_changed = not self.paused
            self.paused = True
        elif cmd == "resume":
            if self.halted:
                log.warning("resume ignored: trading is halted by the kill switch; re-arm first")
            else:
                out.state_changed = self.paused
                self.paused = False
        elif cmd == "flatten":
            self._flatten(out, "flatten", now_ms)
        elif cmd == "close":
            self._close_one(out, (c.arg or "").strip().upper(), c.origin, now_ms)
        elif cmd == "kill":
            self.halted = self.paused = True
            self.halt_state = m.HaltState(halted=True, halted_at=now_ms, halted_by=c.origin, detail=c.arg or "")
            out.persist = self.halt_state
            out.state_changed = True
            self._flatten(out, "kill", now_ms)
        elif cmd == "rearm":
            if self.halted:
                self.halted = False  # still paused: resume to trade
                self.halt_state = m.HaltState()
                out.persist = self.halt_state
                out.state_changed = True
        elif cmd == "set_mode":
            # A request to the executor, not a switch: the router follows the mode the executor acknowledges
            # (its acting Account, see on_account), so no command is tagged live before live acts.
            log.info(
                "set_mode %r requested by %s; mode stays %s until the executor acts on it", c.arg, c.origin, self.mode
            )
        return out

    def on_account(self, a: m.Account, now_ms: int) -> Output:
        """The acting broker's account: its mode is the mode commands carry from now on. Live: the exchange's
        balance is the base of equity. Any mode: liquidation prices as reported. A non-acting account (an
        earlier paper book after a switch to live) changes nothing."""
        out = Output()
        if not a.acting:
            return out
        if a.mode != self.mode:
            if self.portfolio.positions:
                log.warning(
                    "mode switched to %s with %d open %s position(s): flatten them first",
                    a.mode,
                    len(self.portfolio.positions),
                    self.mode,
                )
            self.mode = a.mode
            if self.mode == "paper" and self.portfolio.balance_from_exchange:
                self.portfolio.use_starting_balance()
                self.daily.rebase(self.portfolio.equity())
            out.state_changed = True
        if a.mode == "live":
            first = not self.portfolio.balance_from_exchange
            self.portfolio.set_balance(a.balance_total)
            if first:  # paper figures until now: the day's loss counts from the exchange's balance
                self.daily.rebase(self.portfolio.equity())
        for snap in a.positions:
            self.portfolio.set_liquidation_price(snap.symbol, snap.liquidation_price)
        self._observe(now_ms, out)
        return out

    # --- state for the desk -----------------------------------------------------------------------------

    def state(self) -> tuple[str, str]:
        """(state, detail): halted > paused > daily_loss_limit > trading."""
        mode = f"mode {self.mode}"
        if self.halted:
            by = f" by {self.halt_state.halted_by}" if self.halt_state.halted_by else ""
            return "halted", f"kill switch pulled{by}: nothing new until re-armed; {mode}"
        if self.paused:
            return "paused", f"new entries paused (resume to trade); {mode}"
        if self.daily.reached:
            return "daily_loss_limit", f"{self.daily.describe()}; {mode}"
        return "trading", mode

    def open_or_opening(self) -> int:
        if not self.in_flight:
            return len(self.portfolio.positions)
        opening = {
            f.command.symbol
            for f in self.in_flight.values()
            if f.command.purpose == "entry" and f.command.symbol not in self.portfolio.positions
        }
        return len(self.portfolio.positions) + len(opening)

    # --- decisions ----------------------------------------------------------------------------------------

    def _opposite(self, out: Output, sig: m.TradingSignal, side: m.Side, pos: Position, now_ms: int) -> None:
        policy = self.risk.on_opposite
        if policy == "ignore":
            self._deny(
                out,
                sig,
                side,
                Denial("opposite_ignored", f"{sig.symbol} {pos.side} open; risk.on_opposite = \"ignore\""),
                now_ms,
            )
            return
        cmd = self._close(out, pos, "close", now_ms, signal_id=sig.id)
        if policy == "reverse":
            self.in_flight[cmd.id].reverse = sig

    def _enter(self, out: Output, sig: m.TradingSignal, side: m.Side, now_ms: int, *, reversing: bool) -> None:
        facts = EntryFacts(
            symbol=sig.symbol,
            now_ms=now_ms,
            halted=self.halted,
            paused=self.paused,
            daily_loss_reached=self.daily.reached,
            daily_loss_text=self.daily.describe() if self.daily.reached else "",
            open_positions=self.open_or_opening(),
            last_close_ms=self.last_close_ms.get(sig.symbol),
            last_price_ms=self.last_price_ms.get(sig.symbol),
            signal_ms=sig.ts,
            reversing=reversing,
        )
        denial = self.gate.check(facts)
        if denial is None and sig.symbol in self.feed_gaps:
            denial = Denial(
                "feed_gap", f"{sig.symbol}: the feed lost trades of it; no entry until the feed is whole again"
            )
        if denial is None and self.mode == "live" and not self.portfolio.balance_from_exchange:
            denial = Denial("margin", "live: the exchange balance is not known yet")
        if denial is None:
            denial = self._outside_band(sig)
        if denial is None:
            try:
                rules = self.rules.get(sig.symbol)
            except UnknownInstrument as err:
                denial = Denial("unknown_instrument", str(err.args[0]))
        if denial is not None:
            self._deny(out, sig, side, denial, now_ms)
            return
        t = self.trading
        plan = size_entry(
            side=side,
            entry_price=sig.price,
            equity=self.portfolio.equity(),
            free_equity=self.portfolio.free_equity(),
            rules=rules,
            risk_per_trade=t.risk_per_trade,
            stop_loss_pct=t.stop_loss_pct,
            take_profit_pct=t.take_profit_pct,
            max_position_size=t.max_position_size,
            leverage=t.leverage,
        )
        if isinstance(plan, Denial):
            self._deny(out, sig, side, plan, now_ms)
            return
        cmd = m.OrderCommand(
            id=self.new_id(),
            symbol=sig.symbol,
            side=side,
            quantity=plan.quantity,
            ref_price=plan.entry_price,
            stop_loss=plan.stop_loss,
            take_profit=plan.take_profit,
            leverage=t.leverage,
            reduce_only=False,
            purpose="entry",
            signal_id=sig.id,
            mode=self.mode,
            ts=now_ms,
        )
        self._send(out, cmd)
        self.entries += 1

    def _outside_band(self, sig: m.TradingSignal) -> Denial | None:
        """An entry is never sized on a price far from the market: the signal's price must lie within
        `risk.price_band_pct` of the symbol's last good market price."""
        last = self.last_price.get(sig.symbol)
        if last is None:
            return None  # the stale-price rule has already denied an entry without any market price
        band = self.risk.price_band_pct
        off = abs(sig.price - last) / last
        if off > band:
            return Denial(
                "price_band",
                f"{sig.symbol}: signal price {sig.price:g} is {off:.1%} from the last "
                f"market price {last:g} (band {band:.1%})",
            )
        return None

    def _close(
        self, out: Output, pos: Position, purpose: m.Purpose, now_ms: int, signal_id: str | None = None
    ) -> m.OrderCommand:
        cmd = m.OrderCommand(
            id=self.new_id(),
            symbol=pos.symbol,
            side=pos.closing_side,
            quantity=pos.quantity,
            ref_price=pos.mark_price or pos.entry_price,
            leverage=pos.leverage,
            reduce_only=True,
            purpose=purpose,
            signal_id=signal_id,
            mode=self.mode,
            ts=now_ms,
        )
        self._send(out, cmd)
        self.closes[purpose] += 1
        return cmd

    def _send(self, out: Output, cmd: m.OrderCommand) -> None:
        self.portfolio.on_command(cmd)
        self.in_flight[cmd.id] = _InFlight(command=cmd)
        out.commands.append(cmd)

    def _flatten(self, out: Output, purpose: m.Purpose, now_ms: int) -> None:
        for flight in self.in_flight.values():
            flight.reverse = None  # a flatten or kill overrides any reversal under way
            if flight.command.purpose == "entry":
                flight.close_after = purpose
        for pos in list(self.portfolio.positions.values()):
            self._close(out, pos, purpose, now_ms)

    def _close_one(self, out: Output, symbol: str, origin: str, now_ms: int) -> None:
        """One position closed reduce-only (its protective orders canceled by the broker, as for flatten). An
        entry of it still in flight is closed once it fills. Nothing to close: a rejected row says why."""
        pos = self.portfolio.position(symbol) if symbol else None
        entering = [f for f in self.in_flight.values() if f.command.symbol == symbol and f.command.purpose == "entry"]
        for flight in entering:
            flight.reverse = None
            flight.close_after = "close"
        closing = any(f.command.symbol == symbol and f.command.reduce_only for f in self.in_flight.values())
        if pos is not None and not closing:
            self._close(out, pos, "close", now_ms)
            log.warning("close %s requested by %s: %s %g reduce-only", symbol, origin, pos.closing_side, pos.quantity)
            return
        if pos is not None:
            why = f"close_pending: a close of the {symbol} position is on its way already"
        elif entering:
            log.warning("close %s requested by %s: its entry is in flight; closed once it fills", symbol, origin)
            return
        else:
            why = f"no_position: no open {symbol or '(no symbol named)'} position to close ({self.mode})"
        self.denials[why.split(":", 1)[0]] += 1
        log.warning("close %s requested by %s refused: %s", symbol, origin, why)
        out.denials.append(
            m.OrderStatus(
                order_id=self.new_id(),
                symbol=symbol or "?",
                side=pos.closing_side if pos else "sell",
                purpose="close",
                status="rejected",
                error=why,
                mode=self.mode,
                ts=now_ms,
            )
        )

    def _settled(self, out: Output, flight: _InFlight, st: m.OrderStatus, now_ms: int) -> None:
        """An order of ours reached its final status: follow-ups of flatten/kill and of reversals."""
        cmd = flight.command
        pos = self.portfolio.position(cmd.symbol)
        if flight.close_after is not None and pos is not None:
            self._close(out, pos, flight.close_after, now_ms)  # type: ignore[arg-type]
        if flight.reverse is not None:
            sig = flight.reverse
            side: m.Side = "buy" if sig.signal in BUY_KINDS else "sell"
            if pos is None:
                self._enter(out, sig, side, now_ms, reversing=True)
            else:
                why = f"{st.status}" + (f" ({st.error})" if st.error else "")
                self._deny(
                    out,
                    sig,
                    side,
                    Denial(
                        "reverse_aborted", f"{cmd.symbol}: the close before reversing ended {why}; the position stays"
                    ),
                    now_ms,
                )

    def _deny(self, out: Output, sig: m.TradingSignal, side: m.Side, denial: Denial, now_ms: int) -> None:
        self.denials[denial.rule] += 1
        if denial.rule in QUIET_RULES:
            return
        out.denials.append(
            m.OrderStatus(
                order_id=self.new_id(),
                symbol=sig.symbol,
                side=side,
                purpose="entry",
                status="rejected",
                error=denial.text(),
                mode=self.mode,
                ts=now_ms,
            )
        )

    def _observe(self, now_ms: int, out: Output) -> None:
        """Roll the trading day, check the daily loss limit, forget orders that never got an answer."""
        if self.daily.observe(now_ms, self.portfolio.equity()):
            out.state_changed = True
        if self.in_flight:
            timeout_ms = round(self.risk.order_timeout_s * 1000)
            for oid, flight in list(self.in_flight.items()):
                if now_ms - flight.command.ts > timeout_ms:
                    del self.in_flight[oid]
                    self.unanswered += 1
                    c = flight.command
                    log.warning(
                        "%s %s %s %g (order %s) got no final status in %g s; no longer waiting for it",
                        c.purpose,
                        c.symbol,
                        c.side,
                        c.quantity,
                        oid,
                        self.risk.order_timeout_s,
                    )


_INF = math.inf
_INDICATORS = m.Indicators.__struct_fields__
_isfinite = math.isfinite
_astuple = msgspec.structs.astuple


def _not_finite(sig: m.TradingSignal) -> str:
    """Why a signal cannot be acted on ("" when it can): its strength, price or an indicator is not a finite
    number (NaN would pass every `<` filter), or the price is not positive."""
    # Every signal passes here: one sum says all indicators are finite (NaN and inf propagate through it);
    # only a signal that fails it (or whose finite values overflow the sum) is looked at value by value.
    if 0 <= sig.strength <= 1 and 0 < sig.price < _INF and _isfinite(sum(_astuple(sig.indicators))):
        return ""
    if not math.isfinite(sig.strength) or not 0 <= sig.strength <= 1:
        return f"strength {sig.strength} is not a number in [0, 1]"
    if not (0 < sig.price < _INF):
        return f"price {sig.price} is not a finite positive number"
    for name in _INDICATORS:
        value = getattr(sig.indicators, name)
        if not math.isfinite(value):
            return f"indicator {name} is {value}"
    return ""
