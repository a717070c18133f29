"""The bus protocol every backend implements, and the record types consumers see.

Semantics follow Fluvio: a topic has one or more partitions; a record has a key (the symbol or an order id)
and goes to the partition `partition_of(key, partitions)`, so every record of one key lands in one partition.
Records are ordered per partition and numbered by offset from 0 in each; no order is promised across
partitions. A consumer reads all of a topic's partitions or a subset, and starts at the beginning, the end,
an absolute offset, or where its named consumer last committed (per partition). A named consumer with
nothing committed starts at its fallback; when that is the end, the start is pinned (committed as
"everything before it done"), so a restart before the first commit loses nothing published in between.

A record carries its value as bytes (the JSON of one message) or, when producer and consumer share a
process, the typed message itself (`Record.msg`): the in-process backend hands consumers the frozen message
it was given and encodes it only when something asks for `Record.value` (a record leaving the process).

A consumer that falls behind what a backend retains receives a `Gap` saying how many records it missed,
never a silent skip.

Optional capabilities have a documented default on the protocol, so callers never probe with `getattr`:
`Subscription.take_ready` (batch fast path; default: nothing ready), `Bus.publish_many` (default: one
`publish` each), `Bus.publish_msg` (default: encode, then `publish`), `Bus.nowait` with `publish_nowait`,
`publish_msg_nowait` and `publish_msgs_nowait` (default: not supported), `Bus.tracks_idle` with `wait_idle`
(default: returns at once), `Bus.lag` (default: nothing known) and `Bus.end_offset` (every backend implements it).
"""

from __future__ import annotations

import abc
import zlib
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

import msgspec

from tui_trader.messages import encode

StartKind = Literal["beginning", "end", "absolute", "committed"]


def partition_of(key: str, partitions: int) -> int:
    """The partition a record with this key goes to: CRC-32 of the key's UTF-8, modulo the count. Stable
    across processes and machines (Python's `hash` of a str is salted per process)."""
    if partitions <= 1:
        return 0
    return zlib.crc32(key.encode()) % partitions


class Record(msgspec.Struct, frozen=True, gc=False):
    """One stored record. (A msgspec Struct: several times cheaper to build than a frozen dataclass.)

    `raw` is the value as bytes when the record has them (it came from outside the process, or was
    published as bytes); `msg` is the typed message when the producer handed one over in this process.
    At least one of the two is set; `value` gives the bytes either way.
    """

    topic: str
    key: str
    raw: bytes | None
    offset: int
    timestamp: int  # ms, when the bus stored it
    partition: int = 0
    msg: msgspec.Struct | None = None

    @property
    def value(self) -> bytes:
        """The value's bytes: encoded from `msg` on each call when the record carries no bytes (only a
        record leaving the process needs them, so the in-process path never pays for it)."""
        raw = self.raw
        return raw if raw is not None else encode(self.msg)


class Gap(msgspec.Struct, frozen=True, gc=False):
    """The consumer missed `missed` records of `partition` before `resume_offset` (retention or conflation)."""

    topic: str
    missed: int
    resume_offset: int
    conflated: bool = False
    partition: int = 0


@dataclass(frozen=True, slots=True)
class Start:
    """Where a subscription begins: Start.BEGINNING, Start.END, Start.at(offset), Start.committed(fallback).

    An absolute offset applies to every partition the subscription reads (it is meant for one partition)."""

    kind: StartKind
    offset: int = 0
    fallback: StartKind = "beginning"  # for "committed" with nothing committed yet: "beginning" or "end"

    BEGINNING: ClassVar[Start]
    END: ClassVar[Start]

    @classmethod
    def at(cls, offset: int) -> Start:
        if offset < 0:
            raise ValueError("offset must be >= 0")
        return cls("absolute", offset)

    @classmethod
    def committed(cls, fallback: StartKind = "beginning") -> Start:
        return cls("committed", 0, fallback)


Start.BEGINNING = Start("beginning")
Start.END = Start("end")


class Subscription(abc.ABC):
    """An async iterator of Record | Gap for one topic (all its partitions, or the subset asked for).
    `commit` records progress of a named consumer, per partition."""

    topic: str
    # The partitions this subscription reads.
    partitions: tuple[int, ...] = (0,)
    # The offset of the next record this subscription delivers from its first partition, when known (None:
    # the partition's first retained record, not known yet). A consumer compares it with `Bus.end_offset`
    # to know it caught up; `positions()` gives it for every partition read.
    position: int | None = None

    def __aiter__(self) -> AsyncIterator[Record | Gap]:
        return self

    @abc.abstractmethod
    async def __anext__(self) -> Record | Gap: ...

    def positions(self) -> dict[int, int | None]:
        """Per partition read, the offset of the next record this subscription delivers (None: not known).
        Default: a single-partition subscription's `position`."""
        return {self.partitions[0]: self.position}

    def take_ready(self, limit: int) -> Sequence[Record]:
        """Up to `limit` records that are there now, without waiting: a busy consumer's fast path (one slice
        instead of one coroutine per record). Empty when it must wait, when a gap, a conflation or a close
        is due (`__anext__` handles those), or when the backend has no such path (this default)."""
        return ()

    async def commit(self, offset: int, partition: int = 0) -> None:
        """Mark every record of `partition` up to and including `offset` as processed (named consumers only).
        Default: nothing to record (a backend without named consumers)."""
        return None

    @abc.abstractmethod
    async def close(self) -> None: ...


class Bus(abc.ABC):
    """A handle on a bus (a client connection). Close it when done; the data outlives the handle."""

    backend: str = "?"
    # `publish_nowait`/`publish_msg_nowait` work (publishing needs no I/O: the in-process backend).
    nowait: ClassVar[bool] = False
    # `wait_idle` really waits for every tracked consumer (a lockstep replay relies on it).
    tracks_idle: ClassVar[bool] = False

    @abc.abstractmethod
    async def create_topics(self, topics: Iterable[str], partitions: int = 1) -> None:
        """Create the topics that do not exist yet, each with `partitions` partitions (an existing topic
        keeps the count it has)."""

    @abc.abstractmethod
    async def publish(self, topic: str, key: str, value: bytes) -> int:
        """Append one record to the partition of its key; returns its offset there."""

    async def publish_msg(self, topic: str, key: str, msg: msgspec.Struct) -> int:
        """Append one typed message (a frozen msgspec Struct). Default: encode it and `publish` the bytes;
        the in-process backend keeps the message itself and hands it to consumers as `Record.msg`."""
        return await self.publish(topic, key, encode(msg))

    async def publish_many(self, topic: str, records: Sequence[tuple[str, bytes]]) -> list[int]:
        """Append (key, value) records in this order; returns their offsets (consecutive within a partition
        unless another producer interleaves). A backend that has a batch path (Fluvio) sends them as one
        request: the way to publish a burst, where one `publish` per record pays a round-trip each."""
        return [await self.publish(topic, key, value) for key, value in records]

    async def publish_bundled(self, topic: str, records: Sequence[tuple[str, bytes]]) -> list[int]:
        """Append a burst of (key, value) messages where several of one key may share one record (a bundle):
        order is kept per key, not across keys; returns each message's record offset (the messages of one
        bundle share it). Consumers still get one message at a time. For market data on Fluvio, where a
        reader's cost is per record; default: `publish_many` (one record each)."""
        return await self.publish_many(topic, records)

    def publish_nowait(self, topic: str, key: str, value: bytes) -> int:
        """Publish without a coroutine (hot paths; only where `nowait` is True)."""
        raise NotImplementedError(f"the {self.backend} bus cannot publish without waiting")

    def publish_msg_nowait(self, topic: str, key: str, msg: msgspec.Struct) -> int:
        """`publish_msg` without a coroutine (hot paths; only where `nowait` is True)."""
        raise NotImplementedError(f"the {self.backend} bus cannot publish without waiting")

    def publish_msgs_nowait(self, topic: str, keys: Sequence[str], msgs: Sequence[msgspec.Struct]) -> None:
        """Typed messages in this order, `keys[i]` the key of `msgs[i]`, without a coroutine: the same records
        as one `publish_msg_nowait` each, published as one batch (consumers woken once). Only where `nowait`
        is True."""
        raise NotImplementedError(f"the {self.backend} bus cannot publish without waiting")

    @abc.abstractmethod
    async def subscribe(
        self,
        topic: str,
        start: Start = Start.END,
        *,
        consumer: str | None = None,
        conflate: bool = False,
        tracked: bool = True,
        partitions: Sequence[int] | None = None,
    ) -> Subscription:
        """Start reading `topic`.

        consumer: a name whose committed offsets (one per partition) persist in the bus (restart where it
            stopped).
        conflate: market-data style; a consumer far behind gets only the latest record per key.
        tracked: the consumer takes part in `wait_idle` (pipeline workers do; the desk does not).
        partitions: the partitions to read (None: all of the topic's); records of one partition arrive in
            offset order, with no order promised across partitions.
        """

    @abc.abstractmethod
    async def end_offset(self, topic: str, partition: int = 0) -> int:
        """The offset the next record published to `partition` will get."""

    async def wait_idle(self) -> None:
        """Return when every tracked consumer has processed everything published. Only a backend with
        `tracks_idle` can tell; the default returns at once."""
        return None

    def lag(self) -> dict[str, int]:
        """Records not yet read by the slowest consumer, per topic (for the status bar); default: nothing
        known (an empty dict)."""
        return {}

    @abc.abstractmethod
    async def close(self) -> None: ...

    async def __aenter__(self) -> Bus:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
