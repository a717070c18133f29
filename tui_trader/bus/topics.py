"""The pipeline's topics on a bus: every topic under the settings' prefix, the per-symbol ones with
`bus.partitions` partitions. Whoever starts first (a worker, the desk) creates them the same way."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tui_trader.bus.base import Bus
from tui_trader.messages import PARTITIONED_TOPICS, TOPICS, topic_name

if TYPE_CHECKING:
    from tui_trader.settings import BusSettings


async def create_pipeline_topics(bus: Bus, bus_settings: BusSettings) -> None:
    """Create the pipeline's topics that do not exist yet (an existing topic keeps its partition count)."""
    prefix = bus_settings.topic_prefix
    per_symbol = [topic_name(t, prefix) for t in TOPICS if t in PARTITIONED_TOPICS]
    await bus.create_topics(per_symbol, partitions=bus_settings.partitions)
    await bus.create_topics([topic_name(t, prefix) for t in TOPICS if t not in PARTITIONED_TOPICS])
