"""`tui-trader headless`: the pipeline without the desk; a replay ends when the file ends and all drained."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time

from tui_trader import logs
from tui_trader.commands import load_settings
from tui_trader.session import pipeline


async def _run(args, settings) -> dict:
    started = time.perf_counter()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with pipeline(settings, replay_files=args.replay, speed=args.speed) as runtime:
            waiters = [asyncio.create_task(stop.wait())]
            if args.replay:
                waiters.append(asyncio.create_task(runtime.wait(["collector"])))
            if args.duration:
                waiters.append(asyncio.create_task(asyncio.sleep(args.duration)))
            done, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            for t in pending:
                t.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            await asyncio.wait_for(runtime.drain(), timeout=30)
            summary = {name: w.counters() for name, w in runtime.workers.items()}
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return {"duration_s": round(time.perf_counter() - started, 3), "workers": summary}


def run(args) -> int:
    settings, _ = load_settings(args)
    logs.setup(to_stderr=False)
    summary = asyncio.run(_run(args, settings))
    if args.json:
        print(json.dumps(summary, indent=2, sort_keys=True))
    else:
        for key, value in summary.items():
            print(f"{key}: {value}")
    sys.stdout.flush()
    return 0
