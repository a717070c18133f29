"""`tui-trader headless`: a replay with a bus tap ends by itself and sums up; live runs to --duration."""

from __future__ import annotations

import asyncio
import gzip
import itertools
import json
import subprocess
import sys

import msgspec
import pytest
from net.binance_ws_server import BinanceWsServer, capture_frames

from tui_trader import messages as m


@pytest.fixture
def btc_frames(btc_capture) -> list[str]:
    """The first 3000 trade and bookTicker frames of the real BTC capture."""
    return capture_frames(btc_capture, limit=3000)


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tui_trader", *args], capture_output=True, text=True, timeout=timeout)


def capture_slice(src, dest, lines: int):
    with gzip.open(src, "rt") as fh, gzip.open(dest, "wt") as out:
        for i, line in enumerate(fh):
            if i == lines:
                break
            out.write(line)
    return dest


def test_headless_replay_with_tap_writes_every_record_and_a_json_summary(btc_capture, tmp_path):
    path = capture_slice(btc_capture, tmp_path / "btc.gz", 6000)
    kinds = {"trade": 0, "bookTicker": 0, "depth": 0, "": 0}  # "": the REST snapshot line
    with gzip.open(path, "rt") as fh:
        for line in fh:
            stream = json.loads(line.partition(" ")[2]).get("stream", "")
            kinds[stream.partition("@")[2].partition("@")[0]] += 1
    kinds["book"] = kinds["bookTicker"]
    tap = tmp_path / "tap"
    run = cli("headless", "--replay", str(path), "--speed", "max", "--tap", str(tap), "--json")
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["messages_read"] == 6000
    assert summary["published"] == {"trade": kinds["trade"], "book": kinds["book"], "mark": 0}
    assert summary["malformed"] == {} and summary["ignored"]["depth"] == kinds["depth"]
    assert summary["duration_s"] > 0 and summary["mode"] == "replay"
    assert set(summary["workers"]) == {"collector", "indicator", "router", "executor"}
    assert summary["worker_states"]["collector"]["state"] == "finished"

    files = {p.name for p in tap.iterdir()}
    assert files == {f"{t}.jsonl" for t in m.TOPICS}
    market = (tap / f"{m.MARKET_DATA}.jsonl").read_bytes().splitlines()
    assert len(market) == kinds["trade"] + kinds["book"] == summary["tap"]["records"][m.MARKET_DATA]
    decoded = [msgspec.json.decode(line, type=m.MarketData) for line in market]
    assert sum(md.kind == "trade" for md in decoded) == kinds["trade"]
    assert all(a.ts <= b.ts for a, b in itertools.pairwise(decoded))  # the replay clock never goes back
    health = [
        msgspec.json.decode(line, type=m.Health) for line in (tap / f"{m.HEALTH}.jsonl").read_bytes().splitlines()
    ]
    assert [h.state for h in health if h.component == "feed:replay"][-1] == "done"  # the end is no outage
    for topic in m.TOPICS:  # every line of every topic decodes as that topic's message
        for line in (tap / f"{topic}.jsonl").read_bytes().splitlines():
            msgspec.json.decode(line, type=m.TOPIC_TYPES[topic])


def test_headless_with_a_missing_recording_is_one_clear_line(tmp_path):
    run = cli("headless", "--replay", str(tmp_path / "missing.gz"), "--speed", "max", "--json")
    assert run.returncode == 3  # input unreadable
    assert json.loads(run.stdout)["problems"][0]["code"] == "input_unreadable"
    assert run.stderr.strip().startswith("Feed: cannot read recording") and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


async def test_headless_live_runs_for_its_duration_and_sums_up(btc_frames, tmp_path):
    conf = tmp_path / "s.toml"
    async with BinanceWsServer(btc_frames[:500]) as server:
        conf.write_text(
            f'[trading]\nsymbols = ["BTCUSDT"]\n[feed]\nws_base_url = "{server.url}"\ntrade_stream = "trade"\n'
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tui_trader",
            "headless",
            "--config",
            str(conf),
            "--duration",
            "2",
            "--json",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, stderr.decode()
    summary = json.loads(stdout)
    assert summary["mode"] == "live" and summary["messages_read"] == 500
    assert sum(summary["published"].values()) == 500
    conn = summary["workers"]["collector"]["connections"]["public-btcusdt"]
    assert conn["frames"] == 500 and conn["route"] == "public"
