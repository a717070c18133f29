"""Backtest speed on the month of 1-minute BTC and ETH klines (not collected by pytest).

Two whole processes, each timed from outside (start-up, imports and file reading included):
- the command: `tui-trader backtest --data BTC…,ETH… --offline` at default settings (the live indicator, router
  and paper broker cores, bar by bar);
- the floor: the same two files read into arrays, TA-Lib's batch functions over the closes, and the scoring
  rules vectorised over every bar (signal kinds and change-emission), nothing else: what any implementation of
  this strategy has to pay at least. `python tests/bench_backtest.py --floor` runs only that.

Each is run `--runs` times (after one warm-up); the median wall time and the peak RSS are reported with the
ratio command/floor and the targets (≤ 3.3 s, ≤ 150 MB). On a shared machine, time the two commands in turn
(`tui-trader backtest --offline --data A,B` and `python tests/bench_backtest.py --floor`) so both see the same load.

Run: python tests/bench_backtest.py [--runs N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET_S = 3.3
TARGET_MB = 150.0
ROOT = Path(__file__).resolve().parent.parent


def month_files() -> list[Path]:
    env = os.environ.get("TUI_TRADER_DATA")
    data = Path(env) if env else ROOT.parent / "shared" / "data"
    files = [data / "binance_spot_1m" / f"{s}_USDT-1m.json.gz" for s in ("BTC", "ETH")]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        sys.exit(f"month of klines not found ({', '.join(missing)}): set TUI_TRADER_DATA")
    return files


def floor() -> int:
    """TA-Lib batch over both series plus vectorised scoring: the least work this strategy needs."""
    import msgspec
    import numpy as np

    from tui_trader.backtest.loaders import _read
    from tui_trader.indicators.engine import batch
    from tui_trader.indicators.scoring import Scorer
    from tui_trader.settings import Settings

    s = Settings()
    scorer = Scorer(s.indicators, s.trading.min_signal_strength)
    kinds = np.array([k or "" for k in scorer.kinds])
    signals = 0
    for path in month_files():
        rows = np.array(msgspec.json.decode(_read(path)), dtype=np.float64)
        close = np.ascontiguousarray(rows[:, 4])
        v = batch(s.indicators, close)
        mask = np.where(
            v["rsi"] < 30, 1, np.where(v["rsi"] < 40, 2, np.where(v["rsi"] > 70, 4, np.where(v["rsi"] > 60, 8, 0)))
        )
        mask |= np.where(v["macd"] > v["macd_signal"], 16, np.where(v["macd"] < v["macd_signal"], 32, 0))
        width = v["bb_upper"] - v["bb_lower"]
        with np.errstate(invalid="ignore", divide="ignore"):
            pct_b = (close - v["bb_lower"]) / width
        mask |= np.where(
            width > 0, np.where(pct_b <= scorer.near_band, 64, np.where(pct_b >= scorer.upper_band, 128, 0)), 0
        )
        mask |= np.where(v["sma_fast"] > v["sma_slow"], 256, np.where(v["sma_fast"] < v["sma_slow"], 512, 0))
        mask |= np.where(v["ema_fast"] > v["ema_slow"], 1024, np.where(v["ema_fast"] < v["ema_slow"], 2048, 0))
        ready = ~np.isnan(v["sma_slow"])
        kind = kinds[mask[ready]]
        changed = np.append(True, kind[1:] != kind[:-1]) & (kind != "")
        signals += int(changed.sum())
    print(f"floor: {signals} signals")
    return 0


def timed(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB of this child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    wall = time.perf_counter() - t0
    # ru_maxrss of children is the largest child so far: run the larger process first to read each right.
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(before, after) / 1024


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--floor", action="store_true", help="run only the floor computation (to time it as a whole process)"
    )
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    if args.floor:
        return floor()
    btc, eth = month_files()
    command = [sys.executable, "-m", "tui_trader", "backtest", "--offline", "--data", f"{btc},{eth}"]
    floor_cmd = [sys.executable, str(Path(__file__).resolve()), "--floor"]
    timed(command)  # warm-up (file cache, .pyc)
    runs = [timed(command) for _ in range(args.runs)]
    cmd_peak = max(r[1] for r in runs)
    floors = [timed(floor_cmd)[0] for _ in range(args.runs)]
    wall = statistics.median(r[0] for r in runs)
    floor_wall = statistics.median(floors)
    result = {
        "command": " ".join(command[1:]),
        "runs": args.runs,
        "backtest_s": round(wall, 3),
        "backtest_peak_mb": round(cmd_peak, 1),
        "floor_s": round(floor_wall, 3),
        "ratio": round(wall / floor_wall, 2),
        "target_s": TARGET_S,
        "target_mb": TARGET_MB,
        "within_targets": wall <= TARGET_S and cmd_peak <= TARGET_MB,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"backtest (whole command, median of {args.runs}): {wall:.2f} s, peak {cmd_peak:.0f} MB "
            f"(targets {TARGET_S} s, {TARGET_MB:.0f} MB)"
        )
        print(f"floor (TA-Lib batch + scoring, whole process): {floor_wall:.2f} s; ratio {wall / floor_wall:.1f}×")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
