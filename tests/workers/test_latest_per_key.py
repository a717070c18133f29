"""A pile-up read with latest_only keeps each symbol's last record, in offset order (a gap before a pile-up is
counted by consume: tests/workers/test_consume_latest_only.py)."""

from __future__ import annotations

from tui_trader.bus.base import Record
from tui_trader.workers.base import _latest_per_key


def rec(key: str, offset: int) -> Record:
    return Record("trading-market-data", key, b"{}", offset, 0, 0, None)


def test_each_keys_last_record_in_offset_order():
    batch = [rec("BTCUSDT", 0), rec("ETHUSDT", 1), rec("BTCUSDT", 2), rec("SOLUSDT", 3), rec("ETHUSDT", 4)]
    assert [(r.key, r.offset) for r in _latest_per_key(batch)] == [("BTCUSDT", 2), ("SOLUSDT", 3), ("ETHUSDT", 4)]
    assert [r.offset for r in _latest_per_key([rec("BTCUSDT", i) for i in range(256)])] == [255]
