"""`tui-trader doctor`: settings valid, bus reachable, feed and exchange URLs, keys present. Exit 1 on a failure."""

from __future__ import annotations

import asyncio
from urllib.parse import urlparse

from tui_trader import paths
from tui_trader import settings as settings_mod
from tui_trader.bus import open_bus
from tui_trader.errors import TuiTraderError


def _line(ok: bool | None, what: str, detail: str) -> str:
    mark = {True: "ok  ", False: "FAIL", None: "info"}[ok]
    return f"[{mark}] {what}: {detail}"


async def _check_bus(settings) -> tuple[bool, str]:
    try:
        bus = await open_bus(settings.bus)
    except TuiTraderError as err:
        return False, err.message
    await bus.close()
    if settings.bus.backend == "embedded":
        return True, "embedded (in-process, no server needed)"
    return True, f"fluvio at {settings.bus.fluvio_endpoint or 'the active profile'} reachable"


def run(args) -> int:
    failures = 0
    lines = []
    try:
        settings, path = settings_mod.load(args.config)
        lines.append(_line(True, "settings", str(path) if path else "built-in defaults (no settings.toml found)"))
    except TuiTraderError as err:
        print(_line(False, "settings", err.message))
        return 1
    ok, detail = asyncio.run(_check_bus(settings))
    failures += not ok
    lines.append(_line(ok, "bus", detail))
    feed = urlparse(settings.feed.ws_base_url)
    feed_ok = feed.scheme in ("ws", "wss") and bool(feed.netloc)
    failures += not feed_ok
    lines.append(_line(feed_ok, "feed", f"{settings.feed.ws_base_url} ({settings.feed.trade_stream} + bookTicker)"))
    ex = settings.exchange
    host = ex.api_base_url or "ccxt's own hosts"
    lines.append(_line(None, "exchange", f"{ex.name}, {'demo' if ex.demo else 'REAL MONEY'}, REST {host}"))
    lines.append(_line(None, "mode", "paper" if settings.trading.paper_trading else "live"))
    try:
        secrets = settings_mod.load_secrets(settings)
        where = "present" if secrets.present else "not set (paper trading only)"
        keys_ok = secrets.present or settings.trading.paper_trading
        failures += not keys_ok
        lines.append(_line(keys_ok, "API keys", where + ("" if keys_ok else "; live mode needs them")))
    except TuiTraderError as err:
        failures += 1
        lines.append(_line(False, "API keys", err.message))
    lines.append(_line(None, "log file", str(paths.log_file())))
    print("\n".join(lines))
    return 1 if failures else 0
