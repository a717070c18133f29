"""The collector is told once that start-up is over, and the feed's records cost it nothing."""

from __future__ import annotations

import gc
import subprocess
import sys
from typing import Literal, get_origin

import msgspec

from tui_trader import heap
from tui_trader import messages as m
from tui_trader import runtime as rt
from tui_trader.bus import EmbeddedBus
from tui_trader.clock import FixedClock
from tui_trader.settings import Settings
from tui_trader.workers import WorkerContext


def test_settling_collects_start_up_garbage_and_freezes_the_rest_once_per_process():
    # A process of its own: whichever test first started a pipeline has settled this one already.
    code = """
import gc
from tui_trader import heap

class Cycle:
    pass

c = Cycle()
c.me = c
del c  # start-up garbage in a cycle: freed by the collection, never frozen
alive = [object() for _ in range(1000)]
before = gc.get_freeze_count()
assert heap.settle_after_startup()
frozen = gc.get_freeze_count()
assert not heap.settle_after_startup()  # the second call changes nothing
assert gc.get_freeze_count() == frozen
assert not any(type(o).__name__ == "Cycle" for o in gc.get_objects())
print(before, frozen)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    before, frozen = map(int, out.stdout.split())
    assert before == 0 and frozen > 1000


async def test_a_pipeline_settles_the_heap_before_its_workers_run(monkeypatch):
    calls = []
    monkeypatch.setattr(heap, "settle_after_startup", lambda: calls.append("settled") or True)
    ctx = WorkerContext(settings=Settings(), bus=EmbeddedBus(), clock=FixedClock(1000))
    runtime = rt.Pipeline(ctx, workers=[])
    await runtime.start()
    try:
        assert calls == ["settled"]
    finally:
        await runtime.stop()


def test_market_data_never_counts_towards_a_collection():
    # One per frame: counted, they would start a collection every few hundred frames. Strings and numbers
    # only, so no cycle can run through one.
    made: list[m.MarketData] = []
    gc.disable()
    try:
        gc.collect()
        before = gc.get_count()[0]
        made.extend(
            m.MarketData(symbol="BTCUSDT", kind="trade", price=1.0, event_time=i, recv_time=i, ts=i)
            for i in range(1000)
        )
        made.append(m.decoder_for(m.MarketData).decode(m.encode(made[0])))  # decoded from the bus too
        allocated = gc.get_count()[0] - before
    finally:
        gc.enable()
    assert allocated < 100 and not gc.is_tracked(made[-1])  # a tracked type would count 1,000 or more
    kinds = {f.type for f in msgspec.structs.fields(m.MarketData)} - {str, int, float, bool}
    assert all(get_origin(t) is Literal for t in kinds)  # a field that could hold a container would need gc
