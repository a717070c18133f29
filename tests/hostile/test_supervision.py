"""Workers that crash: restarted with backoff; one that keeps crashing is given up, trading is paused by the
supervisor with the reason shown, and `headless` ends with exit code 4 and the reason in its summary."""

from __future__ import annotations

import argparse
import asyncio
import json

import msgspec
import pytest

from tui_trader import messages as m
from tui_trader import runtime as rt
from tui_trader.bus import EmbeddedBus, Start
from tui_trader.clock import FixedClock
from tui_trader.commands import headless
from tui_trader.settings import Settings
from tui_trader.workers import Worker, WorkerContext
from tui_trader.workers.indicator import IndicatorWorker

INPUT_CLASS = "crashing workers"


class Broken(Worker):
    name = "broken"

    def __init__(self, ctx, pattern: list[float] | None = None) -> None:
        super().__init__(ctx)
        self.runs = 0
        self.pattern = pattern  # seconds each run lasts before it crashes; None: crash at once, forever

    async def run(self) -> None:
        self.runs += 1
        if self.pattern is not None:
            if self.runs > len(self.pattern):
                return
            await asyncio.sleep(self.pattern[self.runs - 1])
        raise OverflowError(f"cannot convert float infinity to integer (run {self.runs})")


async def test_a_worker_that_keeps_crashing_is_given_up_and_trading_paused(monkeypatch):
    monkeypatch.setattr(rt, "BACKOFF_START_S", 0.001)
    bus = EmbeddedBus()
    ctx = WorkerContext(settings=Settings(), bus=bus, clock=FixedClock(1000))
    health: list[m.Health] = []
    ctx.on_health = health.append
    worker = Broken(ctx)
    runtime = rt.Pipeline(ctx, workers=[worker])
    await runtime.start()
    await asyncio.wait_for(runtime.failed.wait(), 10)
    assert worker.runs == rt.MAX_RESTARTS
    st = runtime.states["broken"]
    assert st.state == "failed" and st.gave_up and runtime.gave_up() == {"broken": st.last_error}
    last = health[-1]
    assert (last.component, last.state) == ("worker:broken", "failed")
    assert "crashed 6 times in a row" in last.detail and "OverflowError" in last.detail
    assert "trading paused" in last.detail
    sub = await bus.subscribe(m.CONTROL, Start.BEGINNING, tracked=False)
    control = m.Decoder().decode(m.CONTROL, (await asyncio.wait_for(sub.__anext__(), 5)).value)
    assert (control.command, control.origin) == ("pause", "supervisor")
    assert "worker broken" in (control.arg or "") and "OverflowError" in (control.arg or "")
    await runtime.stop()
    assert runtime.states["broken"].state == "failed"  # stays failed, not "stopped"
    await bus.close()


async def test_a_worker_that_runs_well_between_crashes_is_not_given_up(monkeypatch):
    monkeypatch.setattr(rt, "BACKOFF_START_S", 0.001)
    bus = EmbeddedBus()
    ctx = WorkerContext(settings=Settings(), bus=bus, clock=FixedClock(1000))
    worker = Broken(ctx, pattern=[0, 0, 0.2, 0, 0, 0.2, 0, 0])
    runtime = rt.Pipeline(ctx, workers=[worker])
    runtime.max_restarts, runtime.healthy_run_s = 3, 0.1
    await runtime.start()
    await asyncio.wait_for(runtime.wait(["broken"]), 10)
    assert worker.runs == 9 and runtime.states["broken"].state == "finished"
    assert not runtime.failed.is_set()
    await runtime.stop()
    await bus.close()


def args(replay, tap) -> argparse.Namespace:
    return argparse.Namespace(config=None, replay=[str(replay)], speed=None, json=True, tap=str(tap), duration=None)


def records(tap, topic: str, kind):
    return [msgspec.json.decode(line, type=kind) for line in (tap / f"{topic}.jsonl").read_bytes().splitlines()]


@pytest.fixture
def quick_supervisor(monkeypatch):
    monkeypatch.setattr(rt, "BACKOFF_START_S", 0.001)
    monkeypatch.setattr(rt, "MAX_RESTARTS", 3)


def test_headless_ends_with_4_when_a_worker_gives_up(quick_supervisor, monkeypatch, capture_slice, tmp_path, capsys):
    async def crash(self):
        raise OverflowError("cannot convert float infinity to integer")

    monkeypatch.setattr(IndicatorWorker, "run", crash)
    tap = tmp_path / "tap"
    assert headless.run(args(capture_slice, tap)) == headless.EXIT_WORKER
    out = capsys.readouterr()
    summary = json.loads(out.out)
    assert summary["exit_code"] == 4
    [problem] = [p for p in summary["problems"] if p["code"] == "worker_gave_up"]
    assert problem["detail"].startswith("indicator: crashed 3 times in a row") and "OverflowError" in problem["detail"]
    assert summary["worker_states"]["indicator"]["state"] == "failed"
    assert "headless: worker_gave_up: indicator" in out.err
    controls = records(tap, m.CONTROL, m.Control)
    assert [(c.command, c.origin) for c in controls] == [("pause", "supervisor")]
    health = records(tap, m.HEALTH, m.Health)
    assert any(h.component == "worker:indicator" and h.state == "failed" for h in health)
    assert [h.state for h in health if h.component == "router"][-1] == "paused"  # the router obeyed


def test_headless_exits_4_when_a_worker_crashed_even_once(
    quick_supervisor, monkeypatch, capture_slice, tmp_path, capsys
):
    original = IndicatorWorker.run
    crashed = []

    async def crash_once(self):
        if not crashed:
            crashed.append(1)
            raise ValueError("one bad record")
        await original(self)

    monkeypatch.setattr(IndicatorWorker, "run", crash_once)
    assert headless.run(args(capture_slice, tmp_path / "tap")) == headless.EXIT_WORKER
    summary = json.loads(capsys.readouterr().out)
    assert [p["code"] for p in summary["problems"]] == ["worker_crashed"]
    assert summary["worker_states"]["indicator"]["restarts"] == 1
