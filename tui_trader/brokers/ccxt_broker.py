"""The live broker: Binance USD-M, OKX or Bybit perpetuals through ccxt's async API.

Order of business for an entry: leverage and margin mode (once per symbol) → a market order whose client
order id is the command id → protection at the distances from the fill (Binance: two reduce-only algo orders
right after the fill; OKX and Bybit: attached to the entry at the plan's prices, then moved to the fill) → the
fill's fee. If protection cannot be placed the position is closed at
once and the reason shown: never a naked position.

Errors (the request side lives in requests.py): reads that fail on the network retry with a growing
pause; an order that times out or meets a 5xx is ambiguous and is looked up by its client order id before
anything else, and no client id is ever sent twice; the exchange's refusals become "rejected" reports
carrying its message; a rate limit (429/418) pauses every request for as long as the exchange asks; an order
whose outcome cannot be known becomes an "error" report telling the user to look at the exchange. No secret
reaches a report, a log line or an error.

One operation at a time (`_busy`): a poll never races a close for the same protective orders. The one
exception: while an ambiguous placement is looked up (until its window has passed, ~11 s) the operation
steps aside (`settling` names its symbol, `on_settling` is told), so a close or flatten of another symbol
and the polls go on meanwhile; the caller keeps that symbol's other commands back until it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import ccxt.async_support as ccxt
import msgspec

from tui_trader import logs
from tui_trader import messages as m
from tui_trader.brokers.base import NO_POSITION, AccountView, Broker, Report, anchored_protection, derived_id, rejected
from tui_trader.brokers.ccxt_reconciling import CcxtReconciling
from tui_trader.brokers.protection import Protection
from tui_trader.brokers.reconciling import VenueState
from tui_trader.brokers.requests import RECV_WINDOW_S, NotPlaced, Requests, RetryLater, Sleep, StateUnknown
from tui_trader.brokers.venues import Venue, rules_from_market, venue_for
from tui_trader.errors import BrokerError
from tui_trader.exchange import create_exchange, unified_symbol
from tui_trader.instruments import InstrumentRules
from tui_trader.messages import ExchangeOrder
from tui_trader.settings import Secrets, Settings

log = logging.getLogger(__name__)

FILL_CHECKS = 5  # looks at a market order that is not final yet, `exchange.poll_s` apart
CLOSE_ATTEMPTS = 3  # an emergency close is retried with fresh client ids (never the same id twice)


async def _take_back(lock: asyncio.Lock) -> None:
    """Acquire `lock` for an operation that released it for a while, even if cancelled meanwhile (the
    cancellation is raised once it is held): the operation's own `async with` releases it on the way out,
    and must never release it under another holder."""
    waiter = asyncio.ensure_future(lock.acquire())
    cancelled = False
    while True:
        try:
            await asyncio.shield(waiter)
            break
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError


class CcxtBroker(CcxtReconciling, Broker):
    mode: m.Mode = "live"

    def __init__(
        self,
        settings: Settings,
        secrets: Secrets,
        *,
        sleep: Sleep = asyncio.sleep,
        factory: Callable[..., Any] = create_exchange,
        sent: set[str] | None = None,
        now: Callable[[], float] = time.monotonic,
        recv_window_s: float = RECV_WINDOW_S,
    ) -> None:
        """`sent`: the client ids already sent, shared with a broker this one replaces (never send one twice).
        `sleep` and `now` go together (a test's fake clock); `recv_window_s`: how long a signed request may
        take to reach the venue's engine (Binance recvWindow), after which an order that timed out cannot execute."""
        if not secrets.present:
            raise BrokerError(
                "live trading needs API keys: set TUI_TRADER_API_KEY and TUI_TRADER_API_SECRET "
                "(and TUI_TRADER_API_PASSWORD for OKX) or the secrets file"
            )
        self.settings = settings
        self.xs = settings.exchange
        self.exchange = self.xs.name
        self.venue: Venue = venue_for(self.xs.name, settings.risk.trigger_price)
        secret_values = [s for s in (secrets.api_key, secrets.api_secret, secrets.api_password) if s]
        logs.REDACT.add(*secret_values)
        self._secrets = secrets
        self._factory = factory
        self._sleep = sleep
        self.req = Requests(self.exchange, self.venue, secret_values, sleep, now=now, recv_window_s=recv_window_s)
        # Entries whose outcome is unknown, by symbol: no new entry there until the venue answers for certain.
        self.unknown: dict[str, tuple[m.OrderCommand, str]] = {}
        if sent is not None:
            self.req.sent = sent
        self.ex: Any = None
        self._rules: dict[str, InstrumentRules] = {}
        self._prepared: dict[str, int] = {}
        self.protections: dict[str, Protection] = {}
        self._symbols: set[str] = set(settings.trading.symbols)
        self._busy = asyncio.Lock()
        self.settling: set[str] = set()  # symbols whose ambiguous placement is being looked up, lock released
        self.on_settling: Callable[[str], None] = lambda symbol: None
        self.req.outside = self._stepping_aside

    @contextlib.asynccontextmanager
    async def _stepping_aside(self, usym: str):
        """Release `_busy` (held by the operation placing the order) while its outcome is looked up."""
        base, rest = usym.split("/", 1)
        symbol = base + rest.split(":", 1)[0]
        if not self._busy.locked():
            yield
            return
        self._busy.release()
        self.settling.add(symbol)
        try:
            self.on_settling(symbol)
            yield
        finally:
            self.settling.discard(symbol)
            await _take_back(self._busy)

    # --- lifecycle -------------------------------------------------------------------------------------
    async def start(self) -> None:
        self.ex = self.req.ex = self._factory(self.xs, self._secrets)
        if self.venue.expiring_requests:
            self.ex.options["recvWindow"] = int(self.req.recv_window_s * 1000)  # on every signed request
        try:
            await self.req.read(self.ex.load_markets)
        except ccxt.BaseError as err:
            await self.close()
            raise BrokerError(f"{self.exchange}: cannot load markets: {self.req.text(err)}") from None
        for symbol in sorted(self._symbols):
            self._load_rules(symbol)

    async def position_mode(self) -> str:
        """The account's position mode on the venue: "one_way" (what the desk's reduce-only orders need) or
        "hedge" (Binance dualSidePosition, OKX long_short_mode, Bybit positionIdx 1/2). Checked before the
        first live order; `tui-trader doctor` calls it too. BrokerError when the venue cannot be read."""
        usyms = [unified_symbol(s) for s in sorted(self._symbols) if unified_symbol(s) in (self.ex.markets or {})]
        try:
            return await self.req.read(self.venue.position_mode, self.ex, usyms)
        except ccxt.BaseError as err:
            raise BrokerError(f"{self.exchange}: cannot read the position mode: {self.req.describe(err)}") from None

    async def close(self) -> None:
        if self.ex is not None:
            ex, self.ex = self.ex, None
            await ex.close()

    def rules(self) -> dict[str, InstrumentRules]:
        return dict(self._rules)

    def _load_rules(self, symbol: str) -> InstrumentRules | None:
        usym = unified_symbol(symbol)
        if usym not in (self.ex.markets or {}):
            return None
        rules = rules_from_market(symbol, self.ex.market(usym))
        self._rules[symbol] = rules
        return rules

    # --- Broker interface ----------------------------------------------------------------------------
    async def prepare(self, symbol: str, leverage: int) -> None:
        if self._prepared.get(symbol) == leverage:
            return
        usym = unified_symbol(symbol)
        noted = await self.req.call(self.venue.prepare, self.ex, usym, leverage, self.xs.margin_mode)
        if noted:
            log.info("%s %s: %s already set", self.exchange, symbol, " and ".join(noted))
        self._prepared[symbol] = leverage

    async def enter(self, cmd: m.OrderCommand) -> list[Report]:
        async with self._busy:
            return await self._enter(cmd)

    async def reduce(self, cmd: m.OrderCommand) -> list[Report]:
        async with self._busy:
            return await self._reduce(cmd)

    async def poll(self) -> list[Report]:
        async with self._busy:
            reports: list[Report] = []
            for symbol in list(self.unknown):
                try:
                    reports += await self._resolve(symbol)
                except ccxt.BaseError as err:
                    log.warning("%s %s: unknown entry not settled yet: %s", self.exchange, symbol, self.req.text(err))
            for symbol in list(self.protections):
                try:
                    reports += await self._check_protection(symbol)
                except ccxt.BaseError as err:
                    log.warning("%s %s: protective orders not checked: %s", self.exchange, symbol, self.req.text(err))
            return reports

    async def account(self) -> AccountView:
        return (await self.venue_state()).view

    async def venue_state(self) -> VenueState:
        """Balance, open positions and open conditional orders, read together (one operation): each position's
        snapshot says which stop-loss and take-profit rest for it with its whole quantity. The watchdog and
        the Account records read this."""
        async with self._busy:
            balance = await self.req.read(self.ex.fetch_balance)
            usdt = balance.get("USDT") or {}
            usyms = [unified_symbol(s) for s in sorted(self._symbols) if unified_symbol(s) in (self.ex.markets or {})]
            rows = await self.req.read(self.venue.positions, self.ex, usyms) if usyms else []
            orders: list[ExchangeOrder] = []
            if self.venue.lists_protection:
                for usym in usyms:
                    pending = await self.req.read(self.venue.open_protection, self.ex, usym)
                    orders += [o for row in pending for o in self._exchange_orders(usym, row)]
        snaps, positions = [], []
        for row in rows:
            snap = self._snapshot(row)
            if snap is not None:
                snaps.append(self._with_protection(snap, row, orders))
                positions.append(self._exchange_position(row))
        view = AccountView(
            balance_total=float(usdt.get("total") or 0.0), balance_free=float(usdt.get("free") or 0.0), positions=snaps
        )
        return VenueState(view=view, positions=[p for p in positions if p is not None], orders=orders)

    def _with_protection(
        self, snap: m.PositionSnapshot, row: dict[str, Any], orders: list[ExchangeOrder]
    ) -> m.PositionSnapshot:
        if not self.venue.lists_protection:
            # Bybit: the SL/TP are the position's own; resting while its row reports them.
            stop = row.get("stopLossPrice")
            target = row.get("takeProfitPrice")
            return msgspec.structs.replace(
                snap,
                stop_loss=float(stop) if stop else None,
                take_profit=float(target) if target else None,
                stop_loss_resting=bool(stop),
                take_profit_resting=bool(target),
            )
        closing = m.opposite(snap.side)
        tol = self.quantity_tolerance(snap.symbol)
        found: dict[str, tuple[float | None, bool]] = {}
        for o in orders:
            if o.symbol != snap.symbol or o.side != closing or not o.reduce_only or o.role == "other":
                continue
            whole = o.quantity == 0 or abs(o.quantity - snap.quantity) <= tol
            if o.role not in found or (whole and not found[o.role][1]):
                found[o.role] = (o.trigger_price, whole)
        stop, stop_ok = found.get("stop_loss", (None, False))
        target, target_ok = found.get("take_profit", (None, False))
        return msgspec.structs.replace(
            snap, stop_loss=stop, take_profit=target, stop_loss_resting=stop_ok, take_profit_resting=target_ok
        )

    # --- entry -------------------------------------------------------------------------------------------
    async def _enter(self, cmd: m.OrderCommand) -> list[Report]:
        self._symbols.add(cmd.symbol)
        if self.venue.client_id(cmd.id) in self.req.sent:
            return [rejected(cmd, "duplicate: this command id was already sent")]
        if cmd.symbol in self.unknown:
            other = self.unknown[cmd.symbol][0]
            return [
                rejected(
                    cmd,
                    f"unknown_outcome: entry {other.id} on {cmd.symbol} has no certain outcome yet; "
                    "no new entry there until the venue answers",
                )
            ]
        usym = unified_symbol(cmd.symbol)
        rules = self._rules.get(cmd.symbol) or self._load_rules(cmd.symbol)
        if rules is None:
            return [rejected(cmd, f"unknown_instrument: {self.exchange} lists no market {usym}")]
        qty = rules.round_qty_down(cmd.quantity)
        if qty < rules.min_qty or qty <= 0:
            return [rejected(cmd, f"invalid_order: quantity {cmd.quantity:g} is below the minimum {rules.min_qty:g}")]
        side: m.PositionSide = m.position_side(cmd.side)
        held = self.protections.get(cmd.symbol)
        if held is not None and held.side != side:
            return [rejected(cmd, f"opposite_position: a {held.side} {cmd.symbol} position is open; close it first")]
        try:
            await self.prepare(cmd.symbol, cmd.leverage)
        except ccxt.BaseError as err:
            return [rejected(cmd, self.req.describe(err))]
        reports: list[Report] = []
        if held is not None:  # adding to a position: its protection is re-placed for the total below
            reports += await self._cancel_protection(cmd.symbol)
        params = self.venue.entry_params(
            self.venue.client_id(cmd.id),
            self.xs.margin_mode,
            cmd.stop_loss if self.venue.attached_protection else None,
            cmd.take_profit if self.venue.attached_protection else None,
        )
        placed = await self._place(cmd, usym, qty, params)
        if isinstance(placed, Report):
            if placed.status == "error":  # unknown: looked up again on every poll until the venue is certain
                self.unknown[cmd.symbol] = (cmd, self.venue.client_id(cmd.id))
            return [*reports, placed]
        return reports + await self._filled_entry(cmd, usym, rules, side, held, placed)

    async def _filled_entry(
        self,
        cmd: m.OrderCommand,
        usym: str,
        rules: InstrumentRules,
        side: m.PositionSide,
        held: Protection | None,
        placed: tuple[dict[str, Any], float],
    ) -> list[Report]:
        """An entry's fill, then its protection re-anchored on the fill."""
        reports: list[Report] = []
        sl_id, tp_id = derived_id(cmd.id, "sl"), derived_id(cmd.id, "tp")
        order, filled = placed
        if filled <= 0:
            return [
                *reports,
                rejected(cmd, f"not_filled: {self.exchange} reports order {order.get('id')} as {order.get('status')}"),
            ]
        avg = float(order.get("average") or order.get("price") or cmd.ref_price)
        entry = Report(
            order_id=cmd.id,
            exchange_order_id=str(order.get("id")),
            symbol=cmd.symbol,
            side=cmd.side,
            purpose="entry",
            status="filled",
            filled_qty=filled,
            avg_price=avg,
        )
        total = filled + (held.quantity if held else 0.0)
        entry_price = avg if held is None else (held.entry_price * held.quantity + avg * filled) / total
        prot = Protection(cmd.symbol, side, total, entry_price, int(order.get("timestamp") or 0))
        if self.venue.attached_protection:
            # OKX / Bybit took the plan with the entry order (the fill was not known yet): moved to the fill
            # (OKX: the algo order they became, amend-algos; Bybit: the position's trading-stop). If the venue
            # refuses, the planned triggers stay and the status says so by carrying them.
            prices = (cmd.stop_loss, cmd.take_profit)
            anchored = anchored_protection(cmd, entry_price, rules.tick)
            if anchored != prices or held is not None:
                # Added to a position: the new entry's attached orders are sized as the entry only, and
                # anchored on the position's average entry.
                amount = self.venue.amount(self.ex, usym, total) if held is not None else None
                prices = await self._move_attached(cmd.symbol, usym, prices, anchored, amount)
        else:
            prices = anchored_protection(cmd, entry_price, rules.tick)
        protect_reports = await self._protect(cmd, usym, prot, entry, sl_id, tp_id, prices)
        entry.fee = await self._fee(usym, order, filled, avg)
        return [*reports, entry, *protect_reports]

    async def _move_attached(
        self,
        symbol: str,
        usym: str,
        planned: tuple[float | None, float | None],
        anchored: tuple[float | None, float | None],
        amount: float | None = None,
    ) -> tuple[float | None, float | None]:
        """Move the SL/TP attached to an entry to the prices from its fill; the prices that rest after. OKX
        lists the algo order they become only once the fill is complete: looked for a few times, `poll_s` apart."""
        for _ in range(FILL_CHECKS):
            try:
                if await self.req.call(self.venue.amend_protection, self.ex, usym, *anchored, amount):
                    return anchored
            except ccxt.BaseError as err:
                log.warning(
                    "%s %s: attached SL/TP not moved to the fill (%s); the planned ones rest",
                    self.exchange,
                    symbol,
                    self.req.text(err),
                )
                return planned
            await self._sleep(self.xs.poll_s)
        log.warning("%s %s: attached SL/TP not listed by the venue yet; the planned ones rest", self.exchange, symbol)
        return planned

    async def _resolve(self, symbol: str) -> list[Report]:
        """Look again at an entry whose outcome was unknown; book what the venue says once it is certain."""
        cmd, cid = self.unknown[symbol]
        usym = unified_symbol(symbol)
        try:
            found = await self.req.resolve(usym, cid, False, self.req.sent_at.get(cid, 0.0))
        except StateUnknown:
            return []
        del self.unknown[symbol]
        if found is None:
            return [
                rejected(cmd, f"not_placed: {self.exchange} confirms it has no order {cid} and its window has passed")
            ]
        order = await self._final(usym, found)
        filled = self.venue.base_qty(self.ex, usym, float(order.get("filled") or 0.0))
        rules = self._rules.get(symbol) or self._load_rules(symbol)
        assert rules is not None
        side: m.PositionSide = m.position_side(cmd.side)
        log.warning(
            "%s %s: the entry %s whose outcome was unknown is %s (%g filled)",
            self.exchange,
            symbol,
            cmd.id,
            order.get("status"),
            filled,
        )
        return await self._filled_entry(cmd, usym, rules, side, self.protections.get(symbol), (order, filled))

    def _unknown(self, cmd: m.OrderCommand, why: str) -> Report:
        """An order whose outcome the desk cannot know: an "error" the user must look at on the exchange."""
        return Report(
            order_id=cmd.id,
            symbol=cmd.symbol,
            side=cmd.side,
            purpose=cmd.purpose,
            status="error",
            error=f"unknown: {why}; check {cmd.symbol} on {self.exchange} before trading it again",
        )

    async def _place(
        self, cmd: m.OrderCommand, usym: str, qty: float, params: dict[str, Any]
    ) -> tuple[dict[str, Any], float] | Report:
        """Send one market order (once per client id) and read its fill: (order, filled base quantity), or
        the report that says why not (rejected, or unknown when it may exist)."""
        try:
            order = await self.req.submit(
                usym, cmd.side, self.venue.amount(self.ex, usym, qty), params, self.venue.client_id(cmd.id)
            )
        except (NotPlaced, RetryLater) as err:
            return rejected(cmd, str(err))
        except StateUnknown as err:
            return self._unknown(cmd, str(err))
        except ccxt.BaseError as err:
            return rejected(cmd, self.req.describe(err))
        try:
            order = await self._final(usym, order)
        except ccxt.BaseError as err:
            return self._unknown(
                cmd, f"order {order.get('id')} was placed but its fill could not be read ({self.req.describe(err)})"
            )
        return order, self.venue.base_qty(self.ex, usym, float(order.get("filled") or 0.0))

    async def _final(self, usym: str, order: dict[str, Any]) -> dict[str, Any]:
        """The order once final (market orders nearly always are at once); fills taken from a lookup if needed."""
        for check in range(FILL_CHECKS):
            if order.get("status") in ("closed", "canceled", "expired", "rejected") and order.get("filled") is not None:
                return order
            if order.get("status") is not None or check > 0:  # an acknowledgement only (OKX, Bybit): look at once
                await self._sleep(self.xs.poll_s)
            order = await self.req.read(self.venue.fetch_order, self.ex, order["id"], usym)
        return order

    async def _fee(self, usym: str, order: dict[str, Any], filled: float, avg: float) -> float:
        """The fee of one order from its trades; the market's taker rate if the trades cannot be read."""
        fee = order.get("fee") or {}
        if fee.get("cost") is not None and fee.get("currency") in (None, "USDT"):
            return abs(float(fee["cost"]))
        try:
            trades = await self.req.read(self.ex.fetch_my_trades, usym, None, None, {"orderId": order["id"]})
            costs = [abs(float((t.get("fee") or {}).get("cost") or 0.0)) for t in trades]
            if trades:
                return sum(costs)
        except ccxt.BaseError as err:
            log.info("%s: fee of order %s estimated (%s)", self.exchange, order.get("id"), self.req.text(err))
        return filled * avg * float(self.ex.market(usym).get("taker") or 0.0005)

    async def _protect(
        self,
        cmd: m.OrderCommand,
        usym: str,
        prot: Protection,
        entry: Report,
        sl_id: str,
        tp_id: str,
        prices: tuple[float | None, float | None] | None = None,
    ) -> list[Report]:
        """Place the stop-loss and take-profit (`prices`, default the command's) for `prot`; if one cannot be
        placed, cancel the other and close the position at once."""
        close = m.closing_side(prot.side)
        stop, target = prices if prices is not None else (cmd.stop_loss, cmd.take_profit)
        legs: tuple[tuple[m.ProtectiveRole, str, float | None], ...] = (
            ("stop_loss", sl_id, stop),
            ("take_profit", tp_id, target),
        )
        wanted = [(p, oid, px) for p, oid, px in legs if px is not None]
        placed: list[tuple[m.ProtectiveRole, str, float]] = []
        if self.venue.attached_protection:
            placed = wanted  # accepted together with the entry order
        else:
            amount = self.venue.amount(self.ex, usym, prot.quantity)
            for purpose, planned_id, price in wanted:
                try:
                    oid = await self._place_protective(usym, close, amount, purpose, planned_id, price)
                except (ccxt.BaseError, NotPlaced, StateUnknown) as err:
                    oid = planned_id
                    text = self.req.describe(err) if isinstance(err, ccxt.BaseError) else str(err)
                    if "-2021" in str(err) or "would immediately trigger" in str(err):
                        text += f"; the market is already beyond the {purpose.replace('_', '-')} {price:g} set from the fill"
                    out = [
                        Report(
                            order_id=oid,
                            symbol=cmd.symbol,
                            side=close,
                            purpose=purpose,
                            status="rejected",
                            error=f"protection_failed: {text}",
                        )
                    ]
                    if placed:
                        out += await self._cancel_protection_ids(cmd.symbol, usym, close, placed)
                    out.append(await self._emergency_close(cmd, usym, prot, f"protection_failed: {text}"))
                    return out
                placed.append((purpose, oid, price))
        for purpose, oid, price in placed:
            if purpose == "stop_loss":
                prot.stop_loss_id, prot.stop_loss_price = oid, price
                entry.stop_loss_order_id, entry.stop_loss_price = oid, price
            else:
                prot.take_profit_id, prot.take_profit_price = oid, price
                entry.take_profit_order_id, entry.take_profit_price = oid, price
        if placed:
            self.protections[cmd.symbol] = prot
        return [
            Report(order_id=oid, symbol=cmd.symbol, side=close, purpose=purpose, status="accepted")
            for purpose, oid, _ in placed
        ]

    async def _place_protective(
        self, usym: str, side: m.Side, amount: float, purpose: str, oid: str, price: float
    ) -> str:
        """Place one protective order; its client id (a fresh one after a placement the venue confirmed it
        never took). A retryable refusal (a rate limit, after its Retry-After; a 5xx whose order never
        arrived) is tried again for up to `risk.naked_grace_s`; past that, or on any other refusal, it raises
        and the caller closes the position. Ambiguous placements are settled within half the grace period
        (the request's own expiry is set to it)."""
        grace = self.settings.risk.naked_grace_s
        deadline = self.req.now() + grace
        attempt = 0
        while True:
            try:
                await self.req.submit(
                    usym,
                    side,
                    amount,
                    self.venue.protective_params(purpose, price, oid),
                    oid,
                    trigger=True,
                    window_s=grace / 2,
                )
                return oid
            except RetryLater as err:
                if self.req.now() + err.wait > deadline:
                    raise NotPlaced(f"{err} (Retry-After {err.wait:g} s is past the {grace:g} s grace)") from None
                log.warning("%s %s: %s rate-limited; again in %.1f s", self.exchange, usym, purpose, err.wait)
                await self._sleep(err.wait)
            except NotPlaced as err:
                if str(err).startswith("duplicate:") or self.req.now() >= deadline:
                    raise
                attempt += 1
                oid = derived_id(oid, f"retry-{attempt}")  # the venue never took it: a fresh id, never one twice
                log.warning("%s %s: %s not placed (%s); again as %s", self.exchange, usym, purpose, err, oid)

    async def _emergency_close(self, cmd: m.OrderCommand, usym: str, prot: Protection, why: str) -> Report:
        """Close a position that could not be protected, at once; fresh client ids on each try."""
        close = m.closing_side(prot.side)
        last = ""
        for attempt in range(CLOSE_ATTEMPTS):
            oid = derived_id(cmd.id, "close" if attempt == 0 else f"close-{attempt + 1}")
            params = self.venue.reduce_params(self.venue.client_id(oid), self.xs.margin_mode)
            try:
                order = await self.req.submit(
                    usym,
                    close,
                    self.venue.amount(self.ex, usym, prot.quantity),
                    params,
                    self.venue.client_id(oid),
                    urgent=True,
                )
                order = await self._final(usym, order)
            except (ccxt.BaseError, NotPlaced, StateUnknown, RetryLater) as err:
                last = self.req.describe(err) if isinstance(err, ccxt.BaseError) else str(err)
                log.error("%s %s: emergency close failed: %s", self.exchange, cmd.symbol, last)
                continue
            filled = self.venue.base_qty(self.ex, usym, float(order.get("filled") or 0.0))
            avg = float(order.get("average") or 0.0)
            fee = await self._fee(usym, order, filled, avg)
            return Report(
                order_id=oid,
                exchange_order_id=str(order.get("id")),
                symbol=cmd.symbol,
                side=close,
                purpose="close",
                status="filled",
                filled_qty=filled,
                avg_price=avg,
                fee=fee,
                error=f"{why}; position closed at once",
            )
        return Report(
            order_id=derived_id(cmd.id, "close"),
            symbol=cmd.symbol,
            side=close,
            purpose="close",
            status="error",
            error=f"{why}; the position is OPEN WITHOUT PROTECTION and could not be closed ({last}): close it on the exchange now",
        )

    # --- close / flatten / kill ------------------------------------------------------------------------
    async def _reduce(self, cmd: m.OrderCommand) -> list[Report]:
        self._symbols.add(cmd.symbol)
        if self.venue.client_id(cmd.id) in self.req.sent:
            return [rejected(cmd, "duplicate: this command id was already sent")]
        usym = unified_symbol(cmd.symbol)
        reports: list[Report] = []
        if cmd.symbol in self.protections:
            try:  # a protective order may have filled since the last poll: report it first
                reports += await self._check_protection(cmd.symbol)
            except ccxt.BaseError as err:
                log.warning("%s %s: protective orders not checked: %s", self.exchange, cmd.symbol, self.req.text(err))
        try:
            held = await self._position(usym)
        except ccxt.BaseError as err:
            return [*reports, rejected(cmd, self.req.describe(err))]
        if held is None:
            if cmd.symbol in self.protections:
                reports += await self._cancel_protection(cmd.symbol)  # orphans of a position that is gone
            return [*reports, rejected(cmd, NO_POSITION)]
        side, size = held
        if cmd.side != m.closing_side(side):
            return [*reports, rejected(cmd, NO_POSITION)]  # reduce-only never opens or flips
        rules = self._rules.get(cmd.symbol) or self._load_rules(cmd.symbol)
        qty = min(rules.round_qty_down(cmd.quantity) if rules else cmd.quantity, size)
        if qty <= 0:
            return [*reports, rejected(cmd, f"invalid_order: quantity {cmd.quantity:g} is below the step")]
        full = qty >= size - 1e-12
        prot = self.protections.get(cmd.symbol)
        if full or not self.venue.attached_protection:
            # Also when the desk knows of no protective order here (placed before a restart, or by hand): a
            # reduce-only stop left behind would later cut into the next position on this symbol.
            reports += await self._cancel_protection(cmd.symbol, untracked_too=True)
        params = self.venue.reduce_params(self.venue.client_id(cmd.id), self.xs.margin_mode)
        placed = await self._place(cmd, usym, qty, params)
        if isinstance(placed, Report):
            return [*reports, placed]
        order, filled = placed
        avg = float(order.get("average") or 0.0)
        fee = await self._fee(usym, order, filled, avg)
        reports.append(
            Report(
                order_id=cmd.id,
                exchange_order_id=str(order.get("id")),
                symbol=cmd.symbol,
                side=cmd.side,
                purpose=cmd.purpose,
                status="filled",
                filled_qty=filled,
                avg_price=avg,
                fee=fee,
            )
        )
        left = round(size - filled, 12)
        if left > 0 and prot is not None and not self.venue.attached_protection:
            # A partial close keeps the rest protected: the same triggers, re-placed for what is left.
            rest = Protection(cmd.symbol, side, left, prot.entry_price, prot.since_ms)
            fake = m.OrderCommand(
                id=cmd.id,
                symbol=cmd.symbol,
                side=m.opening_side(side),
                quantity=left,
                ref_price=avg,
                stop_loss=prot.stop_loss_price,
                take_profit=prot.take_profit_price,
                leverage=1,
                purpose="entry",
                mode="live",
                ts=cmd.ts,
            )
            holder = Report(order_id=cmd.id, symbol=cmd.symbol, side=cmd.side, purpose=cmd.purpose, status="filled")
            reports += await self._protect(fake, usym, rest, holder, derived_id(cmd.id, "sl"), derived_id(cmd.id, "tp"))
        return reports

    async def _position(self, usym: str) -> tuple[m.PositionSide, float] | None:
        positions = await self.req.read(self.venue.positions, self.ex, [usym])
        for pos in positions:
            if pos.get("symbol") != usym:
                continue
            size = self.venue.base_qty(self.ex, usym, abs(float(pos.get("contracts") or 0.0)))
            side = pos.get("side")
            if size > 0 and side in ("long", "short"):
                return side, size
        return None

    async def _cancel_protection(self, symbol: str, untracked_too: bool = False) -> list[Report]:
        prot = self.protections.get(symbol)
        usym = unified_symbol(symbol)
        if prot is None:
            if untracked_too:
                try:
                    await self.req.call(self.venue.cancel_symbol_protection, self.ex, usym)
                except ccxt.BaseError as err:
                    log.warning("%s %s: conditional orders not canceled: %s", self.exchange, symbol, self.req.text(err))
            return []
        return await self._cancel_protection_ids(
            symbol, usym, m.closing_side(prot.side), [(p, oid, px) for p, oid, px in prot.orders()]
        )

    async def _cancel_protection_ids(
        self, symbol: str, usym: str, side: m.Side, orders: list[tuple[m.ProtectiveRole, str, float]]
    ) -> list[Report]:
        try:
            # The venue cancels every protective order of the symbol; `orders` are the ones the reports name.
            await self.req.call(self.venue.cancel_symbol_protection, self.ex, usym)
        except ccxt.BaseError as err:
            log.error("%s %s: protective orders not canceled: %s", self.exchange, symbol, self.req.text(err))
            return [
                Report(
                    order_id=oid,
                    symbol=symbol,
                    side=side,
                    purpose=p,
                    status="error",
                    error=f"cancel_failed: {self.req.describe(err)}",
                )
                for p, oid, _ in orders
            ]
        self.protections.pop(symbol, None)
        return [Report(order_id=oid, symbol=symbol, side=side, purpose=p, status="canceled") for p, oid, _ in orders]

    # --- protective fills ----------------------------------------------------------------------------------
    async def _check_protection(self, symbol: str) -> list[Report]:
        if self.venue.attached_protection:
            return await self._check_attached(symbol)
        prot = self.protections[symbol]
        usym = unified_symbol(symbol)
        pending = await self.req.read(self.ex.fetch_open_orders, usym, None, None, {"trigger": True})
        open_ids = {o.get("clientOrderId") for o in pending}
        side = m.closing_side(prot.side)
        gone: list[tuple[m.ProtectiveRole, str, float]] = []
        for purpose, oid, price in prot.orders():
            if oid in open_ids:
                continue
            try:
                algo = await self.req.read(self.ex.fetch_order, None, usym, self.venue.lookup_params(oid, trigger=True))
            except ccxt.OrderNotFound:
                algo = {"status": "canceled"}
            if algo.get("status") == "closed":
                actual = str((algo.get("info") or {}).get("actualOrderId") or "")
                if not actual:
                    continue  # triggered, the market order not out yet: next poll
                order = await self.req.read(self.venue.fetch_order, self.ex, actual, usym)
                if order.get("status") != "closed":
                    continue
                filled = self.venue.base_qty(self.ex, usym, float(order.get("filled") or 0.0))
                avg = float(order.get("average") or price)
                fee = await self._fee(usym, order, filled, avg)
                fired = Report(
                    order_id=oid,
                    exchange_order_id=actual,
                    symbol=symbol,
                    side=side,
                    purpose=purpose,
                    status="filled",
                    filled_qty=filled,
                    avg_price=avg,
                    fee=fee,
                )
                siblings = [o for o in prot.orders() if o[1] != oid]
                return [fired] + await self._cancel_siblings(symbol, usym, side, siblings)
            if algo.get("status") in ("canceled", "expired", "rejected"):
                gone.append((purpose, oid, price))
        if not gone:
            return []
        # Canceled or expired outside the desk: say so; what is left keeps protecting.
        for purpose, _oid, _ in gone:
            if purpose == "stop_loss":
                prot.stop_loss_id = prot.stop_loss_price = None
            else:
                prot.take_profit_id = prot.take_profit_price = None
        if not prot.orders():
            self.protections.pop(symbol, None)
        return [
            Report(
                order_id=oid,
                symbol=symbol,
                side=side,
                purpose=p,
                status="canceled",
                error=f"canceled on {self.exchange} outside the desk",
            )
            for p, oid, _ in gone
        ]

    async def _cancel_siblings(
        self, symbol: str, usym: str, side: m.Side, siblings: list[tuple[m.ProtectiveRole, str, float]]
    ) -> list[Report]:
        out = []
        for purpose, oid, _ in siblings:
            try:
                await self.req.call(self.ex.cancel_order, None, usym, self.venue.lookup_params(oid, trigger=True))
            except ccxt.OrderNotFound:
                pass  # already gone (the exchange canceled it with the position)
            except ccxt.BaseError as err:
                log.error("%s %s: sibling %s not canceled: %s", self.exchange, symbol, oid, self.req.text(err))
                out.append(
                    Report(
                        order_id=oid,
                        symbol=symbol,
                        side=side,
                        purpose=purpose,
                        status="error",
                        error=f"cancel_failed: {self.req.describe(err)}",
                    )
                )
                continue
            out.append(Report(order_id=oid, symbol=symbol, side=side, purpose=purpose, status="canceled"))
        self.protections.pop(symbol, None)
        return out

    async def _check_attached(self, symbol: str) -> list[Report]:
        """OKX / Bybit: the exchange runs the OCO; a protected position that is gone was closed by one leg."""
        prot = self.protections[symbol]
        usym = unified_symbol(symbol)
        held = await self._position(usym)
        if held is not None and held[1] >= prot.quantity - 1e-12:
            return []
        trades = await self.req.read(self.ex.fetch_my_trades, usym, prot.since_ms or None)
        side = m.closing_side(prot.side)
        closing = [t for t in trades if t.get("side") == side and (t.get("timestamp") or 0) >= prot.since_ms]
        amount = sum(float(t.get("amount") or 0.0) for t in closing)
        if amount <= 0:
            return []  # the closing trades are not visible yet: next poll
        avg = sum(float(t["price"]) * float(t["amount"]) for t in closing) / amount
        fee = sum(abs(float((t.get("fee") or {}).get("cost") or 0.0)) for t in closing)
        legs = prot.orders()
        fired = min(legs, key=lambda leg: abs(leg[2] - avg))  # the leg whose trigger the fill is nearest
        out = [
            Report(
                order_id=fired[1],
                symbol=symbol,
                side=side,
                purpose=fired[0],
                status="filled",
                filled_qty=self.venue.base_qty(self.ex, usym, amount),
                avg_price=avg,
                fee=fee,
            )
        ]
        out += [
            Report(order_id=oid, symbol=symbol, side=side, purpose=p, status="canceled")
            for p, oid, _ in legs
            if oid != fired[1]
        ]
        self.protections.pop(symbol, None)
        return out

    def _snapshot(self, pos: dict[str, Any]) -> m.PositionSnapshot | None:
        usym = pos.get("symbol") or ""
        side = pos.get("side")
        if side not in ("long", "short") or "/" not in usym:
            return None
        qty = self.venue.base_qty(self.ex, usym, abs(float(pos.get("contracts") or 0.0)))
        if qty <= 0:
            return None
        base, rest = usym.split("/", 1)
        quote = rest.split(":", 1)[0]
        liq = pos.get("liquidationPrice")
        return m.PositionSnapshot(
            symbol=base + quote,
            side=m.opening_side(side),  # a snapshot names a position by the side that opened it
            quantity=qty,
            entry_price=float(pos.get("entryPrice") or 0.0),
            mark_price=float(pos.get("markPrice") or 0.0),
            unrealized_pnl=float(pos.get("unrealizedPnl") or 0.0),
            leverage=int(float(pos.get("leverage") or 1)),
            liquidation_price=float(liq) if liq else None,
        )
