"""Committed offsets of named consumers, kept on the Fluvio cluster itself (a topic of their own).

A worker moved to another machine (or whose disk was lost) resumes where it stopped, because its offsets
live where the data does. Each commit is one record on the offsets topic (by default
`trading-consumer-offsets`, with the desk's topic prefix): key `<consumer>/<topic>/<partition>`, value
`{"consumer": ..., "topic": ..., "partition": ..., "offset": ...}`, the offset being the last record handled.
The newest record of a key is its committed offset.

Why not the client's own offset management: its offset-managed consumer (`consumer_with_config` with its
blocking iterator) holds the GIL while it waits for a record, which freezes the event loop of the process,
and it commits only the offset of a record it handed out itself. Fluvio (0.18) does not compact topics, so
a reader finds a key's newest record by reading the topic's tail, widening the window until the key is
seen; every subscription writes its starting point when it starts (see FluvioBus.subscribe), so a running
worker's keys stay near the end. The topic keeps records for its retention time (RETENTION_S, 7 days): a consumer
stopped longer than that starts at its fallback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import msgspec

BASE_TOPIC = "trading-consumer-offsets"
RETENTION_S = 7 * 24 * 3600  # an int: the client (0.21) turns "7d" into a float its Rust side refuses
FIRST_WINDOW = 4096  # records read back from the end first; ×16 until the key is found or the start is reached


class Committed(msgspec.Struct, frozen=True):
    consumer: str
    topic: str
    partition: int
    offset: int


_decode = msgspec.json.Decoder(Committed).decode
_encode = msgspec.json.Encoder().encode


def key_of(consumer: str, topic: str, partition: int) -> str:
    return f"{consumer}/{topic}/{partition}"


def encode(consumer: str, topic: str, partition: int, offset: int) -> bytes:
    return _encode(Committed(consumer, topic, partition, offset))


def decode(value: bytes) -> Committed | None:
    try:
        return _decode(value)
    except msgspec.DecodeError:
        return None


# read(start, end) -> the values of the offsets topic's records from `start` up to `end` (exclusive)
Reader = Callable[[int, int], Awaitable[list[bytes]]]


class OffsetBook:
    """What this bus handle knows of the committed offsets: read once from the cluster's tail (widened on
    demand), then kept up to date by this handle's own commits (a key has one writer: the worker that owns
    that consumer and partition)."""

    def __init__(self, read: Reader, end: Callable[[], Awaitable[int]]) -> None:
        self._read = read
        self._end = end
        self._known: dict[tuple[str, str, int], int] = {}
        self._read_from: int | None = None  # the first offset already read (None: nothing read yet)
        self._read_to = 0
        self._reading = asyncio.Lock()

    async def get(self, consumer: str, topic: str, partition: int) -> int | None:
        async with self._reading:  # subscriptions opened together read the topic once
            return await self._get((consumer, topic, partition))

    async def _get(self, key: tuple[str, str, int]) -> int | None:
        if key in self._known:
            return self._known[key]
        if self._read_from is None:
            self._read_to = await self._end()
            self._read_from = self._read_to
        window = FIRST_WINDOW
        while key not in self._known and self._read_from > 0:
            start = max(0, self._read_from - window)
            older: dict[tuple[str, str, int], int] = {}
            for value in await self._read(start, self._read_from):
                c = decode(value)
                if c is not None:
                    older[(c.consumer, c.topic, c.partition)] = c.offset
            # What was read before is newer than this window: it wins.
            older.update(self._known)
            self._known = older
            self._read_from = start
            window *= 16
        return self._known.get(key)

    def put(self, consumer: str, topic: str, partition: int, offset: int) -> None:
        self._known[(consumer, topic, partition)] = offset
