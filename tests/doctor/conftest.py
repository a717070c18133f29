"""Fixtures for the doctor tests: a loopback Binance venue (REST mock + websocket server playing real frames)."""

from __future__ import annotations

import pytest
from doctor_kit import Venue
from net.binance_ws_server import (
    BinanceWsServer,
    as_agg_trade,
    capture_frames,
    stream_of,
)
from net.mock_binance import MockBinance


@pytest.fixture
def venue_frames(btc_capture) -> list[str]:
    """Real BTCUSDT frames for both routed connections: bookTicker (/public) and aggTrade (/market)."""
    frames = capture_frames(btc_capture, limit=400)
    return frames + [as_agg_trade(f) for f in frames if stream_of(f).endswith("@trade")]


@pytest.fixture
async def venue(venue_frames, tmp_path):
    # Paced like a live feed, so a doctor run takes a few frames and the next run (a new connection, which
    # continues where the last one stopped) still has frames to get.
    async with MockBinance() as rest, BinanceWsServer(venue_frames, pace_s=0.005) as ws:
        yield Venue(rest, ws, tmp_path / "journal.sqlite3")
