"""All checks in their printed order; the slow network ones (feed, exchange) run side by side."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from tui_trader import paths
from tui_trader import settings as settings_mod
from tui_trader.doctor.feed import check_feed
from tui_trader.doctor.local import check_bus, check_bus_acks, check_journal
from tui_trader.doctor.report import Check
from tui_trader.doctor.venue import KEYS, check_exchange
from tui_trader.errors import TuiTraderError
from tui_trader.exchange import create_exchange
from tui_trader.settings import Secrets, Settings

DEFAULT_TIMEOUT_S = 10.0


def settings_check(path: str | None) -> tuple[Settings | None, Check]:
    try:
        settings, found = settings_mod.load(path)
    except TuiTraderError as err:
        return None, Check(name="settings", status="fail", detail=err.message)
    where = str(found) if found else "built-in defaults (no settings.toml found)"
    return settings, Check(name="settings", status="ok", detail=f"valid: {where}")


async def run_checks(
    settings: Settings,
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    env: dict[str, str] | None = None,
    factory: Callable[..., Any] = create_exchange,
) -> list[Check]:
    """Every check after the settings one. Each network step gives up after `timeout` seconds."""
    try:
        secrets, secrets_problem = settings_mod.load_secrets(settings, env), ""
    except TuiTraderError as err:
        secrets, secrets_problem = Secrets(), err.message
    journal = await asyncio.to_thread(check_journal, settings, timeout)
    bus = await check_bus(settings, timeout)
    acks = await asyncio.to_thread(check_bus_acks, settings) if bus.status == "ok" else None
    feed, exchange = await asyncio.gather(
        check_feed(settings, timeout), check_exchange(settings, secrets, timeout, factory)
    )
    if secrets_problem:
        exchange = [Check(name=KEYS, status="fail", detail=secrets_problem) if c.name == KEYS else c for c in exchange]
    xs = settings.exchange
    mode = "paper" if settings.trading.paper_trading else f"live on {xs.name} {'demo' if xs.demo else '(REAL MONEY)'}"
    return [
        journal,
        bus,
        *([acks] if acks is not None else []),
        feed,
        *exchange,
        Check(name="mode", status="info", detail=f"{mode} at start (trading.paper_trading, exchange.demo)"),
        Check(name="log file", status="info", detail=str(paths.log_file())),
    ]
