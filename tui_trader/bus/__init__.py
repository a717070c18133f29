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
        from tui_trader.bus import fluvio_offsets
        from tui_trader.bus.fluvio_bus import FluvioBus
        from tui_trader.messages import topic_name

        # Named consumers' offsets live on the cluster, beside the desk's topics (same prefix).
        offsets_topic = topic_name(fluvio_offsets.BASE_TOPIC, bus_settings.topic_prefix)
        return await FluvioBus(
            bus_settings.fluvio_endpoint, bus_settings.connect_timeout_s, offsets_topic=offsets_topic
        ).connect()
    return EmbeddedBus(cluster, retention=bus_settings.retention)
