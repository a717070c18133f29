"""The shared test kit: `from kit import until, Harness, Tap, MockBinance…` from any test folder.

tests/ is on sys.path for every test (pytest's prepend import mode puts the folder of tests/conftest.py
there), so `kit` and the loopback servers' package `net` import by name everywhere.

- `until(condition, what, timeout)`: a bounded wait on a condition (kit/wait.py).
- `Harness`, `Tap`: workers on their own embedded bus with every topic tapped (kit/harness.py).
- the mock venues: REST and websocket servers on 127.0.0.1 (kit/venues.py, from tests/net/).
- `closed_port()`: a local port where nothing listens, to point a client at instead of the internet.
"""

from __future__ import annotations

from kit.harness import Harness, Tap
from kit.ports import closed_port
from kit.venues import (
    BinanceWsServer,
    Call,
    Failure,
    LoopbackWsServer,
    MockBinance,
    MockBybit,
    MockExchange,
    MockOkx,
    VenueWsServer,
)
from kit.wait import POLL_S, WAIT_S, until

__all__ = [
    "POLL_S",
    "WAIT_S",
    "BinanceWsServer",
    "Call",
    "Failure",
    "Harness",
    "LoopbackWsServer",
    "MockBinance",
    "MockBybit",
    "MockExchange",
    "MockOkx",
    "Tap",
    "VenueWsServer",
    "closed_port",
    "until",
]
