"""Requests to an exchange through ccxt: pacing after rate limits, retried reads, placements sent once.

ccxt's `NetworkError` family is retryable, `ExchangeError` is not. A read that fails on the network
(timeouts, 5xx, dropped links) is retried with a growing pause. A rate limit (429/418) pauses every request
for as long as the exchange asks (Retry-After); a placement refused that way never reached the matching
engine (`RetryLater`: the same client id may go again).
An order placement is sent at most once per client id; if it fails ambiguously (timeouts, 5xx, Binance -1001,
a dropped link) the order may still execute later — a loaded venue can take seconds — but never after the
request's own expiry (Binance: its timestamp + recvWindow, sent explicitly with every signed request). So it
is looked up by client id, again and again, until that expiry has passed: found, it is the answer; still
absent after the expiry, it can no longer execute (`NotPlaced`, not resent); no certain answer by then
(the lookups fail too) leaves the state unknown (`StateUnknown`). Error texts are scrubbed of secrets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import ccxt.async_support as ccxt

from tui_trader import messages as m
from tui_trader.brokers.errors import describe, is_ambiguous, is_rate_limit, is_retryable_read, scrub
from tui_trader.brokers.venues import Venue

log = logging.getLogger(__name__)

READ_ATTEMPTS = 4
FIRST_BACKOFF_S = 0.5
RECV_WINDOW_S = 10.0  # Binance recvWindow (ccxt's default), set explicitly on the exchange
LOOKUP_EVERY_S = 0.5  # an ambiguous placement is looked up this often until its window has passed
CLOCK_MARGIN_S = 1.0  # the venue's clock may run behind ours: wait this much past the window

Sleep = Callable[[float], Awaitable[None]]


class NotPlaced(Exception):
    """An ambiguous placement that the exchange does not know: it never arrived (and is not resent)."""


class StateUnknown(Exception):
    """An ambiguous placement whose lookups failed until its window passed: the order may or may not exist."""


class RetryLater(Exception):
    """The venue refused a placement for its rate limit before processing it: send it again after `wait` s."""

    def __init__(self, text: str, wait: float) -> None:
        super().__init__(text)
        self.wait = wait


class Requests:
    def __init__(
        self,
        exchange: str,
        venue: Venue,
        secrets: list[str],
        sleep: Sleep = asyncio.sleep,
        now: Callable[[], float] = time.monotonic,
        recv_window_s: float = RECV_WINDOW_S,
    ) -> None:
        self.exchange = exchange
        self.now = now  # the clock the lookups' deadline is measured on (a test's fake clock with its fake sleep)
        self.recv_window_s = recv_window_s
        self.venue = venue
        self.ex: Any = None  # the ccxt exchange, set once created
        self._secrets = secrets
        self._sleep = sleep
        self._pause_until = 0.0
        self.sent: set[str] = set()  # client ids sent to the exchange: never twice
        self.sent_at: dict[str, float] = {}  # when each was sent (on `now`), for its expiry
        self.waits: list[float] = []  # every back-off pause taken (seconds)
        # Wraps the lookups of an ambiguous placement (up to its window, ~11 s): the broker lets its other
        # operations (a close of another symbol, a poll) run meanwhile. Given the unified symbol.
        self.outside: Callable[[str], contextlib.AbstractAsyncContextManager[None]] = _nothing

    def text(self, err: BaseException) -> str:
        return scrub(str(err) or type(err).__name__, self._secrets)

    def describe(self, err: BaseException) -> str:
        return describe(err, self._secrets)

    async def call(self, fn: Callable[..., Awaitable[Any]], *args: Any, urgent: bool = False) -> Any:
        """One request, after any rate-limit pause in force. `urgent` (closing a position that cannot be
        protected) goes at once: waiting out the pause would leave it naked longer than the grace, and a
        refusal costs only a retry."""
        delay = self._pause_until - time.monotonic()
        if delay > 0 and not urgent:
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

    async def submit(
        self,
        usym: str,
        side: m.Side,
        amount: float,
        params: dict[str, Any],
        client_id: str,
        trigger: bool = False,
        window_s: float | None = None,
        urgent: bool = False,
    ) -> dict[str, Any]:
        """Place one order, once. An ambiguous failure is resolved by looking the client id up until the
        request can no longer execute (`window_s`: a shorter expiry for this request, sent with it)."""
        if client_id in self.sent:
            raise NotPlaced(f"duplicate: client order id {client_id} was already sent")
        self.sent.add(client_id)
        sent_at = self.sent_at[client_id] = self.now()
        window = self.recv_window_s
        if window_s is not None and self.venue.expiring_requests:
            window = min(window, window_s)
            params = {**params, "recvWindow": max(1, int(window * 1000))}
        try:
            return await self.call(self.ex.create_order, usym, "market", side, amount, None, params, urgent=urgent)
        except ccxt.BaseError as err:
            if is_rate_limit(err):
                self.sent.discard(client_id)  # refused before processing: the same id may go again
                raise RetryLater(self.describe(err), self.retry_after(err)) from None
            if not is_ambiguous(err):
                raise
            log.warning(
                "%s: placing %s is ambiguous (%s); looking it up until its %.0f s window has passed",
                self.exchange,
                client_id,
                self.text(err),
                self.recv_window_s,
            )
            async with self.outside(usym):
                return await self._settle(usym, client_id, trigger, sent_at, window, self.describe(err))

    async def _settle(
        self, usym: str, client_id: str, trigger: bool, sent_at: float, window: float, why: str
    ) -> dict[str, Any]:
        deadline = sent_at + window + CLOCK_MARGIN_S
        last_failure = ""
        while True:
            past = self.now() > deadline  # taken before the lookup: an absent answer after it is final
            try:
                found = await self.read(self.venue.lookup, self.ex, usym, client_id, trigger)
            except ccxt.BaseError as lookup_err:
                found, last_failure = None, self.text(lookup_err)
            else:
                if found is not None:
                    return found
                last_failure = ""
            if past:
                if last_failure:
                    raise StateUnknown(f"{why}; lookups failed until its window passed ({last_failure})")
                raise NotPlaced(
                    f"{why}; the exchange has no order {client_id} and it can no longer execute "
                    f"(its {window:g} s window has passed), not resent"
                )
            await self._sleep(LOOKUP_EVERY_S)

    async def resolve(self, usym: str, client_id: str, trigger: bool, sent_at: float) -> dict[str, Any] | None:
        """One more look at an order whose outcome was unknown: the order, None when the venue says for
        certain it has none and the window has passed; raises StateUnknown while it still cannot say."""
        past = self.now() > sent_at + self.recv_window_s + CLOCK_MARGIN_S
        try:
            found = await self.read(self.venue.lookup, self.ex, usym, client_id, trigger)
        except ccxt.BaseError as err:
            raise StateUnknown(self.text(err)) from None
        if found is None and not past:
            raise StateUnknown("not found yet; it may still execute")
        return found


@contextlib.asynccontextmanager
async def _nothing(usym: str):
    yield
