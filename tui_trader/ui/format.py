"""How the desk writes numbers, times, gauges and sparklines: pure functions, no Textual.

Widths are fixed where a column lines up (ages, percentages) so a redraw does not make the columns jump.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence

SPARK_CHARS = "▁▂▃▄▅▆▇█"
GAUGE_FULL = "█"
GAUGE_EMPTY = "░"
DASH = "–"


def price(value: float | None) -> str:
    """A price with the decimals its size needs: 59123.4, 2612.35, 0.5123."""
    if value is None or value == 0 or not math.isfinite(value):
        return DASH
    size = abs(value)
    if size >= 10_000:
        digits = 1
    elif size >= 100:
        digits = 2
    elif size >= 1:
        digits = 4
    else:
        digits = 6
    return f"{value:.{digits}f}"


def number(value: float | None, digits: int = 2) -> str:
    if value is None or not math.isfinite(value):
        return DASH
    return f"{value:.{digits}f}"


def signed(value: float | None, digits: int = 2) -> str:
    if value is None or not math.isfinite(value):
        return DASH
    return f"{value:+.{digits}f}"


def qty(value: float | None) -> str:
    """A quantity without trailing zeros and never in scientific notation: 0.001, 1.5, 120."""
    if value is None or not math.isfinite(value):
        return DASH
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text or "0"


def pct(value: float | None, digits: int = 2) -> str:
    if value is None or not math.isfinite(value):
        return DASH
    return f"{value:+.{digits}f}%"


def bps(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return DASH
    return f"{value:.1f}"


def age(ms: int | None) -> str:
    """Age of a thing in a short, fixed-width-ish form: 0.4s, 12s, 3m05, 2h10."""
    if ms is None:
        return DASH
    ms = max(0, ms)
    if ms < 10_000:
        return f"{ms / 1000:.1f}s"
    s = ms // 1000
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}"
    return f"{s // 3600}h{(s % 3600) // 60:02d}"


def clock(ms: int) -> str:
    """Time of day in UTC (the exchange's day), HH:MM:SS."""
    return time.strftime("%H:%M:%S", time.gmtime(ms / 1000))


def short_id(order_id: str) -> str:
    return order_id[:8]


def sparkline(values: Sequence[float], width: int) -> str:
    """The last `width` values as block characters scaled between their min and max."""
    data = list(values)[-width:] if width > 0 else []
    if not data:
        return ""
    low, high = min(data), max(data)
    span = high - low
    top = len(SPARK_CHARS) - 1
    if span <= 0:
        return SPARK_CHARS[top // 2] * len(data)
    return "".join(SPARK_CHARS[round((v - low) / span * top)] for v in data)


def gauge(fraction: float, width: int) -> tuple[str, str]:
    """A bar of `width` cells: (filled part, empty part), so callers can colour them apart."""
    fraction = 0.0 if not math.isfinite(fraction) else min(1.0, max(0.0, fraction))
    filled = round(fraction * width)
    return GAUGE_FULL * filled, GAUGE_EMPTY * (width - filled)


def percent_b(price_: float, lower: float, upper: float) -> float | None:
    """Bollinger %B: where the price sits between the bands (0 = lower, 1 = upper)."""
    span = upper - lower
    if span <= 0 or not math.isfinite(span):
        return None
    return (price_ - lower) / span


def join(parts: Iterable[str], sep: str = " ") -> str:
    return sep.join(p for p in parts if p)
