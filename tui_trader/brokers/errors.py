"""Exchange errors as the desk reports them: a reason key, the exchange's own message, no secrets.

ccxt's error tree: `ExchangeError` and below are the exchange's answer (not retryable); `OperationFailed` and
below (network, timeouts, 5xx, rate limits) are not. An order placement that fails with anything but a rate
limit in the second family is *ambiguous*: the order may exist, so it is looked up by client order id before
anything else, never sent again.

Status texts read "<reason>: <message>" (reason keys: insufficient_margin, invalid_order, auth, rate_limited,
timeout, exchange_unavailable, network, unknown_instrument, exchange_error, …), so the desk can count
rejections by reason and still show what the exchange said.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import ccxt.async_support as ccxt

MAX_TEXT = 300

# Query fields that carry signing material or keys, should an exchange ever echo a URL back.
_SIGNED_FIELDS = re.compile(r"(?i)\b(signature|sign|apikey|api_key|api-key|passphrase|password|secret)=[^&\s\"']*")


def reason(err: BaseException) -> str:
    """The reason key for an exception from ccxt (most specific class first)."""
    table: tuple[tuple[type[BaseException], str], ...] = (
        (ccxt.InsufficientFunds, "insufficient_margin"),
        (ccxt.AuthenticationError, "auth"),
        (ccxt.BadSymbol, "unknown_instrument"),
        (ccxt.InvalidOrder, "invalid_order"),
        (ccxt.BadRequest, "invalid_order"),
        (ccxt.RateLimitExceeded, "rate_limited"),
        (ccxt.DDoSProtection, "rate_limited"),
        (ccxt.RequestTimeout, "timeout"),
        (ccxt.ExchangeNotAvailable, "exchange_unavailable"),
        (ccxt.NetworkError, "network"),
        (ccxt.ExchangeError, "exchange_error"),
        (ccxt.OperationFailed, "exchange_unavailable"),
    )
    for cls, key in table:
        if isinstance(err, cls):
            return key
    return "error"


def is_rate_limit(err: BaseException) -> bool:
    return isinstance(err, (ccxt.RateLimitExceeded, ccxt.DDoSProtection))


def is_ambiguous(err: BaseException) -> bool:
    """Could a write that failed this way still have reached the exchange? (timeouts, 5xx, dropped links)"""
    return isinstance(err, ccxt.OperationFailed) and not is_rate_limit(err)


def is_retryable_read(err: BaseException) -> bool:
    return isinstance(err, ccxt.OperationFailed)


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` without any secret value or signing field, on one line, at most MAX_TEXT characters."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    text = _SIGNED_FIELDS.sub(lambda mt: f"{mt.group(1)}=***", text)
    text = " ".join(text.split())
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def describe(err: BaseException, secrets: Iterable[str] = ()) -> str:
    """ "<reason>: <exchange message>" for a status's error field."""
    message = str(err) or type(err).__name__
    return f"{reason(err)}: {scrub(message, secrets)}"
