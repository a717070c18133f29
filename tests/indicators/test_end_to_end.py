"""End to end: `tui-trader headless --replay` of a real capture publishes, per symbol, exactly the signals the
engine core gives on that file's trade prices (tick mode)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import indicator_captures

from tui_trader.indicators.signals import SignalEngine
from tui_trader.settings import parse

ROOT = Path(__file__).resolve().parents[2]


def test_headless_replay_publishes_the_cores_signals_in_order(btc_capture, tmp_path):
    settings_text = (ROOT / "settings.toml").read_text(encoding="utf-8")
    assert '\nbar = "1m"\n' in settings_text
    config = tmp_path / "settings.toml"
    config.write_text(settings_text.replace('\nbar = "1m"\n', '\nbar = "tick"\n'), encoding="utf-8")
    tap = tmp_path / "tap"
    # The replay runs while this process computes the expected signals: the two take about as long. Its
    # output goes to files, so a full pipe never stalls it meanwhile.
    out_path, err_path = tmp_path / "stdout.json", tmp_path / "stderr.txt"
    with open(out_path, "w") as out_file, open(err_path, "w") as err_file:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tui_trader",
                "headless",
                "--config",
                str(config),
                "--replay",
                str(btc_capture),
                "--speed",
                "max",
                "--tap",
                str(tap),
                "--json",
            ],
            stdout=out_file,
            stderr=err_file,
            cwd=tmp_path,
        )
    try:
        settings = parse({"indicators": {"bar": "tick"}})
        core = SignalEngine(settings.indicators, settings.trading.min_signal_strength)
        expected: dict[str, list[tuple[str, float]]] = defaultdict(list)
        for symbol, price, event_time in indicator_captures.trades(btc_capture):
            for e in core.on_trade(symbol, price, event_time):
                expected[symbol].append((e.evaluation.kind, e.price))
        proc.wait(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err_path.read_text()[-2000:]
    summary = json.loads(out_path.read_text())

    published: dict[str, list[tuple[str, float]]] = defaultdict(list)
    with open(tap / "trading-signals.jsonl", encoding="utf-8") as f:
        for line in f:
            s = json.loads(line)
            published[s["symbol"]].append((s["signal"], s["price"]))

    assert set(expected) == {"BTCUSDT"} and len(expected["BTCUSDT"]) > 1000
    assert dict(published) == dict(expected)
    indicator = summary["workers"]["indicator"]
    assert indicator["trades"] == indicator["points"] == core.counters.points
    assert {k: indicator[f"signals:{k}"] for k in core.counters.signals} == core.counters.signals
