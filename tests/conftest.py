"""Shared fixtures: an isolated home for every test (XDG dirs), and the shared real-data folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_trader import paths


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    """Point every XDG dir and the settings lookup at a fresh folder: tests never touch the user's files."""
    home = tmp_path_factory.mktemp("home")
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(var, str(home / var.lower()))
    for var in (
        "TUI_TRADER_CONFIG",
        "TUI_TRADER_API_KEY",
        "TUI_TRADER_API_SECRET",
        "TUI_TRADER_API_PASSWORD",
        "TUI_TRADER_NOTIFY_URLS",
    ):
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture
def shared_data() -> Path:
    """../shared/data (or $TUI_TRADER_DATA); tests that need real captures skip with the reason where absent."""
    data = paths.shared_data_dir()
    if data is None:
        pytest.skip("real captures not found: set TUI_TRADER_DATA or place ../shared/data beside the checkout")
    return data


@pytest.fixture
def btc_capture(shared_data) -> Path:
    return shared_data / "binance_usdm_ws" / "btcusdt_20240808.gz"


@pytest.fixture
async def mock_binance():
    """A mock Binance USD-M REST venue on 127.0.0.1 (tests/net/), stopped at the end of the test."""
    from kit import MockBinance

    mock = MockBinance()
    await mock.start()
    try:
        yield mock
    finally:
        await mock.stop()


@pytest.fixture
def api_keys(monkeypatch):
    """API keys in the environment, where the executor reads them (the values of brokers/broker_helpers.SECRETS)."""
    from brokers.broker_helpers import SECRETS

    monkeypatch.setenv("TUI_TRADER_API_KEY", SECRETS.api_key)
    monkeypatch.setenv("TUI_TRADER_API_SECRET", SECRETS.api_secret)
