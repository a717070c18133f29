"""Crash safety: kill -9 the headless replay at random points, restart on the same data, and the desk ends
where an uninterrupted run ends, having executed no command twice. The data is the real BTC capture up to
just after its tenth command (its first 64,000 of 93,954 lines): the kill points need no more, and every
run replays it from the start."""

from __future__ import annotations

import gzip
import json
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_S = 180
LINES = 64_000  # ten commands (five entries, five closes) in tick mode, then a few seconds of market


def settings_file(tmp_path: Path, journal: Path | None) -> Path:
    text = (ROOT / "settings.toml").read_text().replace('bar = "1m"', 'bar = "tick"')
    if journal is not None:
        text = text.replace('[journal]\npath = ""', f'[journal]\npath = "{journal}"')
    conf = tmp_path / f"settings-{journal.stem if journal else 'memory'}.toml"
    conf.write_text(text)
    return conf


def headless(conf: Path, capture: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tui_trader",
        "headless",
        "--config",
        str(conf),
        "--replay",
        str(capture),
        "--speed",
        "max",
        "--json",
    ]


def run_to_end(conf: Path, capture: Path) -> dict:
    run = subprocess.run(headless(conf, capture), capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout)


def executed(journal: Path) -> int:
    """Commands the journal records as executed (read while the desk writes: WAL allows it)."""
    if not journal.exists():
        return 0
    try:
        db = sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=5)
        try:
            return db.execute("SELECT COUNT(*) FROM commands WHERE executed = 1").fetchone()[0]
        finally:
            db.close()
    except sqlite3.OperationalError:  # the schema is being created right now
        return 0


def kill_after(conf: Path, capture: Path, journal: Path, commands: int) -> None:
    """Start the replay and kill -9 it as soon as `commands` commands are journaled as executed."""
    proc = subprocess.Popen(headless(conf, capture), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while proc.poll() is None and executed(journal) < commands and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proc.poll() is None, "the replay finished before the kill point"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        proc.stderr.close()


def outcome(summary: dict) -> dict:
    router = summary["workers"]["router"]
    return {
        "positions": router["positions"],
        "realized_pnl": router["realized_pnl"],
        "fees": router["fees"],
        "equity": router["equity"],
        "balance": summary["workers"]["executor"]["final_balance"],
    }


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, shared_data_module):
    tmp = tmp_path_factory.mktemp("baseline")
    capture = tmp / "btcusdt_head.gz"
    with (
        gzip.open(shared_data_module / "binance_usdm_ws" / "btcusdt_20240808.gz", "rb") as src,
        gzip.open(capture, "wb", compresslevel=1) as dst,
    ):
        for _, line in zip(range(LINES), src, strict=False):
            dst.write(line)
    summary = run_to_end(settings_file(tmp, None), capture)
    assert summary["workers"]["executor"]["commands"] >= 6, "the capture must trade for this test to mean anything"
    return capture, summary


@pytest.fixture(scope="module")
def shared_data_module():
    from tui_trader import paths

    data = paths.shared_data_dir()
    if data is None:
        pytest.skip("real captures not found: set TUI_TRADER_DATA or place ../shared/data beside the checkout")
    return data


# Kill points as the number of commands already executed; one case dies twice before finishing.
KILL_PLAN = [[1], [random.Random(8).randint(2, 10)], [3, 9]]


@pytest.mark.parametrize("kills", KILL_PLAN, ids=lambda k: "kill-after-" + "-and-".join(map(str, k)))
def test_killed_and_restarted_replay_ends_like_an_uninterrupted_one(tmp_path, uninterrupted, kills):
    capture, baseline = uninterrupted
    journal = tmp_path / "journal.sqlite3"
    conf = settings_file(tmp_path, journal)
    for n in kills:
        kill_after(conf, capture, journal, n)
        assert executed(journal) >= n
    final = run_to_end(conf, capture)
    assert outcome(final) == outcome(baseline)
    assert final["workers"]["executor"]["redelivered"] >= kills[-1]  # answered from the journal, not executed
    db = sqlite3.connect(journal)
    try:
        completions = dict(db.execute("SELECT id, completions FROM commands"))
        unpublished = db.execute("SELECT COUNT(*) FROM statuses WHERE published = 0").fetchone()[0]
    finally:
        db.close()
    assert completions and max(completions.values()) == 1, "a command was executed twice"
    assert len(completions) == baseline["workers"]["executor"]["commands"]
    assert unpublished == 0
