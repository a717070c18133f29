"""The desk, headless, attached to a pipeline someone else runs: `tui-trader bench --ui` measures what the
desk costs the pipeline this way (same bus, same process, same event loop as a trader's desk), once it is
up and has painted its first frame."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from textual.pilot import Pilot

from tui_trader.bus.base import Bus
from tui_trader.clock import Clock
from tui_trader.settings import Settings
from tui_trader.ui.app import DeskApp

SIZE = (160, 48)
START_TIMEOUT_S = 30.0


@contextlib.asynccontextmanager
async def run_desk_headless(settings: Settings, bus: Bus, clock: Clock) -> AsyncIterator[DeskApp]:
    """The desk up and reading `bus` before the pipeline starts (so its start-up is not measured); the
    caller sets `app.runtime` once the pipeline runs."""
    app = DeskApp(settings, bus=bus, clock=clock)
    task = asyncio.create_task(app.run_async(headless=True, size=SIZE), name="desk-headless")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT_S
    while app.bridge is None:  # the desk is up once its bridge has subscribed
        if task.done():
            task.result()  # raises what stopped it
            raise RuntimeError("the desk exited before it started")
        if loop.time() > deadline:
            raise TimeoutError(f"the desk did not start within {START_TIMEOUT_S:.0f} s")
        await asyncio.sleep(0.01)
    # Subscribed is not drawn: Textual goes on mounting, laying out and painting the screen for a while
    # (hundreds of ms at 160x48). That is the desk starting, not what it costs a running pipeline, so it
    # is waited out: every pending event handled and the first frame painted.
    await asyncio.wait_for(Pilot(app).pause(), max(1.0, deadline - loop.time()))
    try:
        yield app
    finally:
        app.exit()
        await asyncio.wait_for(task, START_TIMEOUT_S)
