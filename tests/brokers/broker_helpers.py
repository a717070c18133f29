"""Helpers for the broker tests: settings that point the desk at a mock, commands, a sleep recorder."""

from __future__ import annotations

from typing import Any

from tui_trader import messages as m
from tui_trader.settings import Secrets, Settings, parse, to_dict

# Values long enough for the log redaction; the tests check none of them ever shows up in a status.
SECRETS = Secrets(
    api_key="TESTKEY-0123456789abcdef", api_secret="TESTSECRET-fedcba9876543210", api_password="TESTPASS-2468"
)


def settings_for(url: str = "", *, name: str = "binanceusdm", paper: bool = True, **exchange: Any) -> Settings:
    data = to_dict(Settings())
    data["trading"]["paper_trading"] = paper
    data["exchange"].update(name=name, api_base_url=url, poll_s=0.05, timeout_ms=500, **exchange)
    return parse(data)


def command(
    *,
    symbol: str = "BTCUSDT",
    side: m.Side = "buy",
    quantity: float = 0.01,
    purpose: m.Purpose = "entry",
    stop_loss: float | None = None,
    take_profit: float | None = None,
    leverage: int = 10,
    mode: m.Mode = "paper",
    ts: int = 1,
    ref_price: float = 60_000.0,
    cid: str | None = None,
) -> m.OrderCommand:
    return m.OrderCommand(
        id=cid or m.new_id(),
        symbol=symbol,
        side=side,
        quantity=quantity,
        ref_price=ref_price,
        stop_loss=stop_loss,
        take_profit=take_profit,
        leverage=leverage,
        reduce_only=purpose != "entry",
        purpose=purpose,
        mode=mode,
        ts=ts,
    )


class SleepRecorder:
    """Stands in for asyncio.sleep inside a broker: records each pause and returns at once. `now` is the fake
    clock those pauses move (pass both to the broker: `sleep=rec, now=rec.now`)."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self.t = 1_000.0

    async def __call__(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.t += max(0.0, seconds)

    def now(self) -> float:
        return self.t


def fast_exchange(settings, secrets):
    """The production factory without ccxt's client-side throttle (the mock has no limits; tests stay fast)."""
    from tui_trader.exchange import create_exchange

    return create_exchange(settings, secrets, enableRateLimit=False)
