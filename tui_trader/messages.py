"""The messages that cross the bus: frozen msgspec Structs with a JSON codec, and the topic names.

Field names are the wire contract (README "Architecture"); every value carries `v`, the schema version.
Times are epoch milliseconds; `ts` is when the message was created (on the desk's clock).

Two side words: an order's side is buy/sell (`Side`), a position's is long/short (`PositionSide`); the
conversions between them live here and nowhere else. Health components are named by the helpers below.

Decoding validates types and choices. A record that does not decode is never fatal to a consumer:
`Decoder.decode_record` counts it per topic and logs it with its offset, and returns None.
"""

from __future__ import annotations

import logging
import uuid
from typing import Literal, TypeVar

import msgspec

SCHEMA_VERSION = 1

# --- topics ----------------------------------------------------------------------------------------

MARKET_DATA = "trading-market-data"
SIGNALS = "trading-signals"
ORDERS = "trading-orders"
ORDER_STATUS = "trading-order-status"
CONTROL = "trading-control"
# Feed states and worker health for the desk (not trading data; market-data-like, may be conflated).
HEALTH = "trading-health"
# Balance and positions as the broker sees them (paper or exchange), published by the executor.
ACCOUNT = "trading-account"
# Each symbol's latest indicator values and scores, from the indicator worker at most every few hundred ms of
# the clock, signal or not: what the desk's Indicators pane shows (market-data-like, may be conflated).
INDICATOR_VALUES = "trading-indicators"

TOPICS: tuple[str, ...] = (MARKET_DATA, SIGNALS, ORDERS, ORDER_STATUS, CONTROL, HEALTH, ACCOUNT, INDICATOR_VALUES)
# Records on these topics are never dropped by the embedded bus; the others may be conflated.
LOSSLESS_TOPICS: frozenset[str] = frozenset({SIGNALS, ORDERS, ORDER_STATUS, CONTROL, ACCOUNT})
# Per-symbol topics (keyed by symbol): created with `bus.partitions` partitions, so several workers can share
# one by each reading a subset of its partitions; every other topic has one partition.
PARTITIONED_TOPICS: frozenset[str] = frozenset({MARKET_DATA, SIGNALS, INDICATOR_VALUES})


def topic_name(topic: str, prefix: str = "") -> str:
    """The bus name of a topic, with the optional `bus.topic_prefix` for shared clusters."""
    return f"{prefix}-{topic}" if prefix else topic


def new_id() -> str:
    return str(uuid.uuid4())


class _Message(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=False):
    v: int = SCHEMA_VERSION


SignalKind = Literal["StrongBuy", "Buy", "Sell", "StrongSell"]
Side = Literal["buy", "sell"]
Mode = Literal["paper", "live"]
Purpose = Literal["entry", "close", "flatten", "kill"]
StatusPurpose = Literal["entry", "close", "flatten", "kill", "stop_loss", "take_profit"]
StatusKind = Literal["accepted", "filled", "partially_filled", "canceled", "rejected", "error"]
PositionSide = Literal["long", "short"]
# "reconcile": the desk's answer to the executor's reconciliation question at a live start (`Control.answer`).
# "close": close one position (arg: its symbol) reduce-only, its protective orders canceled, as flatten does for all.
# "settings": new values of settings a worker takes while running (`Control.settings`), from the desk that saved them.
ControlCommand = Literal["pause", "resume", "flatten", "kill", "rearm", "set_mode", "reconcile", "close", "settings"]


# --- position sides -----------------------------------------------------------------------------------


def position_side(opening: Side) -> PositionSide:
    """The side of the position an order on `opening` opens: buy → long, sell → short."""
    return "long" if opening == "buy" else "short"


def opening_side(side: PositionSide) -> Side:
    """The order side that opens (or adds to) a position of `side`."""
    return "buy" if side == "long" else "sell"


def closing_side(side: PositionSide) -> Side:
    """The order side that reduces or closes a position of `side`."""
    return "sell" if side == "long" else "buy"


def opposite(side: Side) -> Side:
    """The other order side (the side that takes off what `side` put on)."""
    return "sell" if side == "buy" else "buy"


class MarketData(_Message, frozen=True, kw_only=True, gc=False):
    """One market event of a symbol: a trade, a best bid/ask, or (`kind="mark"`) the venue's mark price,
    index price, funding rate and next funding time (Binance `markPrice`, OKX `mark-price`/`funding-rate`,
    Bybit `tickers`). Every kind carries the latest trade price and book as well; the mark fields are 0
    (not known) on trades and books, so records written before they existed decode unchanged.

    Not tracked by the garbage collector (`gc=False`): its fields are strings and numbers, so it can never be
    part of a reference cycle, and the feed builds one per frame, which would otherwise start a collection
    every few hundred frames."""

    symbol: str
    exchange: str = "binanceusdm"  # the venue: "binanceusdm", "okx" or "bybit"
    kind: Literal["trade", "book", "mark"]
    price: float = 0.0  # last trade price (0 until the first trade)
    volume: float = 0.0  # trade quantity (0 for a book update)
    bid: float = 0.0
    bid_qty: float = 0.0
    ask: float = 0.0
    ask_qty: float = 0.0
    mark_price: float = 0.0
    index_price: float = 0.0
    funding_rate: float = 0.0  # per funding interval, e.g. 0.0001 = 0.01 %; paid by longs when positive
    next_funding_time: int = 0  # epoch ms of the next funding settlement (0: not known)
    event_time: int  # exchange time (ms)
    recv_time: int  # local receipt time (ms)
    ts: int
    # True while trades of this symbol were lost on the way in (the collector could not publish them in time)
    # and the feed is not whole again: the router takes no entries on it until a record says False again.
    gap: bool = False


class Indicators(msgspec.Struct, frozen=True, kw_only=True):
    rsi: float
    macd: float
    macd_signal: float
    macd_hist: float
    bb_upper: float
    bb_middle: float
    bb_lower: float
    sma_fast: float
    sma_slow: float
    ema_fast: float
    ema_slow: float


class TradingSignal(_Message, frozen=True, kw_only=True):
    id: str
    symbol: str
    signal: SignalKind
    strength: float
    buy_score: int
    sell_score: int
    reasons: list[str]
    indicators: Indicators
    price: float
    ts: int


class IndicatorValues(_Message, frozen=True, kw_only=True):
    """A symbol's indicators at its latest evaluated point, whether or not it made a signal: the scores and
    the rules that fired there (as a signal's), `points` taken so far, `price` the point's close."""

    symbol: str
    indicators: Indicators
    price: float
    buy_score: int
    sell_score: int
    reasons: list[str]
    points: int
    ts: int


class OrderCommand(_Message, frozen=True, kw_only=True):
    id: str  # uuid4; also the exchange client order id
    symbol: str
    side: Side
    order_type: Literal["market"] = "market"
    quantity: float
    ref_price: float
    stop_loss: float | None = None
    take_profit: float | None = None
    leverage: int
    reduce_only: bool = False
    purpose: Purpose
    signal_id: str | None = None
    mode: Mode
    ts: int


class OrderStatus(_Message, frozen=True, kw_only=True):
    order_id: str
    exchange_order_id: str | None = None
    symbol: str
    side: Side
    purpose: StatusPurpose
    status: StatusKind
    filled_qty: float = 0.0
    avg_price: float = 0.0
    fee: float = 0.0
    stop_loss_order_id: str | None = None
    take_profit_order_id: str | None = None
    # An entry's fill: the protective prices actually placed, anchored on avg_price (not the command's plan
    # at ref_price) and rounded to the tick on the safe side. None where no order was placed.
    stop_loss_price: float | None = None
    take_profit_price: float | None = None
    error: str | None = None
    mode: Mode
    ts: int


class Control(_Message, frozen=True, kw_only=True):
    command: ControlCommand
    arg: str | None = None
    answer: ReconcileAnswer | None = None  # command "reconcile": the desk's answer to the executor's question
    settings: SettingsChange | None = None  # command "settings": the changed values
    origin: str = "desk"
    ts: int


# --- reconciliation at a live start ---------------------------------------------------------------------
# The executor asks the desk (Health component "reconcile", state "waiting", `Health.question`) and the desk
# answers (Control command "reconcile", `Control.answer`) naming the question's round, so an answer to an older
# question is never applied. What the kinds and actions mean: tui_trader/reconcile.py.

ReconcileKind = Literal["untracked_position", "missing_position", "size_mismatch", "unprotected", "orphan_order"]
ReconcileAction = Literal["adopt", "flatten", "leave"]
ProtectiveRole = Literal["stop_loss", "take_profit"]
OrderRole = Literal["stop_loss", "take_profit", "other"]


class JournalPosition(msgspec.Struct, frozen=True, kw_only=True):
    """A live position as the journal knows it."""

    symbol: str
    side: PositionSide
    quantity: float
    entry_price: float
    leverage: int = 1
    stop_loss: float | None = None
    take_profit: float | None = None
    stop_loss_order_id: str | None = None
    take_profit_order_id: str | None = None

    def protective_ids(self) -> list[tuple[ProtectiveRole, str]]:
        """(role, client order id) of the protective orders the journal says are open."""
        out: list[tuple[ProtectiveRole, str]] = []
        if self.stop_loss_order_id:
            out.append(("stop_loss", self.stop_loss_order_id))
        if self.take_profit_order_id:
            out.append(("take_profit", self.take_profit_order_id))
        return out


class ExchangePosition(msgspec.Struct, frozen=True, kw_only=True):
    symbol: str
    side: PositionSide
    quantity: float  # base units
    entry_price: float
    mark_price: float = 0.0
    leverage: int | None = None  # None when the exchange's answer does not say


class ExchangeOrder(msgspec.Struct, frozen=True, kw_only=True):
    """An open conditional order on the exchange."""

    symbol: str
    order_id: str  # the exchange's id
    client_id: str | None
    role: OrderRole
    side: Side
    quantity: float  # base units (0 = closes the whole position)
    trigger_price: float | None = None
    reduce_only: bool = True


class ReconcileDifference(msgspec.Struct, frozen=True, kw_only=True):
    """One way the journal and the exchange differ, with the actions allowed for it and its headless default."""

    id: str  # stable within one reconciliation: "<kind>:<symbol>[:<order id>]"
    kind: ReconcileKind
    symbol: str
    journal: JournalPosition | None = None
    exchange: ExchangePosition | None = None
    order: ExchangeOrder | None = None  # orphan_order: the order itself
    orders: list[ExchangeOrder] = msgspec.field(default_factory=list)  # the symbol's open conditional orders
    missing: list[str] = msgspec.field(default_factory=list)  # unprotected: "stop_loss" / "take_profit"
    actions: list[ReconcileAction] = msgspec.field(default_factory=list)
    default: ReconcileAction = "leave"
    note: str = ""  # e.g. why adopt is not offered


class ReconcileQuestion(msgspec.Struct, frozen=True, kw_only=True):
    """What the executor asks the desk before live trading starts (`Health.question`)."""

    round: str
    exchange: str
    differences: list[ReconcileDifference]


class ReconcileAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """What the desk answers (`Control.answer`): an action per difference id. An id left out, or given an
    action its difference does not allow, is left alone."""

    round: str
    choices: dict[str, str]


# --- health components ----------------------------------------------------------------------------------
# A component is "<kind>:<name>" for the many of one kind, or a fixed word. Producers build them with the
# helpers, readers take them apart with `split_component`.
FEED = (
    "feed"  # "feed:<connection>" from the collector: state connecting | live | stale | down (a replay: "feed:replay")
)
WORKER = "worker"  # "worker:<name>" from the supervisor: state running | restarting | failed | stopped
BROKER = "broker"  # "broker:<exchange>" from the executor: state live | down (detail: why)
REPLAY_FEED = "feed:replay"
# "reconcile", from the executor at a live start: state checking | waiting (with `question`) | applying | done |
# failed; detail says what was found or done.
RECONCILE_COMPONENT = "reconcile"
# "mode": state = the mode the executor is acting in ("paper" | "live"); detail = why the last requested switch
# was refused ("" when it was not). Published at start and after every set_mode, so a desk shows the truth.
MODE_COMPONENT = "mode"
# "watchdog": state "ok" | "alarm"; detail = what is wrong (a naked position, a venue/book difference, an order
# whose outcome is unknown); symbols = the symbols concerned.
WATCHDOG_COMPONENT = "watchdog"
# "indicators:<symbol>", from the indicator worker while a symbol warms up: state "warming" | "ready"; counters
# points (taken so far) and needed (before every indicator has a value).
WARMUP_COMPONENT = "indicators:"


def feed_component(connection: str) -> str:
    return f"{FEED}:{connection}"


def worker_component(name: str) -> str:
    return f"{WORKER}:{name}"


def broker_component(exchange: str) -> str:
    return f"{BROKER}:{exchange}"


def warmup_component(symbol: str) -> str:
    return f"{WARMUP_COMPONENT}{symbol}"


def split_component(component: str) -> tuple[str, str]:
    """("feed", "public-1") for "feed:public-1"; a fixed component ("mode", "reconcile") → (component, "")."""
    kind, _, name = component.partition(":")
    return kind, name


class Health(_Message, frozen=True, kw_only=True):
    """State of one component for the desk: a feed connection, a worker, the bus."""

    component: str  # "feed:public-1", "worker:indicator", …
    state: str  # feed: connecting | live | stale | down; worker: running | restarting | failed | stopped
    detail: str = ""
    symbols: list[str] = msgspec.field(default_factory=list)
    counters: dict[str, int] = msgspec.field(default_factory=dict)
    question: ReconcileQuestion | None = None  # component "reconcile", state "waiting": what the desk must answer
    halt: HaltState | None = None  # component "router": the kill switch's state (the router owns it)
    ts: int


class PositionSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    symbol: str
    side: Side
    quantity: float
    entry_price: float
    mark_price: float = 0.0
    unrealized_pnl: float = 0.0
    leverage: int = 1
    liquidation_price: float | None = None
    # The protective orders as the broker knows them: trigger price (None = no order known) and whether the
    # venue (or the paper broker) confirms it rests there with the position's quantity.
    stop_loss: float | None = None
    take_profit: float | None = None
    stop_loss_resting: bool = False
    take_profit_resting: bool = False
    funding: float = 0.0  # funding received (+) or paid (−) on this position while open, USDT


class Account(_Message, frozen=True, kw_only=True):
    """The broker's view of the account: balance and open positions (polled live, computed on paper).

    `mode` is the mode of the broker the record describes; `acting` says whether that broker is the one the
    executor routes commands to now. Only an acting Account sets the desk's PAPER/LIVE badge and balance; a
    non-acting one (an earlier paper session's book after a switch to live) is shown as such.
    """

    mode: Mode
    acting: bool = True
    exchange: str
    balance_total: float
    balance_free: float
    positions: list[PositionSnapshot] = msgspec.field(default_factory=list)
    ts: int


TOPIC_TYPES: dict[str, type[msgspec.Struct]] = {
    MARKET_DATA: MarketData,
    SIGNALS: TradingSignal,
    ORDERS: OrderCommand,
    ORDER_STATUS: OrderStatus,
    CONTROL: Control,
    HEALTH: Health,
    ACCOUNT: Account,
    INDICATOR_VALUES: IndicatorValues,
}

_encoder = msgspec.json.Encoder()
encode = _encoder.encode

log = logging.getLogger(__name__)


class Decoder:
    """Typed decoders per topic, with a count of malformed records per topic.

    One Decoder per consumer keeps its counts its own; decoding never raises for bad input.
    """

    def __init__(self) -> None:
        self._decoders = {t: msgspec.json.Decoder(cls) for t, cls in TOPIC_TYPES.items()}
        self.malformed: dict[str, int] = {}

    def decode(self, topic: str, value: bytes, base_topic: str | None = None) -> msgspec.Struct:
        """Decode or raise msgspec errors (for callers that handle them themselves)."""
        return self._decoders[base_topic or topic].decode(value)

    def decode_record(
        self, topic: str, value: bytes, offset: int, base_topic: str | None = None
    ) -> msgspec.Struct | None:
        try:
            return self._decoders[base_topic or topic].decode(value)
        except (msgspec.DecodeError, msgspec.ValidationError, KeyError) as err:
            count = self.malformed.get(topic, 0) + 1
            self.malformed[topic] = count
            # Log the first few in full, then every 1000th, so a flood cannot fill the log.
            if count <= 5 or count % 1000 == 0:
                log.warning("malformed record on %s at offset %d (%d so far): %s", topic, offset, count, err)
            return None


S = TypeVar("S", bound=msgspec.Struct)


def decoder_for(cls: type[S]) -> msgspec.json.Decoder[S]:
    return msgspec.json.Decoder(cls)


# --- live settings changes ------------------------------------------------------------------------------

# A setting's value as settings.toml holds it.
SettingValue = bool | int | float | str | list[str]


class SettingsChange(msgspec.Struct, frozen=True, kw_only=True):
    """Settings the desk saved, by dotted key ("risk.cooldown_s": 30.0), sent as Control command "settings".
    Every worker takes the keys it reads while running (its `live_settings`); the others apply at its next
    start, from the file. Values are checked as settings.toml is when applied, so a bad one changes nothing."""

    values: dict[str, SettingValue]


# --- the trading state ----------------------------------------------------------------------------------
# The router owns whether trading is paused or halted: it publishes Health component "router" with state
# trading | paused | halted | daily_loss_limit | waiting and, in `Health.halt`, the kill switch's state, at start
# and on every change. The journal keeps the HaltState (a restarted router comes back halted); everyone else
# shows what the router published.
ROUTER_COMPONENT = "router"
TradingStateKind = Literal["trading", "paused", "halted", "daily_loss_limit", "waiting"]


class HaltState(msgspec.Struct, frozen=True, kw_only=True):
    """Whether the kill switch halted trading, when and by whom."""

    halted: bool = False
    halted_at: int | None = None  # ms on the router's clock when the kill switch was pulled
    halted_by: str = ""  # origin of the kill (desk, a remote UI, the supervisor)
    detail: str = ""
