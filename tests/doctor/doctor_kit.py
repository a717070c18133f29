"""Helpers for the doctor tests: API keys for the environment, the loopback venue and settings aimed at it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from net.binance_ws_server import BinanceWsServer
from net.mock_binance import MockBinance

from tui_trader.settings import Settings, parse, to_dict

# Long enough for the log redaction; the tests check neither ever shows in the report.
KEY, SECRET = "DOCTORKEY-0123456789abcdef", "DOCTORSECRET-fedcba9876543210"
KEYS_ENV = {"TUI_TRADER_API_KEY": KEY, "TUI_TRADER_API_SECRET": SECRET}


@dataclass
class Venue:
    rest: MockBinance
    ws: BinanceWsServer
    journal: Path

    def settings(self, *, live: bool = True, **sections: dict[str, Any]) -> Settings:
        """BTCUSDT only, pointed at the loopback venue; `sections` override keys per section."""
        data = to_dict(Settings())
        data["trading"].update(symbols=["BTCUSDT"], paper_trading=not live)
        data["feed"].update(ws_base_url=self.ws.url, dedicated_symbols=["BTCUSDT"])
        data["exchange"].update(api_base_url=self.rest.base_url, timeout_ms=2000)
        data["journal"]["path"] = str(self.journal)
        for section, values in sections.items():
            data[section].update(values)
        return parse(data)
