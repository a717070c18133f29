"""Typed settings: one frozen msgspec Struct per section of settings.toml.

Who reads what: `trading` (router, executor), `indicators` (indicator worker), `risk` (router), `feed`
(collector), `exchange` (ccxt broker, warm-up, doctor), `paper` (paper broker), `bus` (runtime), `ui` and
`keys` (desk), `journal` (journal), `notify` (notifier). Every field carries its documentation in
`Meta(description=...)`; the settings screen and the README table are generated from it, so the reference
lives here.

Loading is strict: unknown keys, wrong types and out-of-range values raise `SettingsError` naming the file,
the key and what is allowed. Saving is atomic (temp file + rename), keeps the previous file as `.bak`, and
edits the file in place (tomlkit): the trader's comments, order and layout stay.
Secrets never live here: see `load_secrets`.
"""

from __future__ import annotations

import math
import os
import re
import stat
import tempfile
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import tomlkit
import tomlkit.items

from tui_trader import paths
from tui_trader.errors import SecretsError, SettingsError, TuiTraderError

Symbol = Annotated[str, msgspec.Meta(pattern=r"^[A-Z0-9]+$", min_length=1)]


def _doc(text: str, **constraints: Any) -> msgspec.Meta:
    return msgspec.Meta(description=text, **constraints)


class _Section(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


class TradingSettings(_Section, frozen=True):
    symbols: Annotated[
        list[Symbol],
        _doc("Perpetual symbols to trade, upper-case (BTCUSDT); 1 to 1000 of them.", min_length=1, max_length=1000),
    ] = msgspec.field(default_factory=lambda: ["BTCUSDT", "ETHUSDT"])
    paper_trading: Annotated[bool, _doc("Trade on the simulated paper broker (true) or the exchange (false).")] = True
    max_position_size: Annotated[
        float, _doc("Largest notional of one position, in USDT, up to 10,000,000.", gt=0, le=10_000_000)
    ] = 1000.0
    risk_per_trade: Annotated[float, _doc("Share of equity risked per trade, in (0, 1).", gt=0, lt=1)] = 0.02
    leverage: Annotated[int, _doc("Leverage set on each symbol, 1..125.", ge=1, le=125)] = 10
    stop_loss_pct: Annotated[float, _doc("Stop-loss distance from entry, in (0, 1).", gt=0, lt=1)] = 0.03
    take_profit_pct: Annotated[float, _doc("Take-profit distance from entry, in (0, 1).", gt=0, lt=1)] = 0.06
    min_signal_strength: Annotated[float, _doc("Signals weaker than this are ignored, in (0, 1).", gt=0, lt=1)] = 0.65


BAR_PATTERN = r"^(tick|[1-9][0-9]*[smh])$"


class IndicatorSettings(_Section, frozen=True):
    bar: Annotated[
        str,
        _doc(
            'What one indicator point is: "tick" (every trade; RSI over 14 trades is mostly '
            'noise) or a time bar built from trades by event time: "1s", "5s", "1m", "5m", "1h".',
            pattern=BAR_PATTERN,
        ),
    ] = "1m"
    rsi_period: Annotated[int, _doc("RSI period.", ge=2, le=200)] = 14
    macd_fast: Annotated[int, _doc("MACD fast EMA period.", ge=2, le=200)] = 12
    macd_slow: Annotated[int, _doc("MACD slow EMA period.", ge=2, le=200)] = 26
    macd_signal: Annotated[int, _doc("MACD signal period.", ge=1, le=200)] = 9
    bb_period: Annotated[int, _doc("Bollinger band period.", ge=2, le=200)] = 20
    bb_stddev: Annotated[float, _doc("Bollinger band width in standard deviations.", gt=0, le=10)] = 2.0
    sma_fast: Annotated[int, _doc("Fast SMA period.", ge=2, le=200)] = 20
    sma_slow: Annotated[int, _doc("Slow SMA period.", ge=2, le=200)] = 50
    ema_fast: Annotated[int, _doc("Fast EMA period.", ge=2, le=200)] = 12
    ema_slow: Annotated[int, _doc("Slow EMA period.", ge=2, le=200)] = 26
    near_band: Annotated[
        float, _doc("Price is near a band when %B <= near_band (lower) or >= 1 - near_band (upper).", gt=0, lt=0.5)
    ] = 0.2
    emit: Annotated[
        Literal["change", "every"],
        _doc('"change": publish when a symbol\'s signal kind changes; "every": each qualifying evaluation.'),
    ] = "change"
    warmup: Annotated[
        bool, _doc("With time bars, fetch recent closed klines at start so signals don't wait for 50 bars.")
    ] = True


# Points of one symbol's series kept in memory. TA-Lib stream handles carry the indicators' state, so only the
# first points (until every handle can open) are kept; `indicator_history_needed` must fit in this.
MAX_INDICATOR_POINTS = 200


def indicator_history_needed(ind: IndicatorSettings) -> int:
    """Points needed before every indicator has a value (TA-Lib lookback + 1 of the slowest one): 50 by default."""
    return max(ind.rsi_period + 1, ind.macd_slow + ind.macd_signal - 1, ind.bb_period, ind.sma_slow, ind.ema_slow)


class RiskSettings(_Section, frozen=True):
    on_opposite: Annotated[
        Literal["close", "reverse", "ignore"],
        _doc('A signal against an open position: "close" it, "reverse" (close then open), or "ignore".'),
    ] = "close"
    max_open_positions: Annotated[int, _doc("Most positions open at once.", ge=1, le=100)] = 2
    daily_loss_limit_pct: Annotated[
        float,
        _doc(
            "New entries stop for the UTC day once the loss reaches this share of the day's starting equity.",
            gt=0,
            lt=1,
        ),
    ] = 0.05
    cooldown_s: Annotated[
        float,
        _doc("Seconds after a close before the same symbol may enter again, up to a day (86400).", ge=0, le=86400),
    ] = 60.0
    stale_after_s: Annotated[
        float, _doc("No entry when the symbol's last price is older than this (seconds, up to 3600).", gt=0, le=3600)
    ] = 5.0
    order_timeout_s: Annotated[
        float,
        _doc(
            "An order with no final status after this long stops blocking new signals for its symbol and is "
            "logged as unanswered (seconds, up to 3600).",
            gt=0,
            le=3600,
        ),
    ] = 30.0
    naked_grace_s: Annotated[
        float,
        _doc(
            "Longest time an open position may lack either protective order (stop-loss, take-profit) resting at "
            "the venue before it is re-protected, or closed if that fails, and the desk raises the alarm (seconds).",
            gt=0,
            le=300,
        ),
    ] = 5.0
    price_band_pct: Annotated[
        float,
        _doc(
            "Sanity band around the last good trade: the paper broker never fills farther than this share from "
            "it, and a live order whose reference price lies outside it is refused, in (0, 1).",
            gt=0,
            lt=1,
        ),
    ] = 0.05
    trigger_price: Annotated[
        Literal["mark", "last"],
        _doc(
            'The price that triggers stop-loss and take-profit orders, live and on paper: "mark" (the venue\'s '
            'mark price, as most traders use) or "last" (the last trade).'
        ),
    ] = "mark"


class FeedSettings(_Section, frozen=True):
    venue: Annotated[
        Literal["", "binanceusdm", "okx", "bybit"],
        _doc('Market data venue: "binanceusdm", "okx" or "bybit"; empty = the venue of exchange.name.'),
    ] = ""
    ws_base_url: Annotated[
        str,
        _doc(
            "Replaces the feed venue's websocket scheme and host, keeping its paths (Binance /public and /market, "
            "OKX /ws/v5/public, Bybit /v5/public/linear): a testnet or a local server; empty = the venue's own host."
        ),
    ] = ""
    trade_stream: Annotated[Literal["aggTrade", "trade"], _doc("Trade stream: aggTrade (documented) or trade.")] = (
        "aggTrade"
    )
    marks: Annotated[
        bool,
        _doc(
            "Read the mark price and funding too (Binance markPrice@1s; OKX and Bybit send them on channels the "
            "feed always reads): the paper broker values, liquidates and charges funding at the mark."
        ),
    ] = True
    dedicated_symbols: Annotated[
        list[Symbol],
        _doc(
            "Symbols that get their own connections; the rest share (at most 200 streams each); at most 1000.",
            max_length=1000,
        ),
    ] = msgspec.field(default_factory=lambda: ["BTCUSDT", "ETHUSDT"])
    stale_after_s: Annotated[
        float, _doc("A symbol with no message for this long is marked stale (seconds, up to 3600).", gt=0, le=3600)
    ] = 10.0
    streams_per_connection: Annotated[int, _doc("Most streams on one shared connection.", ge=1, le=1024)] = 200
    reconnect_max_s: Annotated[
        float, _doc("Longest wait between reconnect attempts (seconds, up to 3600).", gt=0, le=3600)
    ] = 30.0
    rotate_after_s: Annotated[
        float, _doc("Reconnect each connection after this long; Binance cuts at 24 h.", gt=0, le=86400)
    ] = 85800.0
    max_id_jump: Annotated[
        int,
        _doc(
            "A trade id or book update id farther than this from its stream's last one is a jump: the frame is "
            "quarantined (counted, not published) until confirm_frames frames in a row agree with it.",
            ge=1,
            le=2**62,
        ),
    ] = 1_000_000_000
    max_time_jump_s: Annotated[
        float,
        _doc(
            "An event time farther than this from the latest accepted one is a jump (seconds), quarantined the "
            "same way; in a replay an event time later than the wall clock is never accepted.",
            gt=0,
            le=86400,
        ),
    ] = 300.0
    price_band_pct: Annotated[
        float,
        _doc(
            "A trade price, bid or ask farther than this share from the symbol's last good price (trade or book "
            "mid) is quarantined the same way, in (0, 1). The default matches risk.price_band_pct, so nothing the "
            "feed lets through is outside the band orders are checked against.",
            gt=0,
            lt=1,
        ),
    ] = 0.05
    confirm_frames: Annotated[
        int,
        _doc(
            "Frames in a row (the jumped one included) that make a jump the new baseline: a real gap costs this "
            "many minus one frames, one absurd frame is dropped. 1 accepts every jump.",
            ge=1,
            le=100,
        ),
    ] = 3
    reconnect_quiet_s: Annotated[
        float,
        _doc(
            "A connection on which no symbol got any message for this long is closed and opened again (seconds, "
            "up to 3600): a feed that went quiet reconnects instead of staying stale.",
            gt=0,
            le=3600,
        ),
    ] = 30.0
    max_waiting_trades: Annotated[
        int,
        _doc(
            "Trades received and not yet published that the collector holds while the bus is slower than the "
            "market (book and mark records conflate to the latest per symbol). A trade beyond this is dropped, "
            "counted, and its symbol has a gap: no entries on it until the feed is whole again.",
            ge=1,
            le=10_000_000,
        ),
    ] = 65536
    gap_clear_s: Annotated[
        float,
        _doc(
            "A symbol's gap closes once everything waiting at its last lost trade is published and this long has "
            "passed without another loss (seconds, up to 3600).",
            gt=0,
            le=3600,
        ),
    ] = 5.0


class ExchangeSettings(_Section, frozen=True):
    name: Annotated[Literal["binanceusdm", "okx", "bybit"], _doc("Exchange for live trading (ccxt id).")] = (
        "binanceusdm"
    )
    demo: Annotated[bool, _doc("Use the exchange's demo/sandbox environment for live mode.")] = True
    api_base_url: Annotated[
        str, _doc("Replace every REST host of the exchange with this URL (paths kept); empty = ccxt's hosts.")
    ] = ""
    margin_mode: Annotated[Literal["isolated", "cross"], _doc("Margin mode set on each symbol.")] = "isolated"
    poll_s: Annotated[
        float, _doc("Seconds between open-order polls (protective order fills), up to 3600.", gt=0, le=3600)
    ] = 2.0
    account_poll_s: Annotated[float, _doc("Seconds between position and balance polls, up to 3600.", gt=0, le=3600)] = (
        60.0
    )
    timeout_ms: Annotated[int, _doc("HTTP timeout for exchange requests (ms).", ge=100, le=120000)] = 10000
    secrets_file: Annotated[
        str, _doc("Secrets file (mode 0600) with api_key, api_secret, api_password; empty = the XDG config dir.")
    ] = ""
    reconcile_untracked: Annotated[
        Literal["flatten", "adopt", "leave"],
        _doc(
            "Live start without a desk to ask: what to do with an exchange position the journal does not know "
            '(and with conditional orders that have no position): "flatten" closes it reduce-only and cancels '
            'its orders, "adopt" tracks it with fresh stop-loss and take-profit orders, "leave" only logs it.'
        ),
    ] = "flatten"
    reconcile_tracked: Annotated[
        Literal["protect", "leave"],
        _doc(
            "Live start without a desk to ask: a journaled position whose protective orders are not open on the "
            'exchange, or whose size differs: "protect" places fresh stop-loss and take-profit orders (for the '
            'exchange\'s size), "leave" only logs it. A position the exchange no longer has is booked closed.'
        ),
    ] = "protect"


class PaperSettings(_Section, frozen=True):
    starting_balance: Annotated[
        float, _doc("Paper account balance at start, in USDT, up to 1,000,000,000.", gt=0, le=1_000_000_000)
    ] = 10000.0
    taker_fee: Annotated[float, _doc("Fee charged on notional for every paper fill.", ge=0, lt=0.1)] = 0.0005
    slippage_bps: Annotated[
        float, _doc("Paper fills are this many basis points worse than the book.", ge=0, le=1000)
    ] = 0.0
    maintenance_margin_rate: Annotated[
        float,
        _doc(
            "Share of a position's notional that must remain as margin; below it the paper broker liquidates "
            "(Binance BTCUSDT's first tier: 0.004).",
            ge=0,
            lt=0.5,
        ),
    ] = 0.004


class BusSettings(_Section, frozen=True):
    backend: Annotated[
        Literal["embedded", "fluvio"], _doc('"embedded" needs no server; "fluvio" spreads workers over machines.')
    ] = "embedded"
    fluvio_endpoint: Annotated[
        str, _doc("Fluvio SC endpoint host:port; empty = the active profile in ~/.fluvio/config.")
    ] = ""
    topic_prefix: Annotated[
        str,
        _doc(
            "Prefix for topic names so two desks can share one cluster (lower-case, digits, -).",
            pattern=r"^([a-z0-9][a-z0-9-]*)?$",
        ),
    ] = ""
    retention: Annotated[
        int,
        _doc(
            "Embedded bus: records kept per market-data topic (at least; trimmed at twice this); a consumer "
            "further behind gets a gap, the desk skips to the latest price; 100..10,000,000.",
            ge=100,
            le=10_000_000,
        ),
    ] = 20000
    connect_timeout_s: Annotated[float, _doc("Fluvio connect timeout (seconds).", gt=0, le=120)] = 5.0
    partitions: Annotated[
        int,
        _doc(
            "Partitions of the per-symbol topics (market data, signals, indicator values); records go to a "
            "partition by their symbol, so several indicator or router workers can share a topic (1..256).",
            ge=1,
            le=256,
        ),
    ] = 1


class UiSettings(_Section, frozen=True):
    theme: Annotated[str, _doc("Theme name (themes/*.toml or a Textual built-in).", min_length=1)] = "desk-dark"
    refresh_hz: Annotated[float, _doc("Pane redraws per second (at most 15).", gt=0, le=15)] = 10.0


_KEY = "Key(s), comma-separated Textual key names (p, f12, ctrl+backslash, question_mark), for "


class KeySettings(_Section, frozen=True):
    """[keys]: the desk's key bindings by binding id. The desk refuses, at start and in its settings screen, a
    key another binding of the same screen has or a text field uses for editing (ctrl+a/e/k/u/w, arrows,
    home/end, ...), and keeps that binding's default."""

    kill: Annotated[
        str,
        _doc(
            _KEY + "the kill switch (pause, cancel, flatten at market, halt); it works from "
            "every screen, over text fields, so never a key typing or editing uses.",
            min_length=1,
        ),
    ] = "f12,ctrl+backslash"
    rearm: Annotated[str, _doc(_KEY + "re-arming after the kill switch (asks first).", min_length=1)] = "ctrl+r"
    help: Annotated[str, _doc(_KEY + "the help screen with every key.", min_length=1)] = "question_mark"
    pause: Annotated[str, _doc(_KEY + "pause or resume new entries.", min_length=1)] = "p"
    flatten: Annotated[str, _doc(_KEY + "closing every position at market (asks first).", min_length=1)] = "f"
    mode: Annotated[str, _doc(_KEY + "switching paper/live.", min_length=1)] = "m"
    settings: Annotated[str, _doc(_KEY + "the settings screen.", min_length=1)] = "s"
    theme: Annotated[str, _doc(_KEY + "the next theme.", min_length=1)] = "t"
    quit: Annotated[str, _doc(_KEY + "quitting the desk (asks first when positions are open).", min_length=1)] = "q"
    tab_market: Annotated[str, _doc(_KEY + "the prices and signals tab (small terminals).", min_length=1)] = "1"
    tab_indicators: Annotated[str, _doc(_KEY + "the indicators tab (small terminals).", min_length=1)] = "2"
    tab_positions: Annotated[str, _doc(_KEY + "the positions tab (small terminals).", min_length=1)] = "3"
    tab_orders: Annotated[str, _doc(_KEY + "the order log tab (small terminals).", min_length=1)] = "4"
    settings_save: Annotated[str, _doc(_KEY + "saving in the settings screen.", min_length=1)] = "ctrl+s"
    settings_close: Annotated[str, _doc(_KEY + "leaving the settings screen.", min_length=1)] = "escape"
    settings_next: Annotated[str, _doc(_KEY + "the next settings section.", min_length=1)] = "ctrl+pagedown"
    settings_previous: Annotated[str, _doc(_KEY + "the previous settings section.", min_length=1)] = "ctrl+pageup"
    help_close: Annotated[str, _doc(_KEY + "closing the help screen.", min_length=1)] = "escape,q"
    log: Annotated[str, _doc(_KEY + "the health and log screen (reasons, retries, the log).", min_length=1)] = "l"
    log_level: Annotated[str, _doc(_KEY + "the next level filter in the log screen.", min_length=1)] = "v"
    log_close: Annotated[str, _doc(_KEY + "leaving the log screen.", min_length=1)] = "escape,q"
    live_cancel: Annotated[str, _doc(_KEY + "cancelling the switch to live.", min_length=1)] = "escape"
    confirm_yes: Annotated[str, _doc(_KEY + "yes in a yes/no dialog.", min_length=1)] = "y"
    confirm_no: Annotated[str, _doc(_KEY + "no in a yes/no dialog.", min_length=1)] = "n,escape"
    reconcile_adopt: Annotated[str, _doc(_KEY + "adopt in the reconciliation screen.", min_length=1)] = "a"
    reconcile_flatten: Annotated[str, _doc(_KEY + "flatten in the reconciliation screen.", min_length=1)] = "f"
    reconcile_leave: Annotated[str, _doc(_KEY + "leave in the reconciliation screen.", min_length=1)] = "l"
    reconcile_defaults: Annotated[
        str, _doc(_KEY + "back to the defaults in the reconciliation screen.", min_length=1)
    ] = "d"
    reconcile_confirm: Annotated[str, _doc(_KEY + "confirming the reconciliation.", min_length=1)] = "c"
    reconcile_escape: Annotated[
        str, _doc(_KEY + "the reminder that reconciliation cannot be skipped.", min_length=1)
    ] = "escape"
    results: Annotated[
        str, _doc(_KEY + "the Results screen (trades, totals, equity curve, price charts).", min_length=1)
    ] = "r"
    results_close: Annotated[str, _doc(_KEY + "leaving the Results screen.", min_length=1)] = "escape,q"
    close_position: Annotated[
        str, _doc(_KEY + "closing the selected position at market (asks first).", min_length=1)
    ] = "c"


class JournalSettings(_Section, frozen=True):
    path: Annotated[
        str,
        _doc(
            "SQLite journal file; empty = the XDG data dir. One process writes it at a time (the lock file "
            "`<path>.lock` names the holder); `tui-trader worker router` keeps its own journal beside it, "
            "`<stem>.router<suffix>`."
        ),
    ] = ""


class NotifySettings(_Section, frozen=True):
    """[notify]: which events are sent off the terminal. The URLs (apprise syntax: tgram://, discord://,
    slack://, ntfy://, mailto://, json://, …) hold tokens, so they are secrets: TUI_TRADER_NOTIFY_URLS or
    `notify_urls` in the 0600 secrets file, never here."""

    fills: Annotated[
        bool,
        _doc(
            "Send every filled order: entries (with their stop-loss and take-profit), closes, flatten and kill closes."
        ),
    ] = True
    stop_loss_take_profit: Annotated[bool, _doc("Send a stop-loss or take-profit order that filled.")] = True
    kill: Annotated[bool, _doc("Send the kill switch being pulled (who, why).")] = True
    halts: Annotated[
        bool,
        _doc(
            "Send a halt: the daily loss limit reached, a worker given up after crashing "
            "repeatedly (trading paused), a stale feed, a feed gap (trades lost)."
        ),
    ] = True
    feed_down: Annotated[
        bool, _doc("Send a feed connection that stayed down longer than feed_down_after_s, and when it is back.")
    ] = True
    feed_down_after_s: Annotated[
        float,
        _doc(
            "Seconds a feed connection may be down (reconnecting) before it is sent, up to a day (86400).",
            gt=0,
            le=86400,
        ),
    ] = 60.0
    naked_position: Annotated[
        bool,
        _doc(
            "Send the watchdog's alarm: a position without its resting stop-loss "
            "or take-profit, or a venue/book difference; and the all-clear."
        ),
    ] = True
    reconcile_waiting: Annotated[
        bool,
        _doc(
            "Send that a live start waits for the desk to answer the "
            "reconciliation question (nothing trades until then)."
        ),
    ] = True
    daily_summary: Annotated[
        bool,
        _doc("Send a summary when the UTC day rolls over: fills, closed trades, realised PnL and fees of the day."),
    ] = True
    replays: Annotated[
        bool, _doc("Also send during replays (titles say replay); off so a replay never pages anyone.")
    ] = False
    max_per_minute: Annotated[
        int,
        _doc(
            "Most fill and stop-loss/take-profit notices in one minute; the ones "
            "over it are dropped, counted, and the next one says how many.",
            ge=1,
            le=600,
        ),
    ] = 20
    queue_size: Annotated[
        int,
        _doc(
            "Notices waiting to be sent at most; when full, new ones are dropped and "
            "counted (sending never holds up trading).",
            ge=1,
            le=10000,
        ),
    ] = 100
    timeout_s: Annotated[float, _doc("Connect and read timeout of each send (seconds, up to 120).", gt=0, le=120)] = (
        10.0
    )
    title: Annotated[
        str,
        _doc(
            "Start of every notice's title: name the desk when several send to one channel.",
            min_length=1,
            max_length=60,
        ),
    ] = "tui-trader"


class Settings(_Section, frozen=True):
    trading: TradingSettings = msgspec.field(default_factory=TradingSettings)
    indicators: IndicatorSettings = msgspec.field(default_factory=IndicatorSettings)
    risk: RiskSettings = msgspec.field(default_factory=RiskSettings)
    feed: FeedSettings = msgspec.field(default_factory=FeedSettings)
    exchange: ExchangeSettings = msgspec.field(default_factory=ExchangeSettings)
    paper: PaperSettings = msgspec.field(default_factory=PaperSettings)
    bus: BusSettings = msgspec.field(default_factory=BusSettings)
    ui: UiSettings = msgspec.field(default_factory=UiSettings)
    journal: JournalSettings = msgspec.field(default_factory=JournalSettings)
    keys: KeySettings = msgspec.field(default_factory=KeySettings)
    notify: NotifySettings = msgspec.field(default_factory=NotifySettings)


SECTIONS: tuple[str, ...] = tuple(Settings.__struct_fields__)
_SECTION_CLASSES: dict[str, type[_Section]] = {name: type(getattr(Settings(), name)) for name in SECTIONS}


def bar_seconds(bar: str) -> int:
    """Seconds in a time bar ("1m" → 60); 0 for "tick"."""
    if bar == "tick":
        return 0
    unit = {"s": 1, "m": 60, "h": 3600}[bar[-1]]
    return int(bar[:-1]) * unit


# --- loading ---------------------------------------------------------------------------------------

_AT = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")
_UNKNOWN = re.compile(r"Object contains unknown field `(?P<name>[^`]+)`")


_PATTERN_TEXT = {
    r"^[A-Z0-9]+$": "an upper-case symbol of letters and digits, like BTCUSDT",
    BAR_PATTERN: '"tick" or a time bar like "1s", "5s", "1m", "5m", "1h"',
    r"^([a-z0-9][a-z0-9-]*)?$": "lower-case letters, digits and -",
}


def _value_at(data: Any, path: str) -> Any:
    cur = data
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        try:
            cur = cur[int(part[1:-1])] if part.startswith("[") else cur[part]
        except (KeyError, IndexError, TypeError):
            return None
    return cur


def _one_line(text: str) -> str:
    """Control characters (a key or value holding a line break) shown escaped: the message stays one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _explain(err: msgspec.ValidationError, data: Any, source: str) -> SettingsError:
    error = _explain_raw(err, data, source)
    return SettingsError(_one_line(error.message))


def _explain_raw(err: msgspec.ValidationError, data: Any, source: str) -> SettingsError:
    text = str(err)
    m = _AT.search(text)
    path = m.group("path") if m else ""
    detail = text[: m.start()] if m else text
    unknown = _UNKNOWN.match(detail)
    if unknown:
        key = f"{path}.{unknown.group('name')}" if path else unknown.group("name")
        allowed = _allowed_keys(path)
        return SettingsError(f"{source}: unknown key `{key}` (allowed here: {', '.join(allowed)})")
    detail = detail.replace("`", "")
    for pattern, human in _PATTERN_TEXT.items():
        detail = detail.replace(f"str matching regex {pattern!r}", human)
    got = _value_at(data, path)
    suffix = f" (got {_shown(got)})" if got is not None else ""
    return SettingsError(f"{source}: `{path}`: {detail[0].lower()}{detail[1:]}{suffix}")


def _shown(value: Any, limit: int = 60) -> str:
    """A bad value as the message quotes it: short, so a 400-digit number or a huge table stays one line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _allowed_keys(path: str) -> list[str]:
    if not path:
        return list(SECTIONS)
    cls = _section_class(path.split(".")[0])
    return list(cls.__struct_fields__) if cls is not None else []


def _section_class(section: str) -> type[_Section] | None:
    return _SECTION_CLASSES.get(section)


def parse(data: dict[str, Any], source: str = "settings") -> Settings:
    """Validate a TOML-shaped dict into Settings, or raise a SettingsError naming the key."""
    try:
        settings = msgspec.convert(data, Settings)
    except msgspec.ValidationError as err:
        raise _explain(err, data, source) from None
    _check_values(settings, source)
    _check_relations(settings, source)
    return settings


def _check_values(s: Settings, source: str) -> None:
    """What the per-field bounds cannot say: no number is NaN or infinite (a field bounded only from below
    takes `inf`, and one infinite delay or size overflows later, far from the file), and no text holds a NUL
    (a path with one cannot be opened, a URL with one cannot be sent)."""
    for section in SECTIONS:
        sec = getattr(s, section)
        for name in sec.__struct_fields__:
            value = getattr(sec, name)
            for item in value if isinstance(value, list) else (value,):
                if isinstance(item, float) and not math.isfinite(item):
                    raise SettingsError(f"{source}: `{section}.{name}`: expected a finite number (got {item!r})")
                if isinstance(item, str) and "\x00" in item:
                    raise SettingsError(f"{source}: `{section}.{name}`: text must not contain a NUL character")


def _check_relations(s: Settings, source: str) -> None:
    ind = s.indicators
    if ind.sma_fast >= ind.sma_slow:
        raise SettingsError(
            f"{source}: `indicators.sma_fast` ({ind.sma_fast}) must be below `indicators.sma_slow` ({ind.sma_slow})"
        )
    if ind.ema_fast >= ind.ema_slow:
        raise SettingsError(
            f"{source}: `indicators.ema_fast` ({ind.ema_fast}) must be below `indicators.ema_slow` ({ind.ema_slow})"
        )
    if ind.macd_fast >= ind.macd_slow:
        raise SettingsError(
            f"{source}: `indicators.macd_fast` ({ind.macd_fast}) must be below `indicators.macd_slow` ({ind.macd_slow})"
        )
    needed = indicator_history_needed(ind)
    if needed > MAX_INDICATOR_POINTS:
        raise SettingsError(
            f"{source}: `indicators` periods need {needed} points before every indicator has a value; "
            f"at most {MAX_INDICATOR_POINTS} are kept (shorten rsi_period, macd_slow + macd_signal, bb_period, "
            "sma_slow or ema_slow)"
        )
    if len(set(s.trading.symbols)) != len(s.trading.symbols):
        raise SettingsError(f"{source}: `trading.symbols` lists a symbol twice: {s.trading.symbols}")
    for url_key, url, schemes in (
        ("feed.ws_base_url", s.feed.ws_base_url, ("ws://", "wss://")),
        ("exchange.api_base_url", s.exchange.api_base_url, ("http://", "https://")),
    ):
        if url and not url.startswith(schemes):
            raise SettingsError(f"{source}: `{url_key}` must start with {' or '.join(schemes)} (got {url!r})")


def load(path: str | os.PathLike[str] | None = None) -> tuple[Settings, Path | None]:
    """Load settings from `path`, else the first of: user copy (XDG), ./settings.toml; else defaults.

    Returns the settings and the file they came from (None for built-in defaults).
    """
    file = Path(path) if path is not None else find_settings_file()
    if file is None:
        return Settings(), None
    text = read_text_file(file, "settings file", SettingsError)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise SettingsError(f"{file}: not valid TOML: {err}") from None
    return parse(data, str(file)), file


def read_text_file(file: Path, what: str, error: type[TuiTraderError]) -> str:
    """The UTF-8 text of a small file the user points at, or `error` with one line naming the file and what
    is wrong with it (missing, a folder, not a regular file, unreadable, not UTF-8)."""
    try:
        st = file.stat()
    except FileNotFoundError:
        raise error(f"{file}: no such {what}") from None
    except OSError as err:
        raise error(f"{file}: cannot read {what}: {err.strerror or err}") from None
    if stat.S_ISDIR(st.st_mode):
        raise error(f"{file}: is a folder, not a {what}")
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{file}: not a regular file (a {what} must be one)")
    if st.st_size > MAX_TEXT_FILE_BYTES:
        raise error(f"{file}: {st.st_size} bytes is too large for a {what} (at most {MAX_TEXT_FILE_BYTES})")
    try:
        raw = file.read_bytes()
    except OSError as err:
        raise error(f"{file}: cannot read {what}: {err.strerror or err}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise error(
            f"{file}: {what} is not UTF-8 text (byte {err.start} is not valid UTF-8); save it as UTF-8"
        ) from None


# A settings or secrets file is a few kilobytes; reading an arbitrary large file (a recording passed by
# mistake) into memory to report a TOML error is pointless.
MAX_TEXT_FILE_BYTES = 1 << 20


def find_settings_file() -> Path | None:
    env = os.environ.get("TUI_TRADER_CONFIG")
    if env:
        return Path(env)
    for candidate in (paths.user_settings_file(), Path.cwd() / "settings.toml"):
        if candidate.is_file():
            return candidate
    return None


def to_dict(settings: Settings) -> dict[str, Any]:
    data: dict[str, Any] = msgspec.to_builtins(settings)
    return data


def dumps(settings: Settings, base: str | None = None) -> str:
    """Settings as TOML text. With `base` (the text of the file being saved over), that text with only the
    values that differ written in: comments, key order, blank lines and quoting of everything else stay as
    the trader wrote them (tomlkit edits a TOML document in place). A value the file leaves to its default
    is added to its section only when it changes."""
    if base is None:
        return tomlkit.dumps(to_dict(settings))
    doc = tomlkit.parse(base)
    before = to_dict(parse(doc.unwrap(), "settings"))
    for section, values in to_dict(settings).items():
        for key, value in values.items():
            if before.get(section, {}).get(key) == value:
                continue
            if section not in doc:
                doc[section] = tomlkit.table()
            _set_in_place(doc[section], key, value)
    return tomlkit.dumps(doc)


def _set_in_place(table: Any, key: str, value: Any) -> None:
    """Set `key` in a section: an existing key keeps its place and trailing comment; a new one goes right
    after the section's last key, not after the comment or blank lines that introduce the next section."""
    if key in table or not isinstance(table, tomlkit.items.Table):
        table[key] = value
        return
    keys = [k for k, _ in table.value.body if k is not None]
    if keys:
        table.value._insert_after(keys[-1], key, value)  # tomlkit has no public "insert after"
    else:
        table[key] = value


def save(settings: Settings, path: str | os.PathLike[str]) -> Path:
    """Write settings atomically: a temp file in the same folder, fsync, keep the old file as .bak, rename.

    An existing file keeps its comments and layout (only changed values are rewritten, see `dumps`), its
    permission bits, and stays where a symlink points; a new file gets the usual mode (0666 less the umask).
    """
    target = Path(path)
    if target.is_symlink():
        target = target.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    base: str | None = None
    mode = _new_file_mode()
    if target.exists():
        base = read_text_file(target, "settings file", SettingsError)
        mode = stat.S_IMODE(target.stat().st_mode)
    text = dumps(settings, base)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fchmod(fh.fileno(), mode)
            os.fsync(fh.fileno())
        if base is not None:
            backup = target.with_name(target.name + ".bak")
            backup.write_text(base, encoding="utf-8", newline="")
            os.chmod(backup, mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _new_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def replace_field(settings: Settings, section: str, field: str, value: Any) -> Settings:
    """A copy of settings with one field changed, validated like a loaded file."""
    data = to_dict(settings)
    data[section][field] = value
    return parse(data, "settings")


def field_docs() -> dict[str, dict[str, str]]:
    """{section: {field: description}} for the settings screen and the README."""
    out: dict[str, dict[str, str]] = {}
    for sec in _struct_fields(Settings):
        assert isinstance(sec.type, msgspec.inspect.StructType)  # every section is a Struct
        fields = {}
        for f in _struct_fields(sec.type.cls):
            meta = getattr(f.type, "extra_json_schema", None) or {}
            fields[f.name] = meta.get("description", "")
        out[sec.name] = fields
    return out


def _struct_fields(cls: type[msgspec.Struct]) -> tuple[msgspec.inspect.Field, ...]:
    info = msgspec.inspect.type_info(cls)
    assert isinstance(info, msgspec.inspect.StructType)
    return info.fields


# --- secrets ---------------------------------------------------------------------------------------


class Secrets(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    api_key: str = ""
    api_secret: str = ""
    api_password: str = ""
    # Apprise URLs for [notify]: their tokens make them secrets (TUI_TRADER_NOTIFY_URLS overrides them).
    notify_urls: list[str] = msgspec.field(default_factory=list)

    @property
    def present(self) -> bool:
        return bool(self.api_key and self.api_secret)

    def __repr__(self) -> str:  # never print a secret, even in a debugger or a traceback
        return (
            f"Secrets(api_key={'set' if self.api_key else 'unset'}, api_secret={'set' if self.api_secret else 'unset'}, "
            f"notify_urls={len(self.notify_urls)})"
        )

    __str__ = __repr__


ENV_KEYS = {
    "api_key": "TUI_TRADER_API_KEY",
    "api_secret": "TUI_TRADER_API_SECRET",
    "api_password": "TUI_TRADER_API_PASSWORD",
}


def load_secrets(settings: Settings, env: dict[str, str] | None = None) -> Secrets:
    """API keys from the environment, else from a secrets file that only its owner can read (0600)."""
    env = dict(os.environ) if env is None else env
    from_env = {name: env.get(var, "") for name, var in ENV_KEYS.items()}
    if from_env["api_key"] or from_env["api_secret"]:
        return Secrets(
            api_key=from_env["api_key"], api_secret=from_env["api_secret"], api_password=from_env["api_password"]
        )
    file = Path(settings.exchange.secrets_file) if settings.exchange.secrets_file else paths.secrets_file()
    try:
        st = file.stat()
    except FileNotFoundError:
        return Secrets()
    except OSError as err:
        raise SecretsError(f"{file}: cannot read secrets file: {err.strerror or err}") from None
    mode = stat.S_IMODE(st.st_mode)
    if stat.S_ISREG(st.st_mode) and mode & 0o077:
        raise SecretsError(
            f"{file}: permissions {mode:04o} let others read it; refusing to use it. Run: chmod 600 {file}"
        )
    text = read_text_file(file, "secrets file", SecretsError)
    try:
        data = tomllib.loads(text)
        return msgspec.convert(data, Secrets)
    except (tomllib.TOMLDecodeError, msgspec.ValidationError) as err:
        # The message names the problem, never a value from the file.
        raise SecretsError(
            f"{file}: not a valid secrets file ({type(err).__name__}); expected api_key, api_secret, api_password, notify_urls"
        ) from None


def markdown_table() -> str:
    """The README's settings table, generated from the field docs (`python -m tui_trader.settings`)."""
    defaults = to_dict(Settings())
    rows = ["| key | default | what it does |", "|---|---|---|"]
    for section, fields in field_docs().items():
        for name, doc in fields.items():
            shown = msgspec.json.encode(defaults[section][name]).decode()
            rows.append(f"| `{section}.{name}` | `{shown}` | {doc.replace('|', '/')} |")
    return "\n".join(rows)


if __name__ == "__main__":  # pragma: no cover
    print(markdown_table())
