"""Determinism: replays of the same capture publish the same orders and fills,
at `--speed max` twice and at `--speed 50`, through the real `headless` command (tick mode, paper). The
capture's first two minutes are enough: three entries and their closes (the full capture's replay is
tests/indicators/test_end_to_end.py and tests/journal/test_crash_restart.py)."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

from tui_trader import messages as m
from tui_trader import settings as s

# Random per run by design (uuid4 order ids and what refers to them); everything else must match.
RANDOM_FIELDS = {"id", "signal_id", "order_id", "exchange_order_id", "stop_loss_order_id", "take_profit_order_id"}
TIMEOUT_S = 180
LINES = 32_000  # the capture's first lines: its first three entries and closes in tick mode


def head(capture: Path, out: Path) -> Path:
    with gzip.open(capture, "rb") as src, gzip.open(out, "wb", compresslevel=1) as dst:
        for _, line in zip(range(LINES), src, strict=False):
            dst.write(line)
    return out


def tick_settings(tmp_path: Path) -> Path:
    path = tmp_path / "tick.toml"
    s.save(s.replace_field(s.Settings(), "indicators", "bar", "tick"), path)
    return path


def start(config: Path, capture: Path, speed: str, tap: Path) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "tui_trader",
        "headless",
        "--config",
        str(config),
        "--replay",
        str(capture),
        "--speed",
        speed,
        "--tap",
        str(tap),
        "--json",
    ]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def records(tap: Path, topic: str) -> list[dict]:
    out = []
    for line in (tap / f"{topic}.jsonl").read_text().splitlines():
        rec = json.loads(line)
        out.append({k: v for k, v in rec.items() if k not in RANDOM_FIELDS})
    return out


def test_replays_publish_the_same_orders_and_fills_at_any_speed(btc_capture, tmp_path):
    config = tick_settings(tmp_path)
    capture = head(btc_capture, tmp_path / "btcusdt_head.gz")
    runs = {name: (tmp_path / name) for name in ("max-1", "max-2", "speed-50")}
    # The three runs go side by side: the result must not depend on how they share the CPU either.
    procs = {name: start(config, capture, "max" if name.startswith("max") else "50", tap) for name, tap in runs.items()}
    summaries = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=TIMEOUT_S)
        assert proc.returncode == 0, err[-2000:]
        summaries[name] = json.loads(out)["workers"]["router"]

    orders = {name: records(tap, m.ORDERS) for name, tap in runs.items()}
    statuses = {name: records(tap, m.ORDER_STATUS) for name, tap in runs.items()}
    base = orders["max-1"]
    entries = [o for o in base if o["purpose"] == "entry"]
    fills = [st for st in statuses["max-1"] if st["status"] == "filled"]
    assert entries and fills, "the capture should trade in tick mode"
    assert all(o["stop_loss"] and o["take_profit"] for o in entries)
    for name in ("max-2", "speed-50"):
        assert orders[name] == base, name
        assert statuses[name] == statuses["max-1"], name
        assert summaries[name] == summaries["max-1"], name
    # The summary agrees with what was published.
    router = summaries["max-1"]
    assert router["entries"] == len(entries)
    assert router["closes"] == len(base) - len(entries)
    published = sum(n for rule, n in router["denials"].items() if rule not in ("below_min_strength", "same_direction"))
    assert published == sum(
        1
        for st in statuses["max-1"]
        if st["status"] == "rejected" and st["purpose"] == "entry" and st["error"].split(":")[0] in router["denials"]
    )
