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


@pytest.fixture
def api_keys(monkeypatch):
    """API keys in the environment, where the executor reads them (the values of broker_helpers.SECRETS)."""
    from broker_helpers import SECRETS

    monkeypatch.setenv("TUI_TRADER_API_KEY", SECRETS.api_key)
    monkeypatch.setenv("TUI_TRADER_API_SECRET", SECRETS.api_secret)
