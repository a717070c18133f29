"""Live reconciliation at start: the journal's positions against the exchange's, before anything trades.

Pure: views in, differences and decisions out (no I/O, no bus, no clock). The executor's shell
(`workers/reconciler.py`) reads both sides, asks the desk or applies the headless policy, and carries the
chosen actions out through the ccxt broker.

The two views:
- the journal's: live commands and statuses folded by the same `Portfolio` the router uses, so a position
  here is exactly what the router will trade against (side, size, entry, protective order ids and prices);
- the exchange's: its open positions on the desk's symbols and its open conditional (protective) orders.

What can differ, and what each action means for it (three actions everywhere, so the desk needs three keys):

| kind | adopt | flatten | leave |
|---|---|---|---|
| untracked_position (exchange only) | journal it, fresh SL/TP | cancel its orders, close reduce-only | log |
| missing_position (journal only) | book it closed (its SL/TP fill if one is found) | — | log |
| size_mismatch (both, sizes or sides differ) | book the exchange's size, fresh SL/TP | close it, book closed | log |
| unprotected (both, its SL/TP not open) | fresh SL/TP | cancel its orders, close, book closed | log |
| orphan_order (conditional order, no position) | — | cancel it | log |

Headless (nobody to ask) every difference gets its default from the settings (`exchange.reconcile_untracked`,
`exchange.reconcile_tracked`): untracked positions are flattened (or adopted, or left), orphan orders canceled
unless untracked things are left alone, tracked positions re-protected (or left), and a position the exchange
no longer has is always booked closed (the journal must not trade against a position that is gone).

Fresh protection keeps the journal's stop-loss and take-profit prices while they are still on the right side
of the mark; otherwise (and for an adopted position, which has none) it is placed at the configured distances
(`trading.stop_loss_pct`, `trading.take_profit_pct`) from the current mark.

The desk protocol: the executor publishes a `Health` record (component "reconcile", state "waiting", the
`ReconcileQuestion` in `question`); the desk answers with a `Control(command="reconcile")` whose `answer` (a
`ReconcileAnswer`) carries the round id it was asked in, so an answer to an older question is never applied.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Literal

import msgspec

from tui_trader import messages as m

if TYPE_CHECKING:
    from tui_trader.settings import ExchangeSettings

# The wire types (they cross the bus in the executor's question and the desk's answer) are the messages'.
Kind = m.ReconcileKind
Action = m.ReconcileAction
OrderRole = m.OrderRole
JournalPosition = m.JournalPosition
ExchangePosition = m.ExchangePosition
ExchangeOrder = m.ExchangeOrder
Difference = m.ReconcileDifference

ACTIONS: tuple[Action, ...] = ("adopt", "flatten", "leave")
KIND_ORDER: tuple[Kind, ...] = (
    "missing_position",
    "size_mismatch",
    "unprotected",
    "untracked_position",
    "orphan_order",
)

# What each action does for each kind, in words for the desk and the log.
ACTION_TEXT: dict[Kind, dict[Action, str]] = {
    "untracked_position": {
        "adopt": "track it, with fresh stop-loss and take-profit orders",
        "flatten": "cancel its orders and close it reduce-only",
        "leave": "do nothing (the desk will not know it)",
    },
    "missing_position": {
        "adopt": "book it closed in the journal",
        "leave": "do nothing (the desk keeps a position the exchange does not have)",
    },
    "size_mismatch": {
        "adopt": "take the exchange's size, with fresh stop-loss and take-profit orders",
        "flatten": "close it on the exchange and book it closed",
        "leave": "do nothing",
    },
    "unprotected": {
        "adopt": "place fresh stop-loss and take-profit orders",
        "flatten": "cancel its orders, close it and book it closed",
        "leave": "do nothing (the position stays without protection)",
    },
    "orphan_order": {
        "flatten": "cancel the order",
        "leave": "do nothing (it may cut into a later position)",
    },
}

KIND_TEXT: dict[Kind, str] = {
    "untracked_position": "on the exchange, not in the journal",
    "missing_position": "in the journal, flat on the exchange",
    "size_mismatch": "journal and exchange differ",
    "unprotected": "protective orders not open",
    "orphan_order": "conditional order without a position",
}


class Policy(msgspec.Struct, frozen=True, kw_only=True):
    untracked: Literal["flatten", "adopt", "leave"] = "flatten"
    tracked: Literal["protect", "leave"] = "protect"

    @classmethod
    def from_settings(cls, exchange_settings: ExchangeSettings) -> Policy:
        return cls(untracked=exchange_settings.reconcile_untracked, tracked=exchange_settings.reconcile_tracked)


# --- the journal's view ---------------------------------------------------------------------------------


def journal_positions(
    commands: Iterable[m.OrderCommand], statuses: Iterable[m.OrderStatus]
) -> dict[str, JournalPosition]:
    """Open live positions from the journaled live commands and statuses (the router's own fold)."""
    from tui_trader.portfolio.positions import Portfolio

    book = Portfolio(0.0)
    for cmd in commands:
        if cmd.mode == "live":
            book.on_command(cmd)
    for st in statuses:
        if st.mode == "live":
            book.apply(st)
    return {
        sym: JournalPosition(
            symbol=sym,
            side=p.side,
            quantity=p.quantity,
            entry_price=p.entry_price,
            leverage=p.leverage,
            stop_loss=p.stop_loss,
            take_profit=p.take_profit,
            stop_loss_order_id=p.stop_loss_order_id,
            take_profit_order_id=p.take_profit_order_id,
        )
        for sym, p in book.positions.items()
    }


# --- differences ------------------------------------------------------------------------------------------


def find_differences(
    journal: Mapping[str, JournalPosition],
    positions: Sequence[ExchangePosition],
    orders: Sequence[ExchangeOrder],
    policy: Policy | None = None,
    *,
    tolerance: Mapping[str, float] | None = None,
    can_protect: bool = True,
    sees_protection: bool | None = None,
) -> list[Difference]:
    """Every difference between the two views, with its allowed actions and its headless default.

    tolerance: per symbol, the size difference still taken as equal (half the quantity step).
    can_protect: the venue can place protective orders for a position that already exists (Binance's
    standalone algo orders); where SL/TP ride on the entry order (OKX, Bybit) adopting and re-protecting
    are not offered.
    sees_protection: `orders` include the venue's protective orders, so a position's protection is checked
    (default: can_protect). OKX lists its attached SL/TP as an algo order: an unprotected position there is
    found, with flatten or leave (default leave: the trader decides).
    """
    policy = policy or Policy()
    tolerance = tolerance or {}
    sees_protection = can_protect if sees_protection is None else sees_protection
    on_exchange = {p.symbol: p for p in positions}
    by_symbol: dict[str, list[ExchangeOrder]] = {}
    for o in orders:
        by_symbol.setdefault(o.symbol, []).append(o)
    out: list[Difference] = []
    for sym in sorted(set(journal) | set(on_exchange) | set(by_symbol)):
        jpos, xpos, open_orders = journal.get(sym), on_exchange.get(sym), by_symbol.get(sym, [])
        tol = tolerance.get(sym, 1e-9)
        if jpos is not None and xpos is None:
            # Its own stop or target still open belongs to the missing position (booking it closed cancels
            # them); anything else on the symbol is an orphan.
            mine = {cid for _, cid in jpos.protective_ids()}
            out.append(_missing(jpos, [o for o in open_orders if o.client_id in mine], policy))
            out += [_orphan(o, policy) for o in open_orders if o.client_id not in mine]
        elif jpos is None and xpos is not None:
            out.append(_untracked(xpos, open_orders, policy, can_protect))
        elif jpos is not None and xpos is not None:
            if jpos.side != xpos.side or abs(jpos.quantity - xpos.quantity) > tol:
                out.append(_mismatch(jpos, xpos, open_orders, policy, can_protect))
            elif sees_protection:
                missing = unprotected_roles(jpos, open_orders, xpos.quantity, tol)
                if missing:
                    out.append(_unprotected(jpos, xpos, open_orders, missing, policy, can_protect))
        else:
            out += [_orphan(o, policy) for o in open_orders]
    return sorted(out, key=lambda d: (d.symbol, KIND_ORDER.index(d.kind), d.id))


def unprotected_roles(
    jpos: JournalPosition, open_orders: Sequence[ExchangeOrder], quantity: float | None = None, tolerance: float = 1e-9
) -> list[str]:
    """The protective roles ("stop_loss", "take_profit") whose journaled order is not open on the exchange
    (with `quantity`: not open for the position's whole size; 0 = closes the whole position)."""
    open_ids = {
        o.client_id
        for o in open_orders
        if o.client_id and (quantity is None or o.quantity == 0 or abs(o.quantity - quantity) <= tolerance)
    }
    ids = dict(jpos.protective_ids())
    return [role for role in ("stop_loss", "take_profit") if ids.get(role) not in open_ids]


def in_sync(
    journal: Mapping[str, JournalPosition], positions: Sequence[ExchangePosition], differences: Sequence[Difference]
) -> list[JournalPosition]:
    """Tracked positions with nothing to reconcile (the broker watches their protective orders from now on)."""
    differing = {d.symbol for d in differences if d.kind != "orphan_order"}
    present = {p.symbol for p in positions}
    return [p for sym, p in sorted(journal.items()) if sym in present and sym not in differing]


def _untracked(x: ExchangePosition, orders: list[ExchangeOrder], policy: Policy, can_protect: bool) -> Difference:
    actions: list[Action] = ["adopt", "flatten", "leave"] if can_protect else ["flatten", "leave"]
    default: Action = policy.untracked if policy.untracked in actions else "leave"
    note = "" if can_protect else "adopting needs protective orders this venue only attaches to an entry"
    return Difference(
        id=f"untracked_position:{x.symbol}",
        kind="untracked_position",
        symbol=x.symbol,
        exchange=x,
        orders=list(orders),
        actions=actions,
        default=default,
        note=note,
    )


def _missing(j: JournalPosition, orders: list[ExchangeOrder], policy: Policy) -> Difference:
    # Always booked closed by default: a journal that trades against a position that is gone denies every
    # signal for the symbol and sends closes the exchange refuses.
    return Difference(
        id=f"missing_position:{j.symbol}",
        kind="missing_position",
        symbol=j.symbol,
        journal=j,
        orders=list(orders),
        actions=["adopt", "leave"],
        default="adopt",
    )


def _mismatch(
    j: JournalPosition, x: ExchangePosition, orders: list[ExchangeOrder], policy: Policy, can_protect: bool
) -> Difference:
    actions: list[Action] = ["adopt", "flatten", "leave"] if can_protect else ["flatten", "leave"]
    default: Action = "adopt" if policy.tracked == "protect" and can_protect else "leave"
    return Difference(
        id=f"size_mismatch:{j.symbol}",
        kind="size_mismatch",
        symbol=j.symbol,
        journal=j,
        exchange=x,
        orders=list(orders),
        missing=unprotected_roles(j, orders),
        actions=actions,
        default=default,
    )


def _unprotected(
    j: JournalPosition,
    x: ExchangePosition,
    orders: list[ExchangeOrder],
    missing: list[str],
    policy: Policy,
    can_protect: bool = True,
) -> Difference:
    if not can_protect:
        return Difference(
            id=f"unprotected:{j.symbol}",
            kind="unprotected",
            symbol=j.symbol,
            journal=j,
            exchange=x,
            orders=list(orders),
            missing=missing,
            actions=["flatten", "leave"],
            default="leave",
            note="this venue attaches protection to an entry only: close it, or protect it on the exchange",
        )
    default: Action = "adopt" if policy.tracked == "protect" else "leave"
    return Difference(
        id=f"unprotected:{j.symbol}",
        kind="unprotected",
        symbol=j.symbol,
        journal=j,
        exchange=x,
        orders=list(orders),
        missing=missing,
        actions=["adopt", "flatten", "leave"],
        default=default,
    )


def _orphan(o: ExchangeOrder, policy: Policy) -> Difference:
    # A reduce-only stop with no position can only harm (it would cut into the next position on the
    # symbol): canceled unless the trader chose to leave untracked things alone.
    default: Action = "leave" if policy.untracked == "leave" else "flatten"
    return Difference(
        id=f"orphan_order:{o.symbol}:{o.order_id}",
        kind="orphan_order",
        symbol=o.symbol,
        order=o,
        actions=["flatten", "leave"],
        default=default,
    )


# --- choices ----------------------------------------------------------------------------------------------


def default_choices(differences: Sequence[Difference]) -> dict[str, Action]:
    return {d.id: d.default for d in differences}


def choices_from_answer(
    differences: Sequence[Difference], answer: Mapping[str, str]
) -> tuple[dict[str, Action], list[str]]:
    """The desk's answer checked against what each difference allows. A difference the answer does not
    name, or names with an action it does not allow, is left alone (the trader answered; nothing is
    assumed for them). Returns the choices and one line per problem."""
    choices: dict[str, Action] = {}
    problems = []
    for d in differences:
        chosen = answer.get(d.id)
        if chosen is None:
            problems.append(f"{d.id}: no answer; left alone")
            choices[d.id] = "leave"
        elif chosen not in d.actions:
            problems.append(f"{d.id}: {chosen!r} is not one of {', '.join(d.actions)}; left alone")
            choices[d.id] = "leave"
        else:
            choices[d.id] = chosen
    return choices, problems


def kill_choices(differences: Sequence[Difference]) -> dict[str, Action]:
    """The kill switch pulled while the desk is asked: flatten whatever can be flattened, the rest as its
    default (a missing position is still booked closed)."""
    return {d.id: "flatten" if "flatten" in d.actions else d.default for d in differences}


# --- protection ---------------------------------------------------------------------------------------------


def protection_prices(
    side: m.PositionSide,
    mark: float,
    stop_loss_pct: float,
    take_profit_pct: float,
    *,
    keep_stop: float | None = None,
    keep_target: float | None = None,
    tick: float | None = None,
) -> tuple[float, float]:
    """Stop-loss and take-profit for a position marked at `mark`: the kept prices while they are still on
    the protective side of the mark (a stop below a long's mark, a target above it), else the configured
    distances from the mark, rounded to the tick."""
    sign = 1 if side == "long" else -1
    stop = keep_stop if keep_stop is not None and (mark - keep_stop) * sign > 0 else mark * (1 - sign * stop_loss_pct)
    target = (
        keep_target
        if keep_target is not None and (keep_target - mark) * sign > 0
        else mark * (1 + sign * take_profit_pct)
    )
    if tick:
        stop, target = round(round(stop / tick) * tick, 12), round(round(target / tick) * tick, 12)
    return stop, target


# --- synthetic journal records ----------------------------------------------------------------------------------


def adopt_command(
    cmd_id: str, x: ExchangePosition, stop_loss: float, take_profit: float, leverage: int, ts: int
) -> m.OrderCommand:
    """The entry the journal books for a position it takes over (never sent: the position exists)."""
    return m.OrderCommand(
        id=cmd_id,
        symbol=x.symbol,
        side=m.opening_side(x.side),
        quantity=x.quantity,
        ref_price=x.entry_price,
        stop_loss=stop_loss,
        take_profit=take_profit,
        leverage=leverage,
        reduce_only=False,
        purpose="entry",
        mode="live",
        ts=ts,
    )


def adopt_fill(
    cmd: m.OrderCommand, ts: int, stop_loss_order_id: str | None, take_profit_order_id: str | None, note: str
) -> m.OrderStatus:
    """The fill that makes the journal (and the router) hold the adopted position at its exchange entry."""
    return m.OrderStatus(
        order_id=cmd.id,
        symbol=cmd.symbol,
        side=cmd.side,
        purpose="entry",
        status="filled",
        filled_qty=cmd.quantity,
        avg_price=cmd.ref_price,
        stop_loss_order_id=stop_loss_order_id,
        take_profit_order_id=take_profit_order_id,
        error=f"reconcile: {note}",
        mode="live",
        ts=ts,
    )


def booked_close(order_id: str, j: JournalPosition, price: float, note: str, ts: int) -> m.OrderStatus:
    """A close the journal books for a position that is no longer (or no longer so) on the exchange."""
    return m.OrderStatus(
        order_id=order_id,
        symbol=j.symbol,
        side=m.closing_side(j.side),
        purpose="close",
        status="filled",
        filled_qty=j.quantity,
        avg_price=price,
        error=f"reconcile: {note}",
        mode="live",
        ts=ts,
    )


def protective_gone(j: JournalPosition, ts: int) -> list[m.OrderStatus]:
    """ "canceled" for each protective order the journal holds for `j` (not open on the exchange any more)."""
    return [
        m.OrderStatus(
            order_id=oid,
            symbol=j.symbol,
            side=m.closing_side(j.side),
            purpose=role,
            status="canceled",
            error="reconcile: not open on the exchange",
            mode="live",
            ts=ts,
        )
        for role, oid in j.protective_ids()
    ]


# --- words ------------------------------------------------------------------------------------------------------


def describe(d: Difference) -> str:
    """One line for the screen and the log."""
    if d.kind == "orphan_order" and d.order is not None:
        o = d.order
        trig = f" @ {o.trigger_price:g}" if o.trigger_price else ""
        qty = f"{o.quantity:g}" if o.quantity else "all"
        return f"{o.role.replace('_', '-')} {o.side} {qty}{trig} (order {o.order_id}), no position"
    parts = []
    if d.journal is not None:
        j = d.journal
        parts.append(f"journal {j.side} {j.quantity:g} @ {j.entry_price:g}")
    if d.exchange is not None:
        x = d.exchange
        mark = f", mark {x.mark_price:g}" if x.mark_price else ""
        parts.append(f"exchange {x.side} {x.quantity:g} @ {x.entry_price:g}{mark}")
    elif d.journal is not None:
        parts.append("exchange flat")
    if d.missing:
        parts.append("no " + " or ".join(r.replace("_", "-") for r in d.missing) + " open")
    if d.orders and d.kind != "unprotected":
        parts.append(f"{len(d.orders)} conditional order{'s' if len(d.orders) != 1 else ''} open")
    return "; ".join(parts)


def action_text(d: Difference, action: Action) -> str:
    return ACTION_TEXT[d.kind].get(action, "not allowed")
