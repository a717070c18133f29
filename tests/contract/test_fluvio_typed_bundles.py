"""Bundles of a topic of known type on Fluvio are decoded whole, in one typed call, by the reader: each
record then carries its typed message, so a consumer decodes nothing more. A bundle holding a malformed
message is handed out as bytes instead, so the consumer counts exactly the malformed one and still gets the
others. On the embedded bus the same messages come out the same."""

from __future__ import annotations

import asyncio

import pytest

from tui_trader import messages as m
from tui_trader.bus import Record, Start


def trade(i: int) -> m.MarketData:
    t = 1_700_000_000_000 + i
    return m.MarketData(symbol="ETHUSDT", kind="trade", price=2500.0 + i, volume=0.1, event_time=t, recv_time=t, ts=t)


async def read(sub, n: int, timeout: float = 30.0) -> list[Record]:
    out: list[Record] = []

    async def _read() -> None:
        while len(out) < n:
            out.extend(sub.take_ready(n - len(out)) or [await sub.__anext__()])

    try:
        await asyncio.wait_for(_read(), timeout)
    except TimeoutError:
        pytest.fail(f"{len(out)} of {n} messages within {timeout:g} s")
    return out


def as_consumed(records: list[Record], decoder: m.Decoder) -> list[m.MarketData | None]:
    """What Worker.consume makes of each record: its typed message, or the decoded bytes (None: malformed)."""
    out = []
    for rec in records:
        msg = rec.msg
        if type(msg) is not m.MarketData:
            msg = decoder.decode_record(rec.topic, rec.value, rec.offset, m.MARKET_DATA)
        out.append(msg)  # type: ignore[arg-type]
    return out


async def test_market_data_bundles_reach_a_reader_typed_and_a_malformed_message_is_counted_alone(backend):
    bus = await backend.connect()
    topic = f"{backend.topic('typed')}-{m.MARKET_DATA}"  # named as the desk names market data (any prefix)
    backend.topics.append(topic)
    await bus.create_topics([topic])
    good = [trade(i) for i in range(40)]
    await bus.publish_bundled(topic, [("ETHUSDT", m.encode(x)) for x in good])
    spoiled = [
        m.encode(trade(100)),
        b'{"symbol":"ETHUSDT","kind":"trade","price":"not a number"}',
        m.encode(trade(101)),
    ]
    await bus.publish_bundled(topic, [("ETHUSDT", v) for v in spoiled])
    sub = await bus.subscribe(topic, Start.BEGINNING)
    try:
        got = await read(sub, 43)
    finally:
        await sub.close()
    decoder = m.Decoder()
    assert as_consumed(got, decoder) == [*good, trade(100), None, trade(101)]
    assert decoder.malformed == {topic: 1}
    if backend.kind == "fluvio":
        assert all(type(rec.msg) is m.MarketData for rec in got[:40])  # decoded by the reader, in one call
        assert all(rec.msg is None for rec in got[40:])  # the spoiled bundle: bytes, decoded one by one
