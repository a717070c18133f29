"""How often the desk redraws: `ui.refresh_hz`, unless drawing would take CPU the pipeline needs.

The desk and the workers share one event loop (and one core, under the GIL). While the process has CPU to
spare, drawing costs the pipeline nothing and the desk redraws at `ui.refresh_hz`. When the process is
CPU-bound (a replay at full speed, a burst of market data), every millisecond spent drawing is a
millisecond the pipeline waits; then the desk keeps its drawing under `BUDGET` of the time by redrawing
less often, and goes back to full rate as soon as the pipeline no longer needs the room. Reading the bus
is not counted: it is the same work at any refresh rate. `Throttle` is pure: the app feeds it times.

CPU-bound means the process wanted the CPU all the time, not that it got it: on a machine shared with other
jobs a busy desk may run only half the time and wait, runnable, for the rest. So the CPU figure the app
feeds is `cpu_demand()`: the process's CPU time plus the time its event loop's thread waited for a CPU.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

BUDGET = 0.05  # share of wall time the desk may draw while the process is CPU-bound (the rest of it is the pipeline's)
SATURATED = (
    0.6  # process CPU / wall time above which the pipeline is taken as CPU-bound (the desk alone stays well under)
)
SLOWEST_S = 2.0  # the desk never redraws less often than this
WINDOW_S = 0.25  # decisions are taken over windows of this length: a burst is throttled within a few frames
STEP = 1.5


@dataclass
class Throttle:
    base_s: float  # 1 / ui.refresh_hz
    interval_s: float = 0.0
    _wall: float = 0.0
    _cpu: float = 0.0
    _draw: float = 0.0
    _started: bool = False

    def __post_init__(self) -> None:
        self.interval_s = self.interval_s or self.base_s

    @property
    def throttled(self) -> bool:
        return self.interval_s > self.base_s * 1.01

    @property
    def hz(self) -> float:
        return 1.0 / self.interval_s

    def set_base(self, base_s: float) -> None:
        self.base_s = base_s
        self.interval_s = max(self.interval_s, base_s) if self.throttled else base_s

    def sample(self, wall: float, cpu: float, draw: float) -> bool:
        """Cumulative wall clock, process CPU and drawing time (seconds). Returns True when the interval
        changed (the caller re-arms its timer)."""
        if not self._started:
            self._wall, self._cpu, self._draw, self._started = wall, cpu, draw, True
            return False
        span = wall - self._wall
        if span < WINDOW_S:
            return False
        busy = (cpu - self._cpu) / span
        share = (draw - self._draw) / span
        self._wall, self._cpu, self._draw = wall, cpu, draw
        before = self.interval_s
        if busy >= SATURATED and share > BUDGET:
            self.interval_s = min(SLOWEST_S, self.interval_s * max(STEP, share / BUDGET))
        elif self.throttled and busy < SATURATED:
            self.interval_s = self.base_s  # the CPU has room again: full rate at once
        elif self.throttled and share < BUDGET / 2:
            self.interval_s = max(self.base_s, self.interval_s / STEP)
        return self.interval_s != before


def cpu_demand() -> float:
    """Seconds of CPU the process wanted so far: its CPU time plus the time the calling thread (the event
    loop's) spent runnable but waiting for a CPU, from Linux's schedstat (elsewhere: CPU time alone)."""
    return time.process_time() + _run_queue_wait_s()


def _run_queue_wait_s() -> float:
    for path in ("/proc/thread-self/schedstat", "/proc/self/schedstat"):
        try:
            with open(path, "rb") as fh:
                return int(fh.read().split()[1]) / 1e9
        except (OSError, IndexError, ValueError):
            continue
    return 0.0
