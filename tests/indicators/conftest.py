"""Fixtures for the indicator tests: the real captures, parsed once per session."""

from __future__ import annotations

import functools
from pathlib import Path

import indicator_captures as capture  # tests/indicators/indicator_captures.py (pytest puts this folder on sys.path)
import pytest


@functools.cache
def _trades(path: Path) -> tuple[tuple[str, float, int], ...]:
    return tuple(capture.trades(path))


@functools.cache
def _spot(path: Path) -> tuple[tuple[int, ...], tuple[float, ...]]:
    times, closes = capture.spot_closes(path)
    return tuple(times), tuple(closes)


@pytest.fixture(params=["btcusdt_20240808.gz", "ethusdt_20240808.gz"])
def capture_trades(request, shared_data) -> tuple[str, tuple[tuple[str, float, int], ...]]:
    """(file name, trades of a Binance USD-M capture: symbol, price, event time)."""
    return request.param, _trades(shared_data / "binance_usdm_ws" / request.param)


@pytest.fixture
def btc_trades(btc_capture) -> tuple[tuple[str, float, int], ...]:
    return _trades(btc_capture)


@pytest.fixture(params=["BTC_USDT-1m.json.gz", "ETH_USDT-1m.json.gz"])
def spot_klines(request, shared_data) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """(open times, closes) of 42,915 real 1-minute bars."""
    return _spot(shared_data / "binance_spot_1m" / request.param)
