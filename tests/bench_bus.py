"""Embedded bus throughput: one producer, one consumer, 200-byte values (not collected by pytest).

Run: python tests/bench_bus.py [--records N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from tui_trader.bus import EmbeddedBus, EmbeddedCluster, Start


async def bench(records: int, batch: int) -> dict:
    bus = EmbeddedBus(EmbeddedCluster(retention=max(records, 1000)))
    await bus.create_topics(["bench"])
    value = b"x" * 200
    sub = await bus.subscribe("bench", Start.BEGINNING)
    received = 0

    async def consume() -> None:
        nonlocal received
        async for _ in sub:
            received += 1
            if received == records:
                return

    consumer = asyncio.create_task(consume())
    start = time.perf_counter()
    for i in range(records):
        await bus.publish("bench", "BTCUSDT", value)
        if i % batch == batch - 1:
            await asyncio.sleep(0)  # let the consumer run, as a real producer awaiting I/O would
    await consumer
    elapsed = time.perf_counter() - start
    await bus.close()
    return {"records": records, "value_bytes": 200, "seconds": round(elapsed, 3),
            "records_per_s": round(records / elapsed)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--records", type=int, default=1_000_000)
    p.add_argument("--batch", type=int, default=1, help="publishes between yields to the consumer")
    args = p.parse_args()
    print(json.dumps(asyncio.run(bench(args.records, args.batch))))


if __name__ == "__main__":
    main()
