"""`tui-trader headless`: the pipeline without the desk, and a summary of what it did.

With `--replay` it ends when the recordings end and every worker has drained; live it runs until
SIGINT/SIGTERM or `--duration`, then drains. `--tap DIR` writes every record of every topic, as the JSON
value published, one a line, to `DIR/<topic>.jsonl` (the tap is a tracked consumer, so a lockstep replay
waits for it too and nothing is missed). The summary gives the collector's figures (messages read,
published per kind, malformed per reason) and each worker's own `summary()`.

Exit code: 0 when the run did its job; otherwise the summary's `problems` list says why (each an object with
`code` and `detail`, also printed to stderr one a line) and `exit_code` repeats the code:
- 3 (`EXIT_INPUT`): `input_unreadable` (a recording cannot be opened or holds no frame: found before the run,
  nothing starts), `input_damaged` (a gzip recording is corrupt part-way: played up to the damage),
  `nothing_processed` (the collector published no market data at all);
- 4 (`EXIT_WORKER`, wins over 3): `worker_crashed` (a worker raised and was restarted) or `worker_gave_up`
  (it crashed `runtime.MAX_RESTARTS` times in a row; trading was paused and the run ended).
Settings, journal and log errors end the program before the run with one line and exit code 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any, BinaryIO

from tui_trader import logs
from tui_trader import messages as m
from tui_trader.bus.base import Gap, Start, Subscription
from tui_trader.commands import load_settings
from tui_trader.errors import FeedError, TuiTraderError
from tui_trader.feeds.replay import check_readable
from tui_trader.runtime import Pipeline
from tui_trader.session import open_pipeline
from tui_trader.settings import Settings
from tui_trader.workers.base import Worker

DRAIN_TIMEOUT_S = 30.0
EXIT_INPUT = 3
EXIT_WORKER = 4
WORKER_PROBLEMS = ("worker_crashed", "worker_gave_up")


class Tap:
    """Copies every record of every topic to `DIR/<topic>.jsonl`."""

    def __init__(self, runtime: Pipeline, directory: str) -> None:
        self.runtime = runtime
        self.dir = Path(directory)
        self.records: dict[str, int] = {}
        self.gaps: dict[str, int] = {}
        self._subs: list[Subscription] = []
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise TuiTraderError(
                f"cannot create tap directory {str(self.dir)!r}: {err.strerror or err}", "Tap"
            ) from None
        if not self.dir.is_dir():
            raise TuiTraderError(f"tap directory {str(self.dir)!r} is not a folder", "Tap")
        ctx = self.runtime.ctx
        files: dict[str, BinaryIO] = {}
        for base in m.TOPICS:
            topic = ctx.topic(base)
            # Opened here, before anything is copied: a file that cannot be written fails the run in one
            # line now, instead of ending its copy task silently later.
            try:
                files[topic] = open(self.dir / f"{topic}.jsonl", "wb")  # noqa: SIM115, ASYNC230  closed by _copy; a local open at start
            except OSError as err:
                for fh in files.values():
                    fh.close()
                raise TuiTraderError(
                    f"cannot write tap file {str(self.dir / (topic + '.jsonl'))!r}: {err.strerror or err}", "Tap"
                ) from None
        for topic, fh in files.items():
            sub = await ctx.bus.subscribe(topic, Start.BEGINNING, tracked=True)
            self._subs.append(sub)
            self._tasks.append(asyncio.create_task(self._copy(topic, sub, fh), name=f"tap:{topic}"))

    async def _copy(self, topic: str, sub: Subscription, fh: BinaryIO) -> None:
        self.records[topic] = 0
        with fh as out:
            async for item in sub:
                if isinstance(item, Gap):
                    self.gaps[topic] = self.gaps.get(topic, 0) + item.missed
                    continue
                out.write(item.value)
                out.write(b"\n")
                self.records[topic] += 1

    async def stop(self) -> None:
        for sub in self._subs:
            await sub.close()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"dir": str(self.dir), "records": dict(self.records)}
        if self.gaps:
            out["missed"] = dict(self.gaps)
        return out


def _worker_summary(worker: Worker) -> dict[str, Any]:
    try:
        return worker.summary()
    except Exception as err:  # noqa: BLE001  a worker's report must not cost the whole summary
        return {"error": f"summary failed: {type(err).__name__}: {err}"}


def summarize(runtime: Pipeline, duration_s: float, tap: Tap | None) -> dict[str, Any]:
    workers = {name: _worker_summary(w) for name, w in runtime.workers.items()}
    collector = workers.get("collector", {})
    read = collector.get("read", 0)
    out: dict[str, Any] = {
        "mode": "replay" if runtime.ctx.replay_files else "live",
        "duration_s": round(duration_s, 3),
        "messages_read": read,
        "messages_per_s": round(read / duration_s) if duration_s > 0 else 0,
        "published": collector.get("published", {}),
        "malformed": collector.get("malformed", {}),
        "ignored": collector.get("ignored", {}),
        "duplicates": collector.get("duplicates", {}),
        "quarantined": collector.get("quarantined", {}),
        "workers": workers,
        "worker_states": {n: {"state": s.state, "restarts": s.restarts} for n, s in runtime.states.items()},
    }
    if tap is not None:
        out["tap"] = tap.summary()
    out["problems"] = problems(runtime, collector)
    out["exit_code"] = exit_code(out["problems"])
    return out


def _problem(code: str, detail: str) -> dict[str, str]:
    return {"code": code, "detail": detail}


def problems(runtime: Pipeline, collector: dict[str, Any]) -> list[dict[str, str]]:
    """What went wrong in a finished run, for the summary and the exit code."""
    out = []
    corrupt = collector.get("skipped", {}).get("corrupt", 0)
    if corrupt:
        out.append(_problem("input_damaged", f"{corrupt} recording(s) corrupt part-way: played up to the damage"))
    published = collector.get("published", {})
    if "collector" in runtime.workers and not sum(published.values()):
        read = collector.get("read", 0)
        out.append(_problem("nothing_processed", f"no market data published ({read} messages read)"))
    for name, st in runtime.states.items():
        if st.gave_up:
            out.append(
                _problem(
                    "worker_gave_up",
                    f"{name}: crashed {runtime.max_restarts} times in a row, "
                    f"not restarted; trading paused ({st.last_error})",
                )
            )
        elif st.restarts:
            out.append(_problem("worker_crashed", f"{name}: restarted {st.restarts} times ({st.last_error})"))
    return out


def exit_code(found: list[dict[str, str]]) -> int:
    codes = {p["code"] for p in found}
    if codes & set(WORKER_PROBLEMS):
        return EXIT_WORKER
    return EXIT_INPUT if codes else 0


async def _run(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    replay = list(args.replay or [])
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        started = time.perf_counter()
        async with open_pipeline(settings, replay_files=replay, speed=args.speed) as runtime:
            tap = Tap(runtime, args.tap) if getattr(args, "tap", None) else None
            if tap is not None:
                await tap.start()
            waiters: list[asyncio.Task[Any]] = [
                asyncio.create_task(stop.wait()),
                asyncio.create_task(runtime.failed.wait()),
            ]
            if replay:
                waiters.append(asyncio.create_task(runtime.wait(["collector"])))
            if args.duration:
                waiters.append(asyncio.create_task(asyncio.sleep(args.duration)))
            _, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            for t in pending:
                t.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            with contextlib.suppress(TimeoutError):  # a worker that cannot drain must not hold back the summary
                await asyncio.wait_for(runtime.drain(), timeout=DRAIN_TIMEOUT_S)
            duration = time.perf_counter() - started
            if tap is not None:
                await tap.stop()
            return summarize(runtime, duration, tap)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def run(args: argparse.Namespace) -> int:
    settings, _ = load_settings(args)
    logs.setup(to_stderr=False)
    try:
        check_readable(list(args.replay or []))
    except FeedError as err:
        # Said on stderr in one line as every error is; the JSON summary says it too, for a script.
        print(f"{err.title}: {err.message}", file=sys.stderr)
        if args.json:
            found = [_problem("input_unreadable", err.message)]
            print(json.dumps({"problems": found, "exit_code": EXIT_INPUT}, indent=2, sort_keys=True))
        return EXIT_INPUT
    summary = asyncio.run(_run(args, settings))
    if args.json:
        print(json.dumps(summary, indent=2, sort_keys=True, default=str))
    else:
        for key, value in summary.items():
            print(f"{key}: {value}")
    sys.stdout.flush()
    for p in summary["problems"]:
        print(f"headless: {p['code']}: {p['detail']}", file=sys.stderr)
    return int(summary["exit_code"])
