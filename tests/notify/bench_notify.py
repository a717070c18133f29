"""Pipeline throughput with notifications off, and on while the webhook is slow or down (not collected by
pytest; a benchmark, not a timed assertion).

The real pipeline (collector, indicator, router, executor on the embedded bus, replay running free) plays a
real capture (default: ../shared/data/binance_usdm_ws/btcusdt_20240808.gz) with `indicators.bar = "tick"`,
so signals, orders and fills happen and every fill becomes a notice. Variants, interleaved run by run so a
shared machine's load hits them alike:
- off: no notification URL, no notifier;
- slow: a loopback JSON webhook (aiohttp, on its own thread and loop) that answers after `--delay` seconds;
- down: a JSON webhook URL on a closed loopback port (every send fails at once).
Reported per variant: the median market messages per second, fills, and the notifier's counts (queued, sent,
failed, dropped, rate limited). `notify.max_per_minute` is raised so the rate rule does not hide the load.

Run: python tests/notify/bench_notify.py [--file F] [--runs N] [--delay S] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Self

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: the test kit is in tests/

from kit import closed_port

from tui_trader import bench
from tui_trader.settings import Settings, parse, to_dict

ROOT = Path(__file__).resolve().parents[2]


class ThreadedWebhook:
    """A slow JSON webhook on its own thread and event loop (the pipeline's loop never serves it)."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.hits = 0
        self.port = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._serve, name="bench-webhook", daemon=True)

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop

        async def handle(request: web.Request) -> web.Response:
            await request.read()
            await asyncio.sleep(self.delay_s)  # the slow service being measured
            self.hits += 1
            return web.Response(text="ok")

        async def start() -> web.AppRunner:
            app = web.Application()
            app.router.add_post("/hook", handle)
            runner = web.AppRunner(app)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            return runner

        runner = loop.run_until_complete(start())
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    def __enter__(self) -> Self:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def settings_for(journal: Path) -> Settings:
    data = to_dict(bench.bench_settings(Settings().trading.symbols, journal))
    data["notify"].update(replays=True, max_per_minute=600)
    return parse(data, "bench-notify")


def one_run(recording: Path, url: str | None) -> dict[str, Any]:
    if url:
        os.environ["TUI_TRADER_NOTIFY_URLS"] = url
    else:
        os.environ.pop("TUI_TRADER_NOTIFY_URLS", None)
    notifier: dict[str, Any] = {}

    async def go() -> dict[str, Any]:
        from tui_trader import session

        real = session.Pipeline

        class Spy(real):  # keep the notifier's counts once the run ends
            async def stop(self, timeout: float = 2.0) -> None:
                await super().stop(timeout)
                w = self.workers.get("notifier")
                if w is not None:
                    notifier.update(w.counters())

        session.Pipeline = Spy  # type: ignore[misc]
        try:
            with tempfile.TemporaryDirectory(prefix="bench-notify-") as tmp:
                return await bench.run_pipeline(recording, settings_for(Path(tmp) / "j.sqlite3"), None, False)
        finally:
            session.Pipeline = real  # type: ignore[misc]

    result = asyncio.run(go())
    keys = ("queued", "sent", "failed", "dropped", "rate_limited", "failures_started")
    return {
        "msgs_per_s": result["market_messages_per_s"],
        "pipeline_s": result["pipeline_s"],
        "fills": result["fills"],
        "signals": result["signals"],
        "notifier": {k: notifier[k] for k in keys} if notifier else None,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--file", default=str(ROOT.parent / "shared" / "data" / "binance_usdm_ws" / "btcusdt_20240808.gz"))
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--delay", type=float, default=2.0, help="seconds the slow webhook takes per notice")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    recording = Path(args.file)
    if not recording.is_file():
        sys.exit(f"{recording}: not found (pass --file)")
    runs: dict[str, list[dict[str, Any]]] = {"off": [], "slow": [], "down": []}
    with ThreadedWebhook(args.delay) as hook:
        urls = {
            "off": None,
            "slow": f"json://127.0.0.1:{hook.port}/hook",
            "down": f"json://127.0.0.1:{closed_port()}/hook",
        }
        # Warm-up: imports, TA-Lib, page cache, and apprise with its plugins, so every run measures the steady
        # state. (A fresh process with notifications on loads apprise once, on the sender's thread, beside
        # the pipeline: about a second of CPU and 25-30 MB, not measured here.)
        one_run(recording, urls["down"])
        for _ in range(args.runs):
            for name, url in urls.items():
                runs[name].append(one_run(recording, url))
    report = {
        "input": str(recording),
        "runs": args.runs,
        "slow_delay_s": args.delay,
        "variants": {
            name: {
                "median_msgs_per_s": statistics.median(r["msgs_per_s"] for r in rs),
                "msgs_per_s": [r["msgs_per_s"] for r in rs],
                "fills": rs[-1]["fills"],
                "notifier": rs[-1]["notifier"],
            }
            for name, rs in runs.items()
        },
    }
    off = report["variants"]["off"]["median_msgs_per_s"]
    for v in report["variants"].values():
        v["vs_off"] = round(v["median_msgs_per_s"] / off, 3) if off else None
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{recording.name}: {args.runs} runs per variant, slow webhook {args.delay:g} s per notice")
    for name, v in report["variants"].items():
        print(
            f"  {name:5} {v['median_msgs_per_s']:>8} msg/s (x{v['vs_off']}) runs {v['msgs_per_s']} "
            f"fills {v['fills']} notifier {v['notifier']}"
        )


if __name__ == "__main__":
    main()
