"""Pure indicator math and scoring: points in → TA-Lib values → score → signal (no bus, no clock, no I/O)."""

from tui_trader.indicators.bars import BarBuilder, split_klines
from tui_trader.indicators.engine import IndicatorSet, Values, batch
from tui_trader.indicators.scoring import Evaluation, Scorer
from tui_trader.indicators.signals import Counters, Emitted, SignalEngine

__all__ = [
    "BarBuilder",
    "Counters",
    "Emitted",
    "Evaluation",
    "IndicatorSet",
    "Scorer",
    "SignalEngine",
    "Values",
    "batch",
    "split_klines",
]
