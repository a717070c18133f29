"""Run the real `tui-trader doctor` against a loopback Binance venue: once all ok, then once per failure.

    python tests/doctor/scenarios.py [--only NAME] [--timeout S]

Starts the mock REST venue (tests/net/mock_binance.py) and the websocket server replaying real BTCUSDT
frames (tests/net/binance_ws_server.py) on 127.0.0.1, writes one settings file per scenario, runs
`tui-trader doctor --config FILE` as its own process with test API keys in the environment, and prints
the command, its output and its exit code. Needs the real captures (../shared/data or $TUI_TRADER_DATA).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from doctor_kit import KEYS_ENV, Venue
from kit import closed_port
from net.binance_ws_server import (
    BinanceWsServer,
    as_agg_trade,
    capture_frames,
    stream_of,
)
from net.mock_binance import MockBinance

from tui_trader import paths
from tui_trader.settings import dumps

Setup = Callable[["Run"], Awaitable[dict[str, Any]]]


class Run:
    def __init__(self, venue: Venue, home: Path, timeout: float) -> None:
        self.venue, self.home, self.timeout = venue, home, timeout

    async def doctor(self, name: str, settings: dict[str, Any], env: dict[str, str]) -> None:
        conf = self.home / (re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") + ".toml")
        conf.write_text(dumps(self.venue.settings(**settings)))
        command = ["tui-trader", "doctor", "--config", str(conf), "--timeout", f"{self.timeout:g}"]
        shown_env = " ".join(f"{k}=…" for k in env)
        print(f"\n=== {name}\n$ {shown_env + ' ' if shown_env else ''}{' '.join(command)}", flush=True)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tui_trader",
            *command[1:],
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, **env},
        )
        out, _ = await proc.communicate()
        print(out.decode().rstrip())
        print(f"(exit {proc.returncode})", flush=True)


async def main(only: str | None, timeout: float) -> None:
    data = paths.shared_data_dir()
    if data is None:
        raise SystemExit("real captures not found: set TUI_TRADER_DATA or place ../shared/data beside the checkout")
    frames = capture_frames(data / "binance_usdm_ws" / "btcusdt_20240808.gz", limit=3000)
    frames += [as_agg_trade(f) for f in frames if stream_of(f).endswith("@trade")]
    with tempfile.TemporaryDirectory(prefix="doctor-") as tmp:
        home = Path(tmp)
        for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
            os.environ[var] = str(home / var.lower())
        async with (
            MockBinance() as rest,
            BinanceWsServer(frames, pace_s=0.005) as ws,
            BinanceWsServer(silent=True) as silent,
        ):
            run = Run(Venue(rest, ws, home / "journal.sqlite3"), home, timeout)
            blocker = home / "a-file"
            blocker.write_text("not a folder")
            scenarios: list[tuple[str, dict[str, Any], dict[str, str], Callable[[], None] | None]] = [
                ("all ok (live, keys set)", {}, KEYS_ENV, None),
                ("all ok (paper, no keys)", {"live": False}, {}, None),
                ("feed silent", {"feed": {"ws_base_url": silent.url}}, KEYS_ENV, None),
                ("feed on a closed port", {"feed": {"ws_base_url": f"ws://127.0.0.1:{closed_port()}"}}, KEYS_ENV, None),
                ("REST down", {"exchange": {"api_base_url": f"http://127.0.0.1:{closed_port()}"}}, KEYS_ENV, None),
                ("clock skewed 2 s", {}, KEYS_ENV, lambda: setattr(rest, "clock_offset_ms", 2000)),
                (
                    "bad keys (-2015)",
                    {},
                    KEYS_ENV,
                    lambda: rest.fail(
                        "GET",
                        "/fapi/v3/account",
                        "http",
                        status=401,
                        body={"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."},
                    ),
                ),
                ("live without keys", {}, {}, None),
                ("hedge mode on", {}, KEYS_ENV, lambda: setattr(rest, "dual_side", True)),
                (
                    "leverage above the bracket",
                    {"trading": {"leverage": 125, "max_position_size": 100_000.0}},
                    KEYS_ENV,
                    None,
                ),
                ("journal unwritable", {"journal": {"path": str(blocker / "journal.sqlite3")}}, KEYS_ENV, None),
            ]
            for name, settings, env, arrange in scenarios:
                if only and only not in name:
                    continue
                rest.clock_offset_ms, rest.dual_side, rest.failures = 0, False, []
                if arrange is not None:
                    arrange()
                await run.doctor(name, settings, env)
            if not only or only in "journal held by another desk":
                hold = (
                    "import sys; from tui_trader.journal import Journal; j = Journal(sys.argv[1]); "
                    "print('held', flush=True); sys.stdin.read()"
                )
                holder = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-c",
                    hold,
                    str(home / "journal.sqlite3"),
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                )
                try:
                    await holder.stdout.readline()  # type: ignore[union-attr]
                    await run.doctor("journal held by another desk", {}, KEYS_ENV)
                finally:
                    await holder.communicate(b"")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="run the scenarios whose name contains this")
    parser.add_argument("--timeout", type=float, default=3.0)
    args = parser.parse_args()
    asyncio.run(main(args.only, args.timeout))
