"""Requests to an exchange through ccxt: pacing after rate limits, retried reads, placements sent once.

TECH_BRIEF C5. A read that fails on the network (timeouts, 5xx, dropped links) is retried with a growing
pause. A rate limit (429/418) pauses every request for as long as the exchange asks (Retry-After). An order
placement is sent at most once per client id; if it fails ambiguously (anything on the network side but a
rate limit) the order is looked up by its client id before anything else: found, it is the answer; absent,
it never arrived (`NotPlaced`, not resent); the lookup failing too leaves the state unknown (`StateUnknown`).
Error texts are scrubbed of secrets before they go anywhere.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Awaitable, Callable

import ccxt.async_support as ccxt

from tui_trader import messages as m
from tui_trader.brokers.errors import describe, is_ambiguous, is_rate_limit, is_retryable_read, scrub
from tui_trader.brokers.venues import Venue

log = logging.getLogger(__name__)

READ_ATTEMPTS = 4
FIRST_BACKOFF_S = 0.5

Sleep = Callable[[float], Awaitable[None]]


class NotPlaced(Exception):
    """An ambiguous placement that the exchange does not know: it never arrived (and is not resent)."""


class StateUnknown(Exception):
    """An ambiguous placement whose lookup failed too: the order may or may not exist."""


class Requests:
    def __init__(self, exchange: str, venue: Venue, secrets: list[str], sleep: Sleep = asyncio.sleep) -> None:
        self.exchange = exchange
        self.venue = venue
        self.ex: Any = None  # the ccxt exchange, set once created
        self._secrets = secrets
        self._sleep = sleep
        self._pause_until = 0.0
        self.sent: set[str] = set()  # client ids sent to the exchange: never twice
        self.waits: list[float] = []  # every back-off pause taken (seconds)

    def text(self, err: BaseException) -> str:
        return scrub(str(err) or type(err).__name__, self._secrets)

    def describe(self, err: BaseException) -> str:
        return describe(err, self._secrets)

    async def call(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        delay = self._pause_until - time.monotonic()
        if delay > 0:
            until = self._pause_until
            self.waits.append(round(delay, 3))
            await self._sleep(delay)
            if self._pause_until == until:  # served: the pause is over
                self._pause_until = 0.0
        try:
            return await fn(*args)
        except ccxt.BaseError as err:
            if is_rate_limit(err):
                wait = self.retry_after(err)
                self._pause_until = max(self._pause_until, time.monotonic() + wait)
                log.warning("%s rate limit: pausing requests for %.1f s (%s)", self.exchange, wait, self.text(err))
            raise

    def retry_after(self, err: BaseException) -> float:
        headers = getattr(self.ex, "last_response_headers", None) or {}
        for key, value in headers.items():
            if key.lower() == "retry-after":
                try:
                    return max(0.0, float(value))
                except ValueError:
                    break
        return 60.0 if " 418 " in str(err) else 1.0  # 418 is an IP ban: back off hard

    async def read(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        """A read-only request, retried on network trouble with a growing pause."""
        backoff = FIRST_BACKOFF_S
        for attempt in range(READ_ATTEMPTS):
            try:
                return await self.call(fn, *args)
            except ccxt.BaseError as err:
                if not is_retryable_read(err) or attempt == READ_ATTEMPTS - 1:
                    raise
                if not is_rate_limit(err):  # a rate limit already set its own pause
                    log.info("%s read failed (%s); retry in %.1f s", self.exchange, self.text(err), backoff)
                    self.waits.append(backoff)
                    await self._sleep(backoff)
                    backoff *= 2
        raise AssertionError("unreachable")

    async def submit(self, usym: str, side: m.Side, amount: float, params: dict[str, Any], client_id: str,
                      trigger: bool = False) -> dict[str, Any]:
        """Place one order, once. An ambiguous failure is resolved by looking the client id up."""
        if client_id in self.sent:
            raise NotPlaced(f"duplicate: client order id {client_id} was already sent")
        self.sent.add(client_id)
        try:
            return await self.call(self.ex.create_order, usym, "market", side, amount, None, params)
        except ccxt.BaseError as err:
            if not is_ambiguous(err):
                raise
            log.warning("%s: placing %s is ambiguous (%s); looking it up", self.exchange, client_id, self.text(err))
            try:
                found = await self.read(self.venue.lookup, self.ex, usym, client_id, trigger)
            except ccxt.BaseError as lookup_err:
                raise StateUnknown(f"{self.describe(err)}; lookup failed too ({self.text(lookup_err)})") from None
            if found is None:
                raise NotPlaced(f"{self.describe(err)}; the exchange has no order {client_id}, not resent") from None
            return found
