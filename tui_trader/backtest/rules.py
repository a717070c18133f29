"""Instrument rules for a backtest, so any symbol works offline.

Where each symbol's tick, step and minimum notional come from, first found wins:
1. the command line (`--tick`, `--step`, `--min-notional`, `--min-qty`): the trader knows best;
2. the on-disk cache of exchange markets (`<data dir>/markets-<exchange>.json`), written by an earlier run;
3. the built-in table (Binance USD-M's filters for BTCUSDT and ETHUSDT);
4. the exchange's public markets through ccxt, when reachable (then cached for later offline runs);
5. inferred from the data: tick = the finest price decimal in the file, step = the finest volume decimal,
   minimum notional 5 USDT (Binance USD-M's smallest), with a warning that says so.
A part given on the command line replaces only that part of the rules found otherwise.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import msgspec
import numpy as np

from tui_trader import paths
from tui_trader.backtest.loaders import Bars
from tui_trader.instruments import PAPER_RULES, InstrumentRules

log = logging.getLogger(__name__)

DEFAULT_MIN_NOTIONAL = 5.0
NETWORK_TIMEOUT_S = 10.0


class Overrides(msgspec.Struct, frozen=True, kw_only=True):
    tick: float | None = None
    step: float | None = None
    min_qty: float | None = None
    min_notional: float | None = None

    def apply(self, rules: InstrumentRules) -> InstrumentRules:
        changes = {k: v for k, v in msgspec.structs.asdict(self).items() if v is not None}
        if self.step is not None and self.min_qty is None:
            changes["min_qty"] = self.step
        return msgspec.structs.replace(rules, **changes) if changes else rules

    @property
    def complete(self) -> bool:
        return self.tick is not None and self.step is not None and self.min_notional is not None


def cache_file(exchange: str) -> Path:
    return paths.data_dir() / f"markets-{exchange}.json"


def read_cache(exchange: str) -> dict[str, InstrumentRules]:
    try:
        data = json.loads(cache_file(exchange).read_text(encoding="utf-8"))
        return {s: msgspec.convert(r, InstrumentRules) for s, r in data.items()}
    except (OSError, ValueError, msgspec.ValidationError):
        return {}


def write_cache(exchange: str, rules: dict[str, InstrumentRules]) -> None:
    merged = read_cache(exchange) | rules
    path = cache_file(exchange)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({s: msgspec.to_builtins(r) for s, r in sorted(merged.items())}, indent=1))
        tmp.replace(path)
    except OSError as err:
        log.warning("instrument rules not cached in %s: %s", path, err)


def fetch_markets(exchange: str, symbols: list[str]) -> dict[str, InstrumentRules]:
    """The symbols' rules from the exchange's public markets (ccxt, synchronous, one request)."""
    import ccxt  # only here: importing ccxt costs a second that an offline run should not pay

    from tui_trader.brokers.venues import rules_from_market
    from tui_trader.exchange import unified_symbol

    ex = getattr(ccxt, exchange)({"timeout": int(NETWORK_TIMEOUT_S * 1000), "enableRateLimit": False})
    ex.load_markets()
    return {s: rules_from_market(s, ex.market(unified_symbol(s))) for s in symbols if unified_symbol(s) in ex.markets}


def _decimals(values: np.ndarray, limit: int = 10) -> int:
    """The most decimals any value needs (sampled; repr gives the shortest exact form)."""
    sample = values[:: max(1, len(values) // 5000)]
    most = 0
    for v in sample.tolist():
        text = repr(v)
        if "e" in text or "E" in text:
            return limit
        if "." in text:
            frac = text.split(".", 1)[1].rstrip("0")
            most = max(most, len(frac))
    return min(most, limit)


def infer(bars: Bars) -> InstrumentRules:
    prices = np.concatenate([bars.open, bars.high, bars.low, bars.close])
    tick = 10.0 ** -_decimals(prices)
    step = 10.0 ** -_decimals(bars.volume)
    return InstrumentRules(symbol=bars.symbol, tick=tick, step=step, min_qty=step, min_notional=DEFAULT_MIN_NOTIONAL)


def resolve(
    data: dict[str, Bars],
    exchange: str,
    overrides: Overrides,
    offline: bool = False,
    fetch: Callable[[str, list[str]], dict[str, InstrumentRules]] = fetch_markets,
) -> tuple[dict[str, InstrumentRules], dict[str, str], list[str]]:
    """(rules per symbol, where each came from, warnings)."""
    rules: dict[str, InstrumentRules] = {}
    origin: dict[str, str] = {}
    warnings: list[str] = []
    cached = read_cache(exchange)
    for symbol in data:
        if overrides.complete:
            rules[symbol] = overrides.apply(InstrumentRules(symbol=symbol, tick=1, step=1, min_qty=1, min_notional=0))
            origin[symbol] = "command line"
        elif symbol in cached:
            rules[symbol], origin[symbol] = cached[symbol], f"cached {exchange} markets"
        elif symbol in PAPER_RULES:
            rules[symbol], origin[symbol] = PAPER_RULES[symbol], "built-in table"
    missing = [s for s in data if s not in rules]
    if missing and not offline:
        try:
            found = fetch(exchange, missing)
        except Exception as err:  # noqa: BLE001 - no network is a normal case for a backtest: fall back to inference
            log.info("markets of %s not loaded: %s", exchange, err)
            found = {}
        if found:
            write_cache(exchange, found)
        for symbol, r in found.items():
            rules[symbol], origin[symbol] = r, f"{exchange} markets"
    for symbol, bars in data.items():
        if symbol not in rules:
            rules[symbol], origin[symbol] = infer(bars), "inferred from the data"
            r = rules[symbol]
            warnings.append(
                f"{symbol}: no instrument rules from the exchange or its cache; inferred from the data's precision "
                f"(tick {r.tick:g}, step {r.step:g}, min notional {r.min_notional:g} USDT): give --tick, --step "
                "and --min-notional to use the venue's own"
            )
        rules[symbol] = overrides.apply(rules[symbol])
    return rules, origin, warnings
