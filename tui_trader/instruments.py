"""Instrument rules (tick, quantity step, minimum quantity, minimum notional) and where they come from.

Live: the exchange's markets (ccxt) loaded by the executor. Paper: a built-in table matching Binance
USD-M's current filters for the default symbols; other symbols come from
ccxt markets when reachable. An unknown symbol without market data is refused with that reason.
"""

from __future__ import annotations

import math

import msgspec


class InstrumentRules(msgspec.Struct, frozen=True, kw_only=True):
    symbol: str
    tick: float
    step: float
    min_qty: float
    min_notional: float
    contract_size: float = 1.0  # base units per contract (OKX BTC-USDT-SWAP: 0.01)

    def round_qty_down(self, qty: float) -> float:
        """Largest multiple of `step` not above qty (with a small epsilon against binary float error)."""
        ratio = qty / self.step
        if not math.isfinite(ratio):
            # Too large (or not a number) to count in steps: nothing to round. Callers cap a close to the
            # position and refuse an entry whose notional or margin does not fit.
            return qty
        steps = math.floor(ratio + 1e-9)
        return round(steps * self.step, 12)


PAPER_RULES: dict[str, InstrumentRules] = {
    "BTCUSDT": InstrumentRules(symbol="BTCUSDT", tick=0.10, step=0.001, min_qty=0.001, min_notional=100.0),
    "ETHUSDT": InstrumentRules(symbol="ETHUSDT", tick=0.01, step=0.001, min_qty=0.001, min_notional=20.0),
}


class UnknownInstrument(KeyError):
    pass


class RulesBook:
    """The rules the desk trades by, shared in-process by the executor (who loads them) and the router."""

    def __init__(self, rules: dict[str, InstrumentRules] | None = None) -> None:
        self._rules = dict(PAPER_RULES if rules is None else rules)

    def get(self, symbol: str) -> InstrumentRules:
        try:
            return self._rules[symbol]
        except KeyError:
            raise UnknownInstrument(
                f"{symbol}: no instrument rules (not in the built-in table and no market data)"
            ) from None

    def __contains__(self, symbol: str) -> bool:
        return symbol in self._rules

    def update(self, rules: dict[str, InstrumentRules]) -> None:
        self._rules.update(rules)
