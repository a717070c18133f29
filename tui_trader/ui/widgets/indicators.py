"""Indicators: per symbol the latest values (RSI, MACD, Bollinger %B and bands, SMAs, EMAs), the buy and sell
scores, and the scoring rules that fire. They come live from the indicator worker (IndicatorValues, a few
times a second, signal or not); a signal newer than those values (or a worker that sends none, e.g. a
recorded session) shows the signal's own. Until either exists the symbol's warm-up progress shows instead.

Wide terminals get one row per symbol. Narrow ones (80 columns) get the same numbers transposed (one row
per indicator, one column per symbol). The rules fired follow as wrapped lines under the table, so
nothing needs a sideways scroll.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult

from tui_trader import messages as m
from tui_trader.ui import format as fmt
from tui_trader.ui.widgets.keyed_table import Cell, KeyedTable, num, txt
from tui_trader.ui.widgets.live_text import LiveText
from tui_trader.ui.widgets.pane import Pane
from tui_trader.ui.widgets.prices import symbols_in_view
from tui_trader.ui.widgets.view import View


def _labels(view: View) -> list[tuple[str, str]]:
    ind = view.settings.indicators
    return [
        ("rsi", f"RSI{ind.rsi_period}"),
        ("macd", "MACD"),
        ("macd_signal", "Signal"),
        ("macd_hist", "Hist"),
        ("pct_b", "%B"),
        ("bb_lower", "BB low"),
        ("bb_upper", "BB up"),
        ("sma_fast", f"SMA{ind.sma_fast}"),
        ("sma_slow", f"SMA{ind.sma_slow}"),
        ("ema_fast", f"EMA{ind.ema_fast}"),
        ("ema_slow", f"EMA{ind.ema_slow}"),
        ("buy", "Buy"),
        ("sell", "Sell"),
    ]


Shown = m.TradingSignal | m.IndicatorValues  # both carry indicators, price, scores and reasons


def latest(view: View, symbol: str) -> Shown | None:
    """What the pane shows for a symbol: the newer of its live values and its last signal (the signal on a tie,
    being the same point)."""
    sig = view.state.signals.get(symbol)
    values = view.state.indicator_values.get(symbol)
    if values is None or (sig is not None and sig.ts >= values.ts):
        return sig
    return values


def _values(sig: Shown | None, view: View) -> dict[str, Cell]:
    c = view.colours
    if sig is None:
        return {}
    i = sig.indicators
    near = view.settings.indicators.near_band
    rsi_style = c.buy if i.rsi < 30 else c.sell if i.rsi > 70 else ""
    pct_b = fmt.percent_b(sig.price, i.bb_lower, i.bb_upper)
    b_style = "" if pct_b is None else c.buy if pct_b <= near else c.sell if pct_b >= 1 - near else ""
    return {
        "rsi": num(fmt.number(i.rsi, 1), rsi_style),
        "macd": num(fmt.number(i.macd, 2), c.buy if i.macd > i.macd_signal else c.sell),
        "macd_signal": num(fmt.number(i.macd_signal, 2)),
        "macd_hist": num(fmt.signed(i.macd_hist, 2), c.signed(i.macd_hist)),
        "pct_b": num(fmt.number(pct_b, 2), b_style),
        "bb_lower": num(fmt.price(i.bb_lower)),
        "bb_upper": num(fmt.price(i.bb_upper)),
        "sma_fast": num(fmt.price(i.sma_fast), c.buy if i.sma_fast > i.sma_slow else c.sell),
        "sma_slow": num(fmt.price(i.sma_slow)),
        "ema_fast": num(fmt.price(i.ema_fast), c.buy if i.ema_fast > i.ema_slow else c.sell),
        "ema_slow": num(fmt.price(i.ema_slow)),
        "buy": num(str(sig.buy_score), f"bold {c.buy}" if sig.buy_score > sig.sell_score else ""),
        "sell": num(str(sig.sell_score), f"bold {c.sell}" if sig.sell_score > sig.buy_score else ""),
    }


def _rules(sig: Shown | None, view: View, wrap: bool = False) -> Text:
    out = Text(no_wrap=not wrap)
    if sig is None:
        out.append("no signal yet", style=view.colours.muted)
        return out
    if not sig.reasons:
        out.append("no rule fires", style=view.colours.muted)
        return out
    for n, reason in enumerate(sig.reasons):
        if n:
            out.append(" ")
        out.append(reason, style=view.colours.accent)
    return out


def warming_up(view: View, symbol: str) -> str:
    """ "warming up: 12/50 points" while the indicator worker says the symbol has too few points for every
    indicator ("" once it has them, or before the worker said anything)."""
    h = view.state.health.get(f"{m.WARMUP_COMPONENT}{symbol}")
    if h is None:
        return ""
    needed = h.counters.get("needed", 0)
    if h.state == "ready":
        return "ready: waiting for the first signal"
    bar = view.settings.indicators.bar
    unit = "trades" if bar == "tick" else f"{bar} bars"
    return f"warming up: {h.counters.get('points', 0)}/{needed} points ({unit})"


class IndicatorsPane(Pane):
    TITLE = "Indicators (as of each symbol's last signal)"
    LIVE_TITLE = "Indicators (live, with the rules that fire)"

    def compose(self) -> ComposeResult:
        yield KeyedTable(id="indicators-wide", classes="wide-only", cursor=False)
        yield KeyedTable(id="indicators-narrow", classes="narrow-only", cursor=False)
        yield LiveText(id="indicators-rules")

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self._drawn: tuple = ()

    def show(self, view: View) -> None:
        symbols = symbols_in_view(view)
        # Nothing here depends on the clock: redraw only when a signal, values, the layout or the colours changed.
        shown = {s: latest(view, s) for s in symbols}
        warming = {s: warming_up(view, s) for s in symbols if shown[s] is None}
        versions = view.state.versions
        drawn = (
            versions["signals"],
            versions["indicator_values"],
            tuple(symbols),
            view.narrow,
            view.colours,
            view.settings.indicators,
            tuple(warming.items()),
        )
        if drawn == self._drawn:
            return
        self._drawn = drawn
        self.set_title(self.LIVE_TITLE if view.state.indicator_values else self.TITLE)
        labels = _labels(view)
        values = {s: _values(shown[s], view) for s in symbols}
        muted = view.colours.muted
        if not view.narrow:
            table = self.query_one("#indicators-wide", KeyedTable)
            table.shape([("symbol", "Symbol"), *labels])
            table.sync(
                [(s, (txt(s, "bold"), *(values[s].get(k, num(fmt.DASH, muted)) for k, _ in labels))) for s in symbols]
            )
        else:
            table = self.query_one("#indicators-narrow", KeyedTable)
            table.shape([("name", ""), *((s, s) for s in symbols)])
            table.sync(
                [
                    (k, (txt(label, "bold"), *(values[s].get(k, num(fmt.DASH, muted)) for s in symbols)))
                    for k, label in labels
                ]
            )
        lines = Text()
        lines.append("Rules fired", style="bold")
        for s in symbols:
            lines.append("\n")
            lines.append(f"{s:<9}", style="bold")
            if shown[s] is not None or not warming.get(s):
                lines.append_text(_rules(shown[s], view, wrap=True))
            else:
                lines.append(warming[s], style=view.colours.warn)
        self.query_one("#indicators-rules", LiveText).set(lines)
