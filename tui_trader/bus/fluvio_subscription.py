"""Reading Fluvio: one subscription over the client's partition streams, bundles handed out one message at
a time, and a repair of the client's skipped records.

- The reader repairs a fault of the client (0.21): when a fetch answer ends inside a batch of records, the
  client's stream skips the rest of that batch (seen as ~1 % of records missing under `send_all` bursts, a
  fault fixed upstream in Fluvio's "do not assume all batches in stream fetch response are complete"). Offsets
  of a partition have no holes, so the subscription notices the jump, opens the stream again at the first
  missing offset, and reads on; a jump that is still there after that is records the cluster no longer has
  (retention), reported as a `Gap`.
- A commit inside a bundle covers only the records before it; commits of bundled records (market data) are
  written at most every BUNDLE_COMMIT_EVERY_S.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from tui_trader.bus import fluvio_bundle
from tui_trader.bus.base import Gap, Record, Subscription
from tui_trader.errors import BusError

log = logging.getLogger(__name__)

# A commit of a bundled record (market data) is written at most this often per partition, the newest one
# winning; a kill -9 so re-reads at most this much market data. A commit of a single record (an order, a
# status) is written at once.
BUNDLE_COMMIT_EVERY_S = 0.25

Commit = Callable[[int, int], Awaitable[None]]  # (partition, offset)
OpenStream = Callable[[int, int | None], Awaitable[Any]]  # (partition, offset or None = beginning)


def fluvio_client() -> Any:
    try:
        import fluvio
    except ImportError as err:  # pragma: no cover - fluvio is a declared dependency
        raise BusError(
            f"the fluvio client is not installed ({err}); bus.backend = \"embedded\" needs no server"
        ) from None
    return fluvio


class PartitionReader:
    """One partition's stream and where it stands."""

    __slots__ = ("expected", "partition", "reading", "reopened_at", "stream")

    def __init__(self, partition: int, stream: Any, expected: int | None) -> None:
        self.partition = partition
        self.stream = stream
        self.expected = expected  # offset of the next record due (None: the first one retained)
        self.reading: asyncio.Future[Any] | None = None
        self.reopened_at: int | None = None  # the offset the stream was last opened again at (a repair)


class FluvioSubscription(Subscription):
    """The client's async partition streams, one per partition read, merged; bundles handed out one message
    at a time. Closing ends a read that is waiting for a record."""

    def __init__(
        self,
        topic: str,
        readers: list[PartitionReader],
        open_stream: OpenStream,
        commit: Commit | None = None,
    ) -> None:
        self.topic = topic
        # Bundles of a topic of known type are decoded whole: their records carry the typed message.
        self._typed = fluvio_bundle.typed_decoder(topic)
        self.partitions = tuple(r.partition for r in readers)
        self._readers = readers
        self._open_stream = open_stream
        self._commit = commit
        self._positions: dict[int, int | None] = {r.partition: r.expected for r in readers}
        self.position = readers[0].expected
        # Messages read and not handed out yet: (item, whether it is the last of its record).
        self._ready: deque[tuple[Record | Gap, bool]] = deque()
        # Per partition, the offsets of bundles read and not yet passed by a commit. A consumer commits the
        # offset of the last message it handled; for a bundle that does not say the bundle's other messages
        # were handled, so such a commit covers only the records before it.
        self._bundles: dict[int, set[int]] = {}
        self._closed = False
        self._closing: asyncio.Future[None] | None = None
        self.repairs = 0  # times the stream was opened again over records the client skipped
        # Throttled commits of bundled records: partition -> offset waiting, and when each was last written.
        self._pending: dict[int, int] = {}
        self._written_at: dict[int, float] = {}
        self._flusher: asyncio.TimerHandle | None = None
        self._flushing: set[asyncio.Task[None]] = set()

    def positions(self) -> dict[int, int | None]:
        return dict(self._positions)

    def _hand(self, item: Record | Gap, last: bool) -> None:
        """Note that `item` is handed out: the partition's position moves past it (past its record when it
        is the record's last message)."""
        part = item.partition
        pos = item.resume_offset if isinstance(item, Gap) else item.offset + 1 if last else item.offset
        self._positions[part] = pos
        if part == self.partitions[0]:
            self.position = pos

    async def __anext__(self) -> Record | Gap:
        while True:
            if self._ready:
                item, last = self._ready.popleft()
                self._hand(item, last)
                return item
            if self._closed:
                raise StopAsyncIteration
            await self._read_some()

    def take_ready(self, limit: int) -> Sequence[Record]:
        """The messages already read (a bundle's rest, records that came together), up to `limit`; a gap
        waits for `__anext__`."""
        ready = self._ready
        out: list[Record] = []
        while ready and len(out) < limit:
            item, last = ready[0]
            if isinstance(item, Gap):
                break
            ready.popleft()
            self._hand(item, last)
            out.append(item)
        return out

    async def _read_some(self) -> None:
        """Wait for the next record of any partition and queue its messages."""
        fluvio = fluvio_client()
        loop = asyncio.get_running_loop()
        if self._closing is None:
            self._closing = loop.create_future()
        waiting: list[asyncio.Future[Any]] = [self._closing]
        for r in self._readers:
            if r.reading is None:
                r.reading = asyncio.ensure_future(r.stream.async_next())
            waiting.append(r.reading)
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if self._closed:
            return
        for r in self._readers:
            reading = r.reading
            if reading is None or not reading.done():
                continue
            r.reading = None
            try:
                rec = reading.result()
            except fluvio.FluviorError as err:
                raise BusError(f"fluvio stream on {self.topic} failed: {err}") from None
            if rec is None:
                raise BusError(f"fluvio stream on {self.topic} partition {r.partition} ended")
            await self._take(r, rec)

    async def _take(self, r: PartitionReader, rec: Any) -> None:
        offset = rec.offset()
        part = r.partition
        expected = r.expected
        if expected is not None and offset != expected:
            if offset < expected:  # already handed out (a stream opened again can start a batch early)
                return
            if r.reopened_at != expected:
                # Records skipped by the client (see the module's docstring): read again from the first one.
                log.info(
                    "%s[%d]: the client skipped offsets %d..%d; reading again from %d",
                    self.topic,
                    part,
                    expected,
                    offset - 1,
                    expected,
                )
                self.repairs += 1
                r.reopened_at = expected
                r.stream = await self._open_stream(part, expected)
                return
            self._ready.append((Gap(self.topic, offset - expected, offset, partition=part), True))
        r.reopened_at = None
        r.expected = offset + 1
        key = rec.key_string()
        ts = rec.timestamp()
        value = bytes(rec.value())
        topic = self.topic
        ready = self._ready
        msgs = fluvio_bundle.unpack_typed(value, self._typed) if self._typed is not None else None
        if msgs is not None:
            values: list[bytes] | None = None
            n = len(msgs)
        else:
            values = fluvio_bundle.unpack(value)
            n = len(values)
        if n > 1:
            self._bundles.setdefault(part, set()).add(offset)
        last = n - 1
        if msgs is not None:
            for i, msg in enumerate(msgs):
                ready.append((Record(topic, key, None, offset, ts, part, msg), i == last))
        else:
            for i, raw in enumerate(values):  # type: ignore[arg-type]
                ready.append((Record(topic, key, raw, offset, ts, part), i == last))

    async def commit(self, offset: int, partition: int = 0) -> None:
        if self._commit is None:
            raise BusError("commit needs a named consumer (subscribe(..., consumer=NAME))")
        if partition not in self._positions:
            raise BusError(f"{self.topic}: this subscription does not read partition {partition}")
        bundles = self._bundles.get(partition)
        if bundles is not None:
            inside = offset in bundles
            bundles.difference_update([b for b in bundles if b < offset])
            if inside:  # see `_bundles`: a restart reads this bundle again (market data tolerates that)
                offset -= 1
        if offset < 0:
            return
        if bundles is not None and not self._closed:
            self._throttled(partition, offset)
            return
        self._pending.pop(partition, None)
        self._written_at[partition] = time.monotonic()
        await self._commit(partition, offset)

    def _throttled(self, partition: int, offset: int) -> None:
        self._pending[partition] = offset
        due = self._written_at.get(partition, 0.0) + BUNDLE_COMMIT_EVERY_S - time.monotonic()
        if self._flusher is None:
            loop = asyncio.get_running_loop()
            self._flusher = loop.call_later(max(0.0, due), self._flush_soon)

    def _flush_soon(self) -> None:
        self._flusher = None
        task = asyncio.ensure_future(self._flush_pending())
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    async def _flush_pending(self) -> None:
        pending, self._pending = self._pending, {}
        for part, offset in pending.items():
            self._written_at[part] = time.monotonic()
            try:
                await self._commit(part, offset)  # type: ignore[misc]  # only set up for named consumers
            except BusError as err:  # tried again after BUNDLE_COMMIT_EVERY_S (or by a later commit)
                log.warning("%s[%d]: commit of %d failed: %s", self.topic, part, offset, err)
                if not self._closed:
                    self._throttled(part, self._pending.get(part, offset))

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._closing is not None and not self._closing.done():
            self._closing.set_result(None)
        for r in self._readers:
            if r.reading is not None:
                r.reading.cancel()
                # Abandoned with the stream: whatever it ends with (cancelled, a client error) is of no use.
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration, Exception):
                    await r.reading
                r.reading = None
            r.stream = None
        if self._flusher is not None:
            self._flusher.cancel()
            self._flusher = None
        for task in list(self._flushing):
            await task
        if self._pending and self._commit is not None:
            await self._flush_pending()
