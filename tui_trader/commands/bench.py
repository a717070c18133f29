"""`tui-trader bench`: the pipeline benchmark (see tui_trader/bench.py)."""

from __future__ import annotations

import argparse
import json
import os

from tui_trader import bench, logs


def run(args: argparse.Namespace) -> int:
    logs.setup(logs.paths.state_dir() / "bench.log")
    result = bench.run(args.file, args.symbols, args.messages, args.rate, args.ui)
    result["cpus"] = os.cpu_count()
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:>26}: {value}")
    return 0
