"""`tui-trader worker NAME`: one pipeline worker in this process, on the Fluvio bus.

Its subscriptions are named consumers (`<worker>-<topic>`) that resume from their committed offsets, so a
restarted worker continues where it stopped. Runs until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from tui_trader import logs
from tui_trader.bus import open_bus
from tui_trader.clock import Clock
from tui_trader.commands import load_settings, require_shared_bus
from tui_trader.instruments import RulesBook
from tui_trader.runtime import Pipeline
from tui_trader.workers import WorkerContext


async def _run(name: str, settings) -> bool:
    bus = await open_bus(settings.bus)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        # journal_role: a router on its own keeps a journal of its own (two processes never write one file).
        ctx = WorkerContext(
            settings=settings,
            bus=bus,
            clock=Clock(),
            durable=True,
            shared={"instruments": RulesBook(), "journal_role": name},
        )
        runtime = Pipeline(ctx, [name])
        await runtime.start()
        try:
            # Given up (crash loop): trading is paused; the process ends non-zero so its service manager sees it.
            stopped, failed = asyncio.create_task(stop.wait()), asyncio.create_task(runtime.failed.wait())
            await asyncio.wait([stopped, failed], return_when=asyncio.FIRST_COMPLETED)
            for t in (stopped, failed):
                t.cancel()
        finally:
            await runtime.stop()
            journal = ctx.shared.get("journal")
            if journal is not None:
                journal.close()
        return not runtime.failed.is_set()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await bus.close()


def run(args) -> int:
    settings, _ = load_settings(args)
    require_shared_bus(settings, "one worker per process", "`tui-trader` or `tui-trader headless`")
    logs.setup(logs.paths.state_dir() / f"worker-{args.name}.log")
    if not asyncio.run(_run(args.name, settings)):
        print(f"worker {args.name}: gave up after crashing repeatedly (see the log); trading paused", file=sys.stderr)
        return 4
    return 0
