"""Pure indicator math and scoring: points in → TA-Lib values → score → signal (no bus, no clock, no I/O)."""

from tui_trader.indicators.bars import BarBuilder, split_klines
from tui_trader.indicators.engine import IndicatorSet, Values, batch
from tui_trader.indicators.scoring import Evaluation, Scorer
from tui_trader.indicators.signals import Counters, Emitted, SignalEngine

__all__ = ["BarBuilder", "split_klines", "IndicatorSet", "Values", "batch", "Evaluation", "Scorer", "Counters",
           "Emitted", "SignalEngine"]
