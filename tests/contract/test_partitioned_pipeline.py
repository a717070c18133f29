"""The whole in-process pipeline on partitioned per-symbol topics: a replay gives the same signals, orders and
fills with `bus.partitions = 2` as with one partition, and the topics get the partition counts they should."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import msgspec

from tui_trader import messages as m
from tui_trader.bench import write_synthetic
from tui_trader.bus import EmbeddedBus, EmbeddedCluster
from tui_trader.bus.topics import create_pipeline_topics
from tui_trader.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
ID_FIELDS = {"id", "signal_id", "order_id", "exchange_order_id", "stop_loss_order_id", "take_profit_order_id"}


async def test_the_per_symbol_topics_get_the_partitions_setting_and_the_others_one():
    cluster = EmbeddedCluster()
    bus = EmbeddedBus(cluster)
    three = msgspec.structs.replace(Settings().bus, partitions=3, topic_prefix="p")
    await create_pipeline_topics(bus, three)
    counts = {name: len(t.parts) for name, t in cluster.topics.items()}
    assert counts == {m.topic_name(t, "p"): 3 if t in m.PARTITIONED_TOPICS else 1 for t in m.TOPICS}
    # A topic that exists keeps its count (another process created it first).
    await create_pipeline_topics(bus, msgspec.structs.replace(three, partitions=1))
    assert {name: len(t.parts) for name, t in cluster.topics.items()} == counts
    await bus.close()


def replay(tmp_path: Path, capture: Path, partitions: int) -> dict[str, list[dict]]:
    tap = tmp_path / f"tap{partitions}"
    proc = subprocess.run(
        [
            sys.executable, "-m", "tui_trader", "headless", "--config", str(ROOT / "settings.toml"),
            "--set", "indicators.bar=tick", "--set", f"bus.partitions={partitions}",
            "--replay", str(capture), "--speed", "max", "--tap", str(tap), "--json",
        ],
        capture_output=True, text=True, cwd=tmp_path, timeout=240,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = {}
    names: dict[str, str] = {}  # each id → the order it first appeared in (ids are new in every run)
    for base in (m.SIGNALS, m.ORDERS, m.ORDER_STATUS):
        with open(tap / f"{base}.jsonl", encoding="utf-8") as fh:
            out[base] = [
                {k: names.setdefault(v, f"#{len(names)}") if k in ID_FIELDS and v else v for k, v in rec.items()}
                for rec in map(json.loads, fh)
            ]
    return out


def test_a_replay_on_two_partitions_trades_exactly_as_on_one(tmp_path):
    capture = write_synthetic(tmp_path / "synthetic.gz", 5_000, SYMBOLS)
    one, two = replay(tmp_path, capture, 1), replay(tmp_path, capture, 2)
    assert len(one[m.SIGNALS]) > 50 and one[m.ORDERS], "the capture should make signals and orders"
    assert two == one
