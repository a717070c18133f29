"""Recording and replay for OKX and Bybit: `record` writes `<recv_ns> <raw frame>` lines from the venue's
connection, and a replay of that file publishes what the live collector read (the parser tells the venue by
each frame's envelope)."""

from __future__ import annotations

import asyncio
import gzip
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "feeds"))
from feedkit import Harness
from net.venue_ws_server import VenueWsServer

from tui_trader.commands.record import record
from venues.test_collectors import settings


@pytest.mark.parametrize("venue", ["okx", "bybit"])
async def test_a_recording_of_a_venue_replays_to_trades_books_and_marks(venue, tmp_path):
    out = tmp_path / f"{venue}.gz"
    conf = settings(venue, "")
    async with VenueWsServer(venue, start_ms=1_764_650_000_000) as server:
        conf = settings(venue, server.url)
        result = await asyncio.wait_for(record(conf, str(out), max_frames=400), 30)
    assert result["frames"] >= 400
    with gzip.open(out, "rt") as fh:
        lines = fh.read().splitlines()
    assert all(line.partition(" ")[0].isdigit() for line in lines)
    async with Harness(conf, replay_files=[out]) as h:
        await h.finished()
    kinds = {md.kind for md in h.market}
    assert kinds == {"trade", "book", "mark"}
    assert {md.exchange for md in h.market} == {venue}
    assert h.worker.parser.summary()["malformed"] == {}
