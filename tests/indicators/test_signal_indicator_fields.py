"""A signal's indicators carry each value under its own name (the engine's tuple order is the message's)."""

from __future__ import annotations

from tui_trader import messages as m
from tui_trader.indicators.engine import Values
from tui_trader.workers.indicator import _indicators


def test_each_value_lands_in_the_field_of_its_name():
    values = Values(*(float(i) for i in range(len(Values._fields))))
    assert msgspec_fields(_indicators(values)) == values._asdict()
    assert msgspec_fields(_indicators(tuple(values))) == values._asdict()


def msgspec_fields(ind: m.Indicators) -> dict[str, float]:
    return {f: getattr(ind, f) for f in m.Indicators.__struct_fields__}
