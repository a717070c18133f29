"""Fixtures for the broker tests: mock exchanges on 127.0.0.1 (see tests/net/)."""

from __future__ import annotations

import pytest

from net.mock_binance import MockBinance


@pytest.fixture
async def mock_binance():
    mock = MockBinance()
    await mock.start()
    try:
        yield mock
    finally:
        await mock.stop()
