"""Checks against the exchange's REST API: reachable, clock skew, keys, position mode, leverage brackets.

One ccxt client built like the live broker's (same hosts, demo mode and `exchange.api_base_url`), every
request bounded by the doctor's timeout. Reads only: nothing is placed, set or cancelled.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import ccxt.async_support as ccxt

from tui_trader.brokers.errors import describe
from tui_trader.brokers.venues import venue_for
from tui_trader.doctor import verdicts
from tui_trader.doctor.report import Check, Status
from tui_trader.exchange import create_exchange, unified_symbol
from tui_trader.settings import Secrets, Settings

T = TypeVar("T")

KEYS = "API keys"
NOT_REACHED = "not checked: the exchange's REST check failed"
KEYS_NEEDED = "not checked: needs working API keys (a signed read)"


def _network_cause(err: BaseException) -> str:
    """Why the connection failed ("Connection refused"), which ccxt's own message leaves out."""
    os_err = getattr(err.__cause__, "os_error", None)
    if not isinstance(os_err, OSError):
        return ""
    if isinstance(os_err.errno, int) and os_err.errno > 0:
        return os.strerror(os_err.errno)
    return os_err.strerror or str(os_err)


class _Venue:
    def __init__(self, settings: Settings, secrets: Secrets, timeout: float, factory: Callable[..., Any]) -> None:
        self.settings = settings
        self.xs = settings.exchange
        self.live = not settings.trading.paper_trading
        self.secrets = secrets
        self.secret_values = [s for s in (secrets.api_key, secrets.api_secret, secrets.api_password) if s]
        self.timeout = timeout
        # ccxt's own timeout below ours, so a slow answer surfaces as ccxt's RequestTimeout with the URL.
        timeout_ms = max(100, min(self.xs.timeout_ms, int(timeout * 1000)))
        self.ex = factory(self.xs, secrets if secrets.present else None, enableRateLimit=False, timeout=timeout_ms)

    async def bounded(self, call: Awaitable[T]) -> T:
        return await asyncio.wait_for(call, self.timeout)

    def why(self, err: BaseException) -> str:
        if isinstance(err, TimeoutError):
            return f"no answer within {self.timeout:g} s"
        text = describe(err, self.secret_values)
        cause = _network_cause(err)
        return f"{text}: {cause}" if cause else text

    @property
    def label(self) -> str:
        where = self.xs.api_base_url or "its public hosts"
        return f"{self.xs.name} ({'demo' if self.xs.demo else 'REAL MONEY'}) at {where}"

    async def reachable(self) -> tuple[Check, Check]:
        """The exchange line (REST answers, symbols listed) and the clock line."""
        try:
            await self.bounded(self.ex.load_markets())
            # Timed on a connection that is already open, so the round trip is one request, not a handshake.
            sent = time.time_ns()
            server_ms = await self.bounded(self.ex.fetch_time())
            back = time.time_ns()
        except (ccxt.BaseError, TimeoutError) as err:
            status: Status = "fail" if self.live else "warn"
            extra = "" if self.live else " (paper trading works without it; warm-up and symbol rules need it)"
            return (
                Check(name="exchange", status=status, detail=f"{self.label}: {self.why(err)}{extra}"),
                Check(name="clock", status="info", detail=NOT_REACHED),
            )
        round_trip_ms = (back - sent) / 1e6
        skew_ms = (sent + back) / 2e6 - float(server_ms)
        clock = verdicts.clock(self.xs.name, skew_ms, round_trip_ms)
        symbols = self.settings.trading.symbols
        missing = [s for s in symbols if unified_symbol(s) not in (self.ex.markets or {})]
        if missing:
            return (
                Check(
                    name="exchange",
                    status="fail" if self.live else "warn",
                    detail=f"{self.label} answers, but does not list {', '.join(missing)} (trading.symbols)",
                ),
                clock,
            )
        return (Check(name="exchange", status="ok", detail=f"{self.label} answers; {', '.join(symbols)} listed"), clock)

    async def keys(self) -> Check:
        if not self.secrets.present:
            if self.live:
                return Check(
                    name=KEYS,
                    status="fail",
                    detail="not set; live mode needs them (TUI_TRADER_API_KEY and TUI_TRADER_API_SECRET, "
                    "TUI_TRADER_API_PASSWORD for OKX, or the secrets file)",
                )
            return Check(name=KEYS, status="info", detail="not set (paper trading only)")
        try:
            balance = await self.bounded(self.ex.fetch_balance())
        except (ccxt.AuthenticationError, ccxt.PermissionDenied, ccxt.AccountSuspended) as err:
            return Check(name=KEYS, status="fail", detail=f"the exchange refused them: {self.why(err)}")
        except (ccxt.BaseError, TimeoutError) as err:
            return Check(name=KEYS, status="fail", detail=f"the signed read (balance) failed: {self.why(err)}")
        usdt = (balance or {}).get("USDT") or {}
        total, free = usdt.get("total"), usdt.get("free")
        seen = f"USDT {total:,.2f} total, {free:,.2f} free" if total is not None and free is not None else "no USDT"
        return Check(name=KEYS, status="ok", detail=f"a signed read worked ({seen})")

    async def position_mode(self) -> Check:
        # The live broker's own reading (its venue adapter, which CcxtBroker.position_mode wraps: Binance
        # dualSidePosition, OKX posMode, Bybit positionIdx), so the doctor and the broker's refusal of live
        # never disagree; on this client, so no second market load.
        usyms = [
            unified_symbol(s) for s in self.settings.trading.symbols if unified_symbol(s) in (self.ex.markets or {})
        ]
        try:
            mode = await self.bounded(venue_for(self.xs.name).position_mode(self.ex, usyms))
        except (ccxt.BaseError, TimeoutError) as err:
            return Check(
                name="position mode", status="fail" if self.live else "warn", detail=f"cannot read it: {self.why(err)}"
            )
        return verdicts.position_mode(self.xs.name, mode == "hedge", self.live)

    async def leverage(self, keys_ok: bool) -> Check:
        # Binance serves its brackets only to a signed request; OKX and Bybit publish theirs.
        if self.xs.name == "binanceusdm" and not keys_ok:
            return Check(
                name="leverage",
                status="info",
                detail=f"not checked: {self.xs.name}'s leverage brackets need working API keys",
            )
        symbols = [s for s in self.settings.trading.symbols if unified_symbol(s) in (self.ex.markets or {})]
        usyms = [unified_symbol(s) for s in symbols]
        try:
            if self.ex.has.get("fetchLeverageTiers"):
                raw = await self.bounded(self.ex.fetch_leverage_tiers(usyms))
            else:
                raw = {u: await self.bounded(self.ex.fetch_market_leverage_tiers(u)) for u in usyms}
        except (ccxt.BaseError, TimeoutError) as err:
            return Check(
                name="leverage",
                status="fail" if self.live else "warn",
                detail=f"cannot read the leverage brackets: {self.why(err)}",
            )
        tiers = {}
        for s, u in zip(symbols, usyms, strict=True):
            try:
                scale = await self.tier_scale(u)
            except (ccxt.BaseError, TimeoutError) as err:
                return Check(
                    name="leverage",
                    status="fail" if self.live else "warn",
                    detail=f"cannot price {s}'s leverage tiers: {self.why(err)}",
                )
            tiers[s] = [
                verdicts.Tier(
                    float(t.get("minNotional") or 0.0) * scale,
                    float(t.get("maxNotional") or 0.0) * scale,
                    float(t.get("maxLeverage") or 0.0),
                )
                for t in (raw.get(u) or [])
            ]
        trading = self.settings.trading
        return verdicts.leverage(tiers, trading.leverage, trading.max_position_size, self.live)

    async def tier_scale(self, usym: str) -> float:
        """USDT per unit of the tiers' sizes: 1 where ccxt gives notional (Binance, Bybit); OKX gives its tiers
        in contracts (minSz/maxSz, which ccxt passes on as minNotional/maxNotional), so contract size × price."""
        if self.xs.name != "okx":
            return 1.0
        size = float(self.ex.market(usym).get("contractSize") or 1.0)
        ticker = await self.bounded(self.ex.fetch_ticker(usym))
        return size * float(ticker.get("last") or ticker.get("close") or 0.0)

    async def close(self) -> None:
        await self.ex.close()


async def check_exchange(
    settings: Settings, secrets: Secrets, timeout: float, factory: Callable[..., Any] = create_exchange
) -> list[Check]:
    """The exchange, clock, API keys, position mode and leverage lines, in that order."""
    venue = _Venue(settings, secrets, timeout, factory)
    try:
        exchange, clock = await venue.reachable()
        if exchange.status != "ok" and clock.status == "info":
            keys = (await venue.keys()) if not secrets.present else Check(name=KEYS, status="info", detail=NOT_REACHED)
            return [
                exchange,
                clock,
                keys,
                Check(name="position mode", status="info", detail=NOT_REACHED),
                Check(name="leverage", status="info", detail=NOT_REACHED),
            ]
        keys = await venue.keys()
        keys_ok = keys.status == "ok"
        mode = (
            (await venue.position_mode()) if keys_ok else Check(name="position mode", status="info", detail=KEYS_NEEDED)
        )
        lev = await venue.leverage(keys_ok)
        return [exchange, clock, keys, mode, lev]
    finally:
        await venue.close()
