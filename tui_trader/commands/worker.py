"""`tui-trader worker NAME`: one pipeline worker in this process, on the Fluvio bus.

Its subscriptions are named consumers (`<worker>-<topic>`) that resume from their committed offsets (kept
on the cluster, per partition), so a restarted worker continues where it stopped, on this machine or
another. Runs until Ctrl-C or SIGTERM.

Sharding: with `bus.partitions` > 1, several indicator workers share the per-symbol topics, each reading a
subset of their partitions (`--member I/N`: the partitions p with p % N == I; or `--partitions 0,2`), so
every symbol is handled by exactly one of them, in order. The router is not sharded: its risk limits (open
positions, exposure, the daily loss stop) hold across all symbols, so one router must see every signal.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from tui_trader import logs
from tui_trader.bus import open_bus
from tui_trader.clock import Clock
from tui_trader.commands import load_settings, require_shared_bus
from tui_trader.instruments import RulesBook
from tui_trader.runtime import Pipeline
from tui_trader.settings import Settings
from tui_trader.workers import WorkerContext

SHARDED = ("indicator",)  # the workers that may read a subset of the per-symbol topics' partitions


def member_partitions(member: str | None, partitions: str | None, count: int) -> tuple[int, ...] | None:
    """The partitions a sharded worker reads (None: all), from `--member I/N` or `--partitions 0,2`, for
    topics of `count` partitions. Raises ValueError with the reason."""
    if member is not None and partitions is not None:
        raise ValueError("give --member or --partitions, not both")
    if member is not None:
        index, sep, total = member.partition("/")
        if not sep or not index.isdigit() or not total.isdigit() or not 0 <= int(index) < int(total):
            raise ValueError(f"--member {member}: expected I/N with 0 <= I < N (e.g. 0/2)")
        chosen = tuple(p for p in range(count) if p % int(total) == int(index))
        if not chosen:
            raise ValueError(f"--member {member}: no partition of {count} falls to this member")
        return chosen
    if partitions is not None:
        try:
            chosen = tuple(sorted({int(p) for p in partitions.split(",")}))
        except ValueError:
            raise ValueError(f"--partitions {partitions}: expected numbers separated by commas") from None
        if not chosen or chosen[0] < 0 or chosen[-1] >= count:
            raise ValueError(f"--partitions {partitions}: the topics have partitions 0..{count - 1} (bus.partitions)")
        return chosen
    return None


async def _run(name: str, settings: Settings, partitions: tuple[int, ...] | None = None) -> bool:
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
            partitions=partitions,
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


def run(args: argparse.Namespace) -> int:
    settings, _ = load_settings(args)
    require_shared_bus(settings, "one worker per process", "`tui-trader` or `tui-trader headless`")
    member, chosen = getattr(args, "member", None), getattr(args, "partitions", None)
    if (member is not None or chosen is not None) and args.name not in SHARDED:
        why = (
            "its risk limits (open positions, exposure, the daily loss stop) hold across all symbols, so one "
            "router must see every signal"
            if args.name == "router"
            else "it does not read the per-symbol topics by partition"
        )
        print(f"worker {args.name}: --member/--partitions are for {', '.join(SHARDED)} only: {why}", file=sys.stderr)
        return 2
    try:
        partitions = member_partitions(member, chosen, settings.bus.partitions)
    except ValueError as err:
        print(f"worker {args.name}: {err}", file=sys.stderr)
        return 2
    # Members of one worker on one machine keep logs of their own.
    shard = "" if partitions is None else "-p" + "-".join(map(str, partitions))
    logs.setup(logs.paths.state_dir() / f"worker-{args.name}{shard}.log")
    if not asyncio.run(_run(args.name, settings, partitions)):
        print(f"worker {args.name}: gave up after crashing repeatedly (see the log); trading paused", file=sys.stderr)
        return 4
    return 0
