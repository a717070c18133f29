"""The loopback servers that stand in for the exchanges (they live in tests/net/; this names them in one place).

REST: MockBinance, MockOkx, MockBybit (`async with MockBinance() as ex:` → `ex.url`); websockets:
BinanceWsServer (Binance's combined streams, replaying real frames) and VenueWsServer (OKX/Bybit), both on
LoopbackWsServer (a free port on 127.0.0.1, stopped on exit, waits for clients).
"""

from __future__ import annotations

from net.binance_ws_server import BinanceWsServer
from net.mock_binance import MockBinance
from net.mock_bybit import MockBybit
from net.mock_http import Call, Failure, MockExchange
from net.mock_okx import MockOkx
from net.venue_ws_server import VenueWsServer
from net.ws_server import LoopbackWsServer

__all__ = [
    "BinanceWsServer",
    "Call",
    "Failure",
    "LoopbackWsServer",
    "MockBinance",
    "MockBybit",
    "MockExchange",
    "MockOkx",
    "VenueWsServer",
]
