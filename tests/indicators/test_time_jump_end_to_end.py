"""One event time far ahead in a replay with 1 s bars: once it filled 86,400 empty bars and made every later
trade "late". Through the real `headless` command, so the collector and the indicator worker meet it together."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys

from tui_trader import settings as s


def test_one_event_time_a_day_ahead_neither_fills_bars_nor_makes_trades_late(btc_capture, tmp_path):
    frames, trade_lines = [], []
    with gzip.open(btc_capture, "rt") as fh:
        for line in fh:
            if len(frames) == 4000:
                break
            if '"stream":"btcusdt@trade"' in line:
                trade_lines.append(len(frames))
            frames.append(line)
    k = trade_lines[100]
    head, _, raw = frames[k].partition(" ")
    env = json.loads(raw)
    env["data"]["E"] += 86_400_000  # still in the past, so only the jump can tell it is wrong
    env["data"]["T"] += 86_400_000
    frames[k] = f"{head} {json.dumps(env)}\n"
    path = tmp_path / "jump.gz"
    with gzip.open(path, "wt") as fh:
        fh.writelines(frames)
    config = tmp_path / "1s.toml"
    s.save(s.replace_field(s.Settings(), "indicators", "bar", "1s"), config)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "tui_trader",
            "headless",
            "--config",
            str(config),
            "--replay",
            str(path),
            "--speed",
            "max",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    indicator = summary["workers"]["indicator"]
    span_s = (
        json.loads(frames[-1].partition(" ")[2])["data"]["E"] - json.loads(frames[0].partition(" ")[2])["data"]["E"]
    ) / 1000
    assert summary["quarantined"] == {"event time jump": 1}
    assert indicator["late_trades"] == 0 and indicator["fills_cut"] == 0
    assert indicator["points"] <= span_s + 2  # one point a second of the capture, no filler day
    assert indicator["trades"] == len(trade_lines) - 1
