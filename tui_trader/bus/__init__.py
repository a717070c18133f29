"""The bus: a protocol (base), an in-process backend (embedded) and the Fluvio backend (fluvio_bus)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tui_trader.bus.base import Bus, Gap, Record, Start, Subscription, partition_of
from tui_trader.bus.embedded import EmbeddedBus, EmbeddedCluster

if TYPE_CHECKING:
    from tui_trader.settings import BusSettings

__all__ = [
    "Bus",
    "EmbeddedBus",
    "EmbeddedCluster",
    "Gap",
    "Record",
    "Start",
    "Subscription",
    "open_bus",
    "partition_of",
]


async def open_bus(bus_settings: BusSettings, cluster: EmbeddedCluster | None = None) -> Bus:
    """Connect the backend chosen in settings. Raises BusError with a one-line reason when unreachable."""
    if bus_settings.backend == "fluvio":
        from tui_trader.bus.fluvio_bus import FluvioBus

        return await FluvioBus(bus_settings.fluvio_endpoint, bus_settings.connect_timeout_s).connect()
    return EmbeddedBus(cluster, retention=bus_settings.retention)
