"""The adaptive refresh: full rate while the CPU has room, drawing kept under budget when it has none."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tui_trader.ui.throttle import BUDGET, SATURATED, SLOWEST_S, Throttle, cpu_demand


def run(throttle: Throttle, seconds: int, busy: float, draw_per_frame: float) -> None:
    """Feed one-second windows: the process used `busy` of the CPU, each redraw cost `draw_per_frame`."""
    wall = cpu = draw = 0.0
    throttle.sample(wall, cpu, draw)
    for _ in range(seconds):
        wall += 1.0
        cpu += busy
        draw += draw_per_frame / throttle.interval_s
        throttle.sample(wall, cpu, draw)


def test_full_rate_while_the_cpu_has_room():
    t = Throttle(0.1)
    run(t, 10, busy=0.5, draw_per_frame=0.03)  # drawing takes 30% of the time, but the CPU is half idle
    assert t.interval_s == 0.1 and not t.throttled


def test_drawing_kept_under_budget_when_the_pipeline_needs_the_cpu():
    t = Throttle(0.1)
    run(t, 10, busy=1.0, draw_per_frame=0.03)
    assert t.throttled
    assert 0.03 / t.interval_s <= BUDGET, "drawing still takes more than its budget"
    assert 0.03 / t.interval_s >= BUDGET / 2 / 1.5, "throttled far more than needed"


def test_never_slower_than_the_floor_and_back_to_full_rate_after():
    t = Throttle(0.1)
    run(t, 10, busy=1.0, draw_per_frame=1.0)
    assert t.interval_s == SLOWEST_S
    run(t, 20, busy=0.3, draw_per_frame=1.0)
    assert t.interval_s == 0.1


def test_a_new_base_rate_applies_at_once():
    t = Throttle(0.1)
    t.set_base(0.2)
    assert t.interval_s == 0.2 and not t.throttled


def test_a_process_kept_waiting_for_the_cpu_by_other_jobs_counts_as_cpu_bound():
    """On a shared machine the desk's process may get half a CPU while it wants a whole one: the figure fed
    to the throttle counts the time spent waiting to run, so drawing is still kept under budget."""
    if not hasattr(os, "sched_setaffinity") or not os.path.exists("/proc/thread-self/schedstat"):
        pytest.skip("needs Linux's CPU affinity and schedstat")
    cpu = min(os.sched_getaffinity(0))
    before = os.sched_getaffinity(0)
    rival = subprocess.Popen([sys.executable, "-c", f"import os; os.sched_setaffinity(0, {{{cpu}}})\nwhile True: pass"])
    try:
        os.sched_setaffinity(0, {cpu})  # this thread and the rival share one CPU
        demand, used, wall = cpu_demand(), time.process_time(), time.monotonic()
        while time.monotonic() - wall < 1.0:  # busy: wants the CPU the whole second
            pass
        demand, used, wall = cpu_demand() - demand, time.process_time() - used, time.monotonic() - wall
    finally:
        os.sched_setaffinity(0, before)
        rival.kill()
        rival.wait()
    assert used < 0.8 * wall, "the rival took part of the CPU (else this test shows nothing)"
    assert demand >= SATURATED * wall
    t = Throttle(0.1)
    run(t, 10, busy=demand / wall, draw_per_frame=0.03)
    assert t.throttled and 0.03 / t.interval_s <= BUDGET
