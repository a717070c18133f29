"""`worker collector` on a real Fluvio cluster, fed by the loopback Binance server sending the BTC and ETH
captures of 2024-08-08 (trade and bookTicker frames) as fast as it can: how many messages reach the market-data
topic, what the collector conflated or lost, and its receipt → publish lag (not collected by pytest).

The cluster: `FLUVIO_BIN=../shared/bin FLUVIO_LOCAL_DIR=/tmp/flv scripts/fluvio-local.sh start`, then
`TUI_TRADER_FLUVIO=127.0.0.1:9003 python tests/feeds/bench_feed_burst.py`. The topics it creates (a prefix of
its own) are deleted at the end.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

import msgspec

sys.path[:0] = [str(Path(__file__).parents[1]), str(Path(__file__).parents[1] / "contract")]

from fluvio_kit import FLUVIO, delete_fluvio_topics  # noqa: E402
from kit import until  # noqa: E402
from net.binance_ws_server import BinanceWsServer, capture_frames  # noqa: E402

from tui_trader import messages as m  # noqa: E402
from tui_trader.bus.base import Start  # noqa: E402
from tui_trader.bus.fluvio_bus import FluvioBus  # noqa: E402
from tui_trader.paths import shared_data_dir  # noqa: E402

SETTLED_S = 3.0  # the topic's end has not moved for this long: the collector is done


async def main() -> dict:
    if not FLUVIO:
        raise SystemExit("set TUI_TRADER_FLUVIO to a running cluster (scripts/fluvio-local.sh start)")
    data = shared_data_dir()
    if data is None:
        raise SystemExit("../shared/data not found")
    captures = data / "binance_usdm_ws"
    frames = capture_frames(captures / "btcusdt_20240808.gz") + capture_frames(captures / "ethusdt_20240808.gz")
    trades = sum('@trade"' in f for f in frames)
    prefix = f"burst{os.getpid()}"
    out: dict = {"frames": len(frames), "trades": trades, "books": len(frames) - trades}
    bus = await FluvioBus(FLUVIO, offsets_topic=m.topic_name("trading-consumer-offsets", prefix)).connect()
    proc = None
    try:
        async with BinanceWsServer(frames) as server:
            sets = [
                "bus.backend=fluvio",
                f"bus.fluvio_endpoint={FLUVIO}",
                f"bus.topic_prefix={prefix}",
                f"feed.ws_base_url={server.url}",
                "feed.trade_stream=trade",
                "feed.marks=false",
            ]
            cmd = [sys.executable, "-m", "tui_trader", "worker", "collector"]
            cmd += [arg for s in sets for arg in ("--set", s)]
            proc = await asyncio.create_subprocess_exec(
                *cmd, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
            )
            start = time.monotonic()
            await until(lambda: sum(c.sent for c in server.connections) >= len(frames), "every frame sent", 300)
            out["server_sent_s"] = round(time.monotonic() - start, 1)
            topic = m.topic_name(m.MARKET_DATA, prefix)
            last, still = -1, time.monotonic()
            while time.monotonic() - still < SETTLED_S and time.monotonic() - start < 400:
                end = await bus.end_offset(topic)
                if end != last:
                    last, still = end, time.monotonic()
                await asyncio.sleep(0.2)
            out["records"] = last
            out["done_s"] = round(still - start, 1)
            out.update(await collector_health(bus, prefix))
    finally:
        if proc is not None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        await bus.close()
        delete_fluvio_topics([m.topic_name(t, prefix) for t in (*m.TOPICS, "trading-consumer-offsets")])
    return out


async def collector_health(bus: FluvioBus, prefix: str) -> dict:
    """The collector's last own account: published, conflated and lost counts, and the publish lag."""
    sub = await bus.subscribe(m.topic_name(m.HEALTH, prefix), Start.BEGINNING, tracked=False)
    last: dict[str, m.Health] = {}

    async def read() -> None:
        async for rec in sub:
            h = msgspec.json.decode(rec.value, type=m.Health)
            last[h.component] = h

    try:
        await asyncio.wait_for(read(), 5)
    except TimeoutError:
        pass
    finally:
        await sub.close()
    keep = ("published", "conflated", "lost", "lag", "waiting")
    coll = last.get("collector")
    gaps = last.get("feed:gaps")
    return {
        "collector": {k: v for k, v in coll.counters.items() if k.startswith(keep)} if coll else None,
        "gaps": gaps.detail if gaps else "none",
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main()), indent=2))
