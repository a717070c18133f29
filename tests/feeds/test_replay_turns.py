"""A replay never holds the event loop through a long run of frames that give no record (the streams of symbols
not configured, depth updates): the loop turns while the collector goes through them, so the desk draws and
the kill key is read meanwhile, however the recording is made."""

from __future__ import annotations

import asyncio

import pytest
from feedkit import Harness, make_settings
from test_replay import trade, write_recording

T0 = 1_723_161_256_000
SKIPPED = 30_000  # ETHUSDT trades, in a replay configured for BTCUSDT alone


@pytest.mark.parametrize(("speed", "lockstep"), [(None, False), (None, True), (1_000_000.0, False)])
async def test_a_long_run_of_frames_that_give_nothing_lets_the_loop_turn(tmp_path, speed, lockstep):
    frames = [trade("BTCUSDT", 1, "60000", T0)]
    frames += [trade("ETHUSDT", i, "2600", T0 + i) for i in range(1, SKIPPED + 1)]
    frames += [trade("BTCUSDT", 2, "60000", T0 + SKIPPED + 1)]
    path = write_recording(tmp_path / "mostly_other_symbol.gz", frames)
    turns: list[int] = []  # frames the parser had read, at each turn of the loop

    async with Harness(make_settings(), replay_files=[path], speed=speed, lockstep=lockstep) as h:
        parser = h.worker.parser

        async def ticker() -> None:
            while True:
                turns.append(parser.frames)
                await asyncio.sleep(0)

        ticking = asyncio.create_task(ticker())
        await h.finished()
        ticking.cancel()
    assert [md.symbol for md in h.market] == ["BTCUSDT", "BTCUSDT"]
    within = sorted({n for n in turns if 1 < n < SKIPPED})
    assert len(within) >= SKIPPED // 5_000, f"the loop turned {len(within)} times in {SKIPPED:,} skipped frames"
