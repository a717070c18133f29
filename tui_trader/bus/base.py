"""The bus protocol every backend implements, and the record types consumers see.

Semantics follow Fluvio (one partition per topic): records are ordered per topic and numbered by offset
from 0; a record has a key (the symbol or an order id) and a value (the JSON of one message); a consumer
starts at the beginning, the end, an absolute offset, or where its named consumer last committed. A named
consumer with nothing committed starts at its fallback; when that is the end, the start is pinned (committed
as "everything before it done"), so a restart before the first commit loses nothing published in between.

A consumer that falls behind what a backend retains receives a `Gap` saying how many records it missed,
never a silent skip.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass

import msgspec


class Record(msgspec.Struct, frozen=True, gc=False):
    """One stored record. (A msgspec Struct: several times cheaper to build than a frozen dataclass.)"""

    topic: str
    key: str
    value: bytes
    offset: int
    timestamp: int  # ms, when the bus stored it


class Gap(msgspec.Struct, frozen=True, gc=False):
    """The consumer missed `missed` records before `resume_offset` (retention or conflation)."""

    topic: str
    missed: int
    resume_offset: int
    conflated: bool = False


@dataclass(frozen=True, slots=True)
class Start:
    """Where a subscription begins: Start.BEGINNING, Start.END, Start.at(offset), Start.committed(fallback)."""

    kind: str  # "beginning" | "end" | "absolute" | "committed"
    offset: int = 0
    fallback: str = "beginning"  # for "committed" with nothing committed yet

    @classmethod
    def at(cls, offset: int) -> Start:
        if offset < 0:
            raise ValueError("offset must be >= 0")
        return cls("absolute", offset)

    @classmethod
    def committed(cls, fallback: str = "beginning") -> Start:
        return cls("committed", 0, fallback)


Start.BEGINNING = Start("beginning")  # type: ignore[attr-defined]
Start.END = Start("end")  # type: ignore[attr-defined]


class Subscription(abc.ABC):
    """An async iterator of Record | Gap for one topic. `commit` records progress of a named consumer."""

    topic: str
    # The offset of the next record this subscription delivers, when known (None: the topic's first
    # retained record, not known yet). A consumer compares it with `Bus.end_offset` to know it caught up.
    position: int | None = None

    def __aiter__(self) -> AsyncIterator[Record | Gap]:
        return self

    @abc.abstractmethod
    async def __anext__(self) -> Record | Gap: ...

    async def commit(self, offset: int) -> None:
        """Mark every record up to and including `offset` as processed (named consumers only)."""

    @abc.abstractmethod
    async def close(self) -> None: ...


class Bus(abc.ABC):
    """A handle on a bus (a client connection). Close it when done; the data outlives the handle."""

    backend: str = "?"

    @abc.abstractmethod
    async def create_topics(self, topics: Iterable[str]) -> None:
        """Create the topics that do not exist yet."""

    @abc.abstractmethod
    async def publish(self, topic: str, key: str, value: bytes) -> int:
        """Append one record; returns its offset."""

    async def publish_many(self, topic: str, records: Sequence[tuple[str, bytes]]) -> list[int]:
        """Append (key, value) records in this order; returns their offsets (consecutive unless another
        producer interleaves). A backend that has a batch path (Fluvio) sends them as one request: the way to
        publish a burst, where one `publish` per record pays a round-trip each."""
        return [await self.publish(topic, key, value) for key, value in records]

    @abc.abstractmethod
    async def subscribe(
        self,
        topic: str,
        start: Start = Start.END,  # type: ignore[attr-defined]
        *,
        consumer: str | None = None,
        conflate: bool = False,
        tracked: bool = True,
    ) -> Subscription:
        """Start reading `topic`.

        consumer: a name whose committed offset persists in the bus (restart where it stopped).
        conflate: market-data style; a consumer far behind gets only the latest record per key.
        tracked: the consumer takes part in `wait_idle` (pipeline workers do; the desk does not).
        """

    async def end_offset(self, topic: str) -> int:
        """The offset the next published record will get."""
        raise NotImplementedError

    async def wait_idle(self) -> None:
        """Return when every tracked consumer has processed everything published (embedded only)."""

    def lag(self) -> dict[str, int]:
        """Records not yet read by the slowest consumer, per topic (for the status bar)."""
        return {}

    @abc.abstractmethod
    async def close(self) -> None: ...

    async def __aenter__(self) -> Bus:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
