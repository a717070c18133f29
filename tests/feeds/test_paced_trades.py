"""A paced replay hands each trade on at once: consumers see it before the frames already due behind it
(receipt → signal at a paced rate does not wait for a batch of book frames to be parsed and published)."""

from __future__ import annotations

import asyncio
import json

from feedkit import Harness, make_settings
from test_replay import trade, write_recording

from tui_trader import messages as m
from tui_trader.bus import Start


def book(update: int, event_ms: int) -> str:
    data = {"e": "bookTicker", "u": update, "s": "BTCUSDT", "b": "100.0", "B": "1", "a": "100.1", "A": "1"}
    return json.dumps({"stream": "btcusdt@bookTicker", "data": {**data, "T": event_ms, "E": event_ms}})


async def test_a_paced_trade_reaches_its_consumer_before_the_frames_due_behind_it(tmp_path):
    # One warm-up trade, then (1 s of event time later, 10 ms at speed 100) a trade with 400 book frames at its
    # own event time: all due at once.
    t0 = 1_723_161_256_000
    frames = [trade("BTCUSDT", 1, "100", t0), trade("BTCUSDT", 2, "100", t0 + 1000)]
    frames += [book(10 + i, t0 + 1000) for i in range(400)]
    path = write_recording(tmp_path / "burst.gz", frames)
    behind: list[int] = []  # records published after the trade by the time its consumer held it

    async with Harness(make_settings(), replay_files=[path], speed=100.0, lockstep=False) as h:
        topic = h.ctx.topic(m.MARKET_DATA)
        sub = await h.bus.subscribe(topic, Start.BEGINNING)

        async def consume() -> None:
            async for rec in sub:
                msg = rec.msg  # in process: the typed message the collector published
                assert isinstance(msg, m.MarketData)
                if msg.kind == "trade" and msg.event_time == t0 + 1000:
                    behind.append(await h.bus.end_offset(topic) - rec.offset - 1)
                    return

        reader = asyncio.create_task(consume())
        await h.finished()
        await asyncio.wait_for(reader, 10)
        await sub.close()
    assert behind == [0], f"{behind[0]} frames were published before the trade's consumer ran"
