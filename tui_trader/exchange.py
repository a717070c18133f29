"""Building a ccxt (async) exchange from settings: demo/sandbox mode and endpoint overrides.

Used by the ccxt broker (orders), the indicator warm-up (public klines) and reconciliation. The order of
operations is ccxt's: demo/sandbox before `load_markets`, then `exchange.api_base_url`
replaces the scheme and host of every REST URL (paths kept), so a testnet or a local mock needs no code change.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from tui_trader.settings import ExchangeSettings, Secrets


def unified_symbol(symbol: str, quote: str = "USDT") -> str:
    """BTCUSDT → BTC/USDT:USDT (ccxt's linear perpetual symbol)."""
    if not symbol.endswith(quote):
        raise ValueError(f"{symbol}: only {quote}-margined perpetuals are supported")
    return f"{symbol[: -len(quote)]}/{quote}:{quote}"


def _rehost(url: str, base: str) -> str:
    parts, new = urlsplit(url), urlsplit(base)
    if parts.scheme not in ("http", "https"):
        return url
    path = new.path.rstrip("/") + parts.path
    return urlunsplit((new.scheme, new.netloc, path, parts.query, parts.fragment))


def override_hosts(urls: Any, base: str) -> Any:
    """Every http(s) URL in ccxt's nested `urls['api']` with its host replaced by `base`."""
    if isinstance(urls, str):
        return _rehost(urls, base)
    if isinstance(urls, dict):
        return {k: override_hosts(v, base) for k, v in urls.items()}
    return urls


# Only the perpetual markets the desk trades: fewer requests at start, and no spot/option endpoints that a
# demo host or a local mock may lack.
_MARKET_TYPES: dict[str, dict[str, Any]] = {
    "okx": {"fetchMarkets": {"types": ["swap"]}},
    "bybit": {"fetchMarkets": {"types": ["linear"]}},
}

# Binance picks its error-code table (linear, inverse, spot…) from the request's host: with the hosts
# replaced, -2019 "Margin is insufficient." would surface as a bare ExchangeError instead of
# InsufficientFunds. The path prefix says the same thing, so the mapping is kept by path.
_BINANCE_PATH_TYPES = (
    ("/fapi/", "linear"),
    ("/dapi/", "inverse"),
    ("/eapi/", "option"),
    ("/papi/", "portfolioMargin"),
    ("/sapi/", "spot"),
    ("/api/", "spot"),
)


def _keep_binance_error_tables(ex: Any, base: str) -> None:
    root = base.rstrip("/")
    by_host = ex.get_exceptions_by_url

    def by_url(url: str | None, exact_or_broad: str) -> dict[str, Any]:
        table: dict[str, Any]  # ccxt's error table: message or code → exception class
        if url and url.startswith(root + "/"):
            path = url[len(root) :]
            for prefix, market_type in _BINANCE_PATH_TYPES:
                if path.startswith(prefix):
                    table = ex.safe_dict(ex.safe_dict(ex.exceptions, market_type, {}), exact_or_broad, {})
                    return table
        table = by_host(url, exact_or_broad)
        return table

    ex.get_exceptions_by_url = by_url


def create_exchange(settings: ExchangeSettings, secrets: Secrets | None = None, **extra: Any) -> Any:
    """A configured `ccxt.async_support` exchange. The caller must `await ex.close()`."""
    import ccxt.async_support as ccxt

    config: dict[str, Any] = {
        "enableRateLimit": True,
        "timeout": settings.timeout_ms,
        # Without this, load_markets with keys set calls /sapi (absent on demo hosts and mocks).
        "options": {"fetchCurrencies": False, **_MARKET_TYPES.get(settings.name, {})},
    }
    if secrets is not None and secrets.present:
        config.update(apiKey=secrets.api_key, secret=secrets.api_secret)
        if secrets.api_password:
            config["password"] = secrets.api_password
    config.update(extra)
    ex = getattr(ccxt, settings.name)(config)
    if settings.demo:
        if settings.name == "okx":
            ex.set_sandbox_mode(True)  # OKX has no demo mode: sandbox adds x-simulated-trading
        else:
            ex.enable_demo_trading(True)
    if settings.api_base_url:
        ex.urls["api"] = override_hosts(ex.urls["api"], settings.api_base_url)
        if hasattr(ex, "get_exceptions_by_url"):
            _keep_binance_error_tables(ex, settings.api_base_url)
    return ex
