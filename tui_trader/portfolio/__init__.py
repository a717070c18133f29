"""Pure trading cores of the router: the position book, sizing, risk limits, and the routing decisions.

No bus, no clock, no files here: the router worker (and the desk) feed these and publish what they return.
"""

from tui_trader.portfolio.positions import Fill, Portfolio, Position
from tui_trader.portfolio.risk import DailyLoss, EntryFacts, RiskGate
from tui_trader.portfolio.router_core import Output, RouterCore
from tui_trader.portfolio.sizing import Denial, EntryPlan, protective_prices, size_entry

__all__ = [
    "DailyLoss",
    "Denial",
    "EntryFacts",
    "EntryPlan",
    "Fill",
    "Output",
    "Portfolio",
    "Position",
    "RiskGate",
    "RouterCore",
    "protective_prices",
    "size_entry",
]
