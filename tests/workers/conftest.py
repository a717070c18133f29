"""Fixtures for the worker tests: a mock Binance on 127.0.0.1 and test API keys where the executor reads them."""

from __future__ import annotations

import pytest
from brokers.broker_helpers import SECRETS
from kit import MockBinance


@pytest.fixture
async def mock_binance():
    mock = MockBinance()
    await mock.start()
    try:
        yield mock
    finally:
        await mock.stop()


@pytest.fixture
def api_keys(monkeypatch):
    monkeypatch.setenv("TUI_TRADER_API_KEY", SECRETS.api_key)
    monkeypatch.setenv("TUI_TRADER_API_SECRET", SECRETS.api_secret)
