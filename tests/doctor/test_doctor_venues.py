"""The doctor's exchange checks on OKX and Bybit (loopback mocks): the same lines as on Binance.

OKX gives its leverage tiers in contracts; the doctor prices them (contract size × last price) before
comparing with `trading.max_position_size`, so the bracket found is the one the venue applies.
"""

from __future__ import annotations

import pytest
from doctor_kit import KEYS_ENV
from net.mock_bybit import MockBybit
from net.mock_okx import MockOkx

from tui_trader.doctor.report import render
from tui_trader.doctor.venue import check_exchange
from tui_trader.settings import Secrets, Settings, parse, to_dict

SECRETS = Secrets(
    api_key=KEYS_ENV["TUI_TRADER_API_KEY"], api_secret=KEYS_ENV["TUI_TRADER_API_SECRET"], api_password="DOCTORPASS-2468"
)
MOCKS = {"okx": MockOkx, "bybit": MockBybit}


def settings_for(name: str, url: str, **trading) -> Settings:
    data = to_dict(Settings())
    data["trading"].update(symbols=["BTCUSDT", "ETHUSDT"], paper_trading=False, **trading)
    data["exchange"].update(name=name, api_base_url=url, timeout_ms=2000)
    return parse(data)


@pytest.fixture(params=["okx", "bybit"])
async def mock(request):
    venue = MOCKS[request.param]()
    await venue.start()
    try:
        yield venue
    finally:
        await venue.stop()


async def lines(mock, **trading) -> dict[str, object]:
    checks = await check_exchange(settings_for(mock.name, mock.base_url, **trading), SECRETS, 2.0)
    text = render(checks)
    assert SECRETS.api_key not in text and SECRETS.api_secret not in text and SECRETS.api_password not in text
    return {c.name: c for c in checks}


async def test_all_exchange_checks_pass(mock):
    checks = await lines(mock)
    for name in ("exchange", "clock", "API keys", "position mode", "leverage"):
        assert checks[name].status == "ok", render(list(checks.values()))
    assert checks["leverage"].detail == (
        "10x allowed for a 1,000 USDT position: BTCUSDT up to 100x, ETHUSDT up to 100x"
    )


async def test_a_clock_two_seconds_off_warns(mock):
    mock.clock_offset_ms = 2000
    checks = await lines(mock)
    assert checks["clock"].status == "warn" and f"behind {mock.name}'s" in checks["clock"].detail


async def test_hedge_mode_fails(mock):
    if mock.name == "okx":
        mock.pos_mode = "long_short_mode"
    else:
        mock.hedge = True
    checks = await lines(mock)
    assert checks["position mode"].status == "fail"
    assert f"hedge (dual-side) mode is on at {mock.name}" in checks["position mode"].detail


async def test_leverage_above_the_tier_of_the_largest_position_fails(mock):
    # OKX BTC: 400,000 USDT = 667 contracts of 0.01 BTC at 60,000 → tier 501–1000 contracts (75x).
    # Bybit BTC: 3,000,000 USDT → the 2,000,000–4,000,000 risk limit (75x).
    size = 400_000.0 if mock.name == "okx" else 3_000_000.0
    checks = await lines(mock, leverage=100, max_position_size=size)
    lev = checks["leverage"]
    assert lev.status == "fail", lev
    assert lev.detail.startswith(f"BTCUSDT: at most 75x for a {size:,.0f} USDT position (bracket ")
    assert "trading.leverage is 100x" in lev.detail
    assert (await lines(mock, leverage=75, max_position_size=size))["leverage"].status == "ok"
