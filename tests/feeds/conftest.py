"""Fixtures for the feed tests (helpers live in feedkit.py)."""

from __future__ import annotations

import pytest
from net.binance_ws_server import capture_frames


@pytest.fixture
def btc_frames(btc_capture) -> list[str]:
    """The first 3000 trade and bookTicker frames of the real BTC capture."""
    return capture_frames(btc_capture, limit=3000)
