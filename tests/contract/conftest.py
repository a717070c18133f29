"""The bus contract runs against every backend: embedded always, Fluvio when TUI_TRADER_FLUVIO=host:port."""

from __future__ import annotations

import uuid

import pytest
from fluvio_kit import CREATED, FLUVIO, FLUVIO_SKIP, delete_fluvio_topics

from tui_trader.bus import EmbeddedBus, EmbeddedCluster


class Backend:
    """Opens handles on one bus 'cluster' and names fresh topics, so tests never see each other's data."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.cluster = EmbeddedCluster(retention=1000) if kind == "embedded" else None
        self.handles = []
        self.topics: list[str] = []
        self.offsets_topic: str | None = None

    async def connect(self):
        if self.kind == "embedded":
            bus = EmbeddedBus(self.cluster)
        else:
            from tui_trader.bus.fluvio_bus import FluvioBus

            # Committed offsets go to a topic of this test's own (deleted with its other topics).
            if self.offsets_topic is None:
                self.offsets_topic = self.topic("offsets")
            bus = await FluvioBus(FLUVIO, connect_timeout_s=10, offsets_topic=self.offsets_topic).connect()
        self.handles.append(bus)
        return bus

    def topic(self, base: str = "t") -> str:
        name = f"contract-{base}-{uuid.uuid4().hex[:10]}"
        self.topics.append(name)
        return name

    async def close(self) -> None:
        for bus in self.handles:
            await bus.close()
        if self.kind == "fluvio":
            CREATED.extend(self.topics)


@pytest.fixture(scope="session", autouse=True)
def _delete_fluvio_topics_at_the_end():
    yield
    if FLUVIO and CREATED:
        delete_fluvio_topics(CREATED)


@pytest.fixture(params=["embedded", pytest.param("fluvio", marks=pytest.mark.fluvio)])
async def backend(request):
    if request.param == "fluvio" and not FLUVIO:
        pytest.skip(FLUVIO_SKIP)
    b = Backend(request.param)
    yield b
    await b.close()
