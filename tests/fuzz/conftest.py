"""Fixtures for the frame fuzz suite: slices of the real captures, read once per session."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from net.binance_ws_server import capture_frames


@functools.cache
def _frames(path: Path, limit: int) -> tuple[str, ...]:
    return tuple(capture_frames(path, limit=limit))


@pytest.fixture(scope="session")
def real_frames() -> tuple[str, ...]:
    """The first 3,000 trade and bookTicker frames of the BTC capture, then 1,000 of the ETH capture."""
    from tui_trader.paths import shared_data_dir

    data = shared_data_dir()
    if data is None:
        pytest.skip("real captures not found: set TUI_TRADER_DATA or place ../shared/data beside the checkout")
    ws = data / "binance_usdm_ws"
    return _frames(ws / "btcusdt_20240808.gz", 3000) + _frames(ws / "ethusdt_20240808.gz", 1000)
