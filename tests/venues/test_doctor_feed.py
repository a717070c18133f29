"""`doctor` checks the chosen venue's feed: frames from an OKX or Bybit server pass, a host that is not
the venue's (wrong path) fails with the reason."""

from __future__ import annotations

import pytest
from net.venue_ws_server import VenueWsServer

from tui_trader.doctor.feed import check_feed
from venues.test_collectors import settings


@pytest.mark.parametrize("venue", ["okx", "bybit"])
async def test_doctor_checks_the_chosen_venues_feed(venue):
    async with VenueWsServer(venue) as server:
        ok = await check_feed(settings(venue, server.url), timeout=10)
        assert ok.status == "ok", ok.detail
        assert ok.detail.startswith(f"{venue} {server.url}/")
        other = "bybit" if venue == "okx" else "okx"
        bad = await check_feed(settings(other, server.url), timeout=3)
    assert bad.status == "fail" and "404" in bad.detail
