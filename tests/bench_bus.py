"""Bus throughput: one producer, one consumer, 200-byte values (not collected by pytest).

Run: python tests/bench_bus.py [--records N] [--batch N]
     python tests/bench_bus.py --worker [--records N] [--batch N]
     python tests/bench_bus.py --backend fluvio --endpoint 127.0.0.1:9003 [--records N] [--publish-batch N]

Embedded: `--batch` publishes between yields to the consumer. `--worker`: the in-process path the pipeline
takes, market-data messages published by a worker (`Worker.publish`, typed) and read by another
(`Worker.consume`), so encoding and decoding are counted where a bus version does them. Fluvio: against a real cluster, a fresh topic
(deleted at the end); `--publish-batch 1` publishes one record at a time (`publish`: a flush and a round-trip
for each offset), more sends that many per `publish_many` request. The figure is records/s from the first
publish to the consumer reading the last record.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid

from tui_trader.bus import Bus, EmbeddedBus, EmbeddedCluster, Start


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
    return {
        "backend": "embedded",
        "records": records,
        "value_bytes": 200,
        "seconds": round(elapsed, 3),
        "records_per_s": round(records / elapsed),
    }


async def bench_fluvio(endpoint: str, records: int, publish_batch: int, timeout: float = 120) -> dict:
    from tui_trader.bus.fluvio_bus import FluvioBus

    bus: Bus = await FluvioBus(endpoint, connect_timeout_s=10).connect()
    topic = f"bench-{uuid.uuid4().hex[:10]}"
    await bus.create_topics([topic])
    value = b"x" * 200
    try:
        sub = await bus.subscribe(topic, Start.BEGINNING)
        received = 0

        async def consume() -> None:
            nonlocal received
            async for _ in sub:
                received += 1
                if received == records:
                    return

        consumer = asyncio.create_task(consume())
        start = time.perf_counter()
        if publish_batch <= 1:
            for _ in range(records):
                await bus.publish(topic, "BTCUSDT", value)
        else:
            for first in range(0, records, publish_batch):
                n = min(publish_batch, records - first)
                await bus.publish_many(topic, [("BTCUSDT", value)] * n)
        published = time.perf_counter() - start
        try:
            await asyncio.wait_for(consumer, timeout)
        except TimeoutError:
            raise SystemExit(f"the consumer read {received} of {records} records in {timeout} s") from None
        elapsed = time.perf_counter() - start
    finally:
        await bus.close()
        _delete(endpoint, topic)
    return {
        "backend": "fluvio",
        "publish_batch": publish_batch,
        "records": records,
        "value_bytes": 200,
        "publish_records_per_s": round(records / published),
        "seconds": round(elapsed, 3),
        "records_per_s": round(records / elapsed),
    }


async def bench_worker(records: int, batch: int) -> dict:
    """Typed market data from one worker to another over the embedded bus, as the pipeline passes it."""
    from tui_trader import messages as m
    from tui_trader.clock import FixedClock
    from tui_trader.settings import Settings
    from tui_trader.workers.base import Worker, WorkerContext

    class Reader(Worker):
        name = "bench"

        async def run(self) -> None:
            n = 0
            async for _rec, _msg in self.consume(m.MARKET_DATA, Start.BEGINNING):
                n += 1
                if n == records:
                    return

    bus = EmbeddedBus(EmbeddedCluster(retention=20_000))
    await bus.create_topics([m.MARKET_DATA])
    ctx = WorkerContext(settings=Settings(), bus=bus, clock=FixedClock(0), lockstep=False)
    writer, reader = Reader(ctx), Reader(ctx)
    msgs = [
        m.MarketData(symbol="BTCUSDT", kind="trade", price=60_000.0 + i % 100, volume=0.01, bid=59_999.9,
                     bid_qty=1.0, ask=60_000.1, ask_qty=1.0, event_time=i, recv_time=i, ts=i)
        for i in range(1000)
    ]  # fmt: skip
    consumer = asyncio.create_task(reader.run())
    await asyncio.sleep(0)
    start = time.perf_counter()
    for i in range(records):
        await writer.publish(m.MARKET_DATA, "BTCUSDT", msgs[i % 1000])
        if i % batch == batch - 1:
            await asyncio.sleep(0)
    await consumer
    elapsed = time.perf_counter() - start
    await bus.close()
    return {"backend": "embedded", "path": "worker", "records": records, "seconds": round(elapsed, 3),
            "records_per_s": round(records / elapsed)}  # fmt: skip


def _delete(endpoint: str, topic: str) -> None:
    import fluvio

    fluvio.FluvioAdmin.connect_with_config(fluvio.FluvioConfig.new(endpoint)).delete_topic(topic)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--backend", choices=["embedded", "fluvio"], default="embedded")
    p.add_argument("--endpoint", default="127.0.0.1:9003", help="Fluvio SC address (--backend fluvio)")
    p.add_argument("--records", type=int, default=None, help="default 1,000,000 embedded, 20,000 fluvio")
    p.add_argument("--batch", type=int, default=1, help="embedded: publishes between yields to the consumer")
    p.add_argument("--worker", action="store_true", help="embedded: typed market data, Worker.publish → consume")
    p.add_argument("--publish-batch", type=int, default=1, help="fluvio: records per publish_many (1 = publish)")
    args = p.parse_args()
    if args.backend == "fluvio":
        out = asyncio.run(bench_fluvio(args.endpoint, args.records or 20_000, args.publish_batch))
    elif args.worker:
        out = asyncio.run(bench_worker(args.records or 300_000, args.batch))
    else:
        out = asyncio.run(bench(args.records or 1_000_000, args.batch))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
