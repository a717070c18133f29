"""tui_trader: a terminal trading desk for crypto perpetual futures."""

__version__ = "0.1.0"
