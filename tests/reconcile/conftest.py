"""Fixtures for the reconciliation and live-pipeline tests: a mock Binance USD-M venue on 127.0.0.1."""

from __future__ import annotations

import pytest
from net.mock_binance import MockBinance


@pytest.fixture
async def mock():
    exchange = MockBinance()
    await exchange.start()
    try:
        yield exchange
    finally:
        await exchange.stop()
