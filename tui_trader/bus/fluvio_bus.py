"""The Fluvio bus: the real `fluvio` client (one partition per topic).

The client's `connect` and admin calls block, so they run in threads (`asyncio.to_thread`) with a timeout
on connect; producing and consuming use the client's async variants. Named consumers keep their committed
offsets in a local store (see `_OffsetStore` for why not the client's offset consumer). Errors from the
client (`FluviorError`) become `BusError` with the endpoint and the reason.

The `fluvio` package is imported lazily: the embedded bus never needs it.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from tui_trader import paths
from tui_trader.bus.base import Bus, Gap, Record, Start, Subscription
from tui_trader.errors import BusError

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 8 * 1024 * 1024
CLOSE_TIMEOUT_S = 1.0
END_PROBE_S = 1.0


def _client() -> Any:
    try:
        import fluvio
    except ImportError as err:  # pragma: no cover - fluvio is a declared dependency
        raise BusError(
            f"the fluvio client is not installed ({err}); bus.backend = \"embedded\" needs no server"
        ) from None
    return fluvio


def _already_exists(err: Exception) -> bool:
    """The cluster's answer when a topic was created by someone else first ("Topic already exists")."""
    return "already exists" in str(err).lower()


def unreachable_message(endpoint: str, reason: str) -> str:
    where = endpoint or "the active profile in ~/.fluvio/config"
    return (
        f"cannot reach the Fluvio cluster at {where}: {reason}. "
        'Start the cluster, fix bus.fluvio_endpoint, or set bus.backend = "embedded" (needs no server).'
    )


class _OffsetStore:
    """Committed offsets of named consumers, in a small SQLite file of this machine.

    The client's offset-managed consumer (`consumer_with_config` and its iterator) holds the GIL while it
    waits for a record, which freezes every other thread and the event loop of the process; so named
    consumers read with the async stream from their committed offset, and commit here.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS offsets (cluster TEXT, consumer TEXT, topic TEXT, offset INTEGER,"
            " PRIMARY KEY (cluster, consumer, topic))"
        )

    def get(self, cluster: str, consumer: str, topic: str) -> int | None:
        row = self._db.execute(
            "SELECT offset FROM offsets WHERE cluster = ? AND consumer = ? AND topic = ?", (cluster, consumer, topic)
        ).fetchone()
        return row[0] if row else None

    def put(self, cluster: str, consumer: str, topic: str, offset: int) -> None:
        self._db.execute(
            "INSERT INTO offsets VALUES (?, ?, ?, ?) ON CONFLICT(cluster, consumer, topic) DO UPDATE SET offset = excluded.offset",
            (cluster, consumer, topic, offset),
        )

    def close(self) -> None:
        self._db.close()


class _FluvioSubscription(Subscription):
    """The client's async partition stream. Closing ends a read that is waiting for a record."""

    def __init__(
        self, topic: str, stream: Any, commit: Callable[[int], None] | None = None, position: int | None = None
    ) -> None:
        self.topic = topic
        self.position = position
        self._stream = stream
        self._commit = commit
        self._closed = asyncio.Event()
        self._reading: asyncio.Future[Any] | None = None

    async def __anext__(self) -> Record | Gap:
        if self._closed.is_set():
            raise StopAsyncIteration
        fluvio = _client()
        if self._reading is None:
            self._reading = asyncio.ensure_future(self._stream.__anext__())
        reading = self._reading
        closed = asyncio.ensure_future(self._closed.wait())
        try:
            await asyncio.wait({reading, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
        if self._closed.is_set():  # closed while waiting: the read is abandoned with the stream
            raise StopAsyncIteration
        self._reading = None
        try:
            rec = reading.result()
        except fluvio.FluviorError as err:
            raise BusError(f"fluvio stream on {self.topic} failed: {err}") from None
        offset = rec.offset()
        self.position = offset + 1
        return Record(self.topic, rec.key_string(), bytes(rec.value()), offset, rec.timestamp())

    async def commit(self, offset: int, partition: int = 0) -> None:
        if partition != 0:
            raise BusError(f"{self.topic}: this subscription reads partition 0 only")
        if self._commit is None:
            raise BusError("commit needs a named consumer (subscribe(..., consumer=NAME))")
        self._commit(offset)

    async def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        if self._reading is not None:
            self._reading.cancel()
            try:
                await self._reading
            except (asyncio.CancelledError, StopAsyncIteration, Exception):
                pass
        self._stream = None


class FluvioBus(Bus):
    backend = "fluvio"

    def __init__(self, endpoint: str = "", connect_timeout_s: float = 5.0, offsets_path: Path | None = None) -> None:
        self.endpoint = endpoint
        self.offsets_path = offsets_path
        self._offset_store: _OffsetStore | None = None
        self.connect_timeout_s = connect_timeout_s
        self._fluvio: Any = None  # consumers read through this connection
        # Producers send through a connection of their own: on one shared with a stream that is receiving
        # records, each publish waited ~27 ms (37 records/s against ~460/s on its own connection).
        self._producing: Any = None
        self._admin: Any = None
        self._producers: dict[str, Any] = {}
        self._subs: set[_FluvioSubscription] = set()

    async def connect(self) -> FluvioBus:
        fluvio = _client()

        def _connect() -> tuple[Any, Any, Any]:
            admin = (
                fluvio.FluvioAdmin.connect_with_config(fluvio.FluvioConfig.new(self.endpoint))
                if self.endpoint
                else fluvio.FluvioAdmin.connect()
            )
            return self._new_client(), self._new_client(), admin

        try:
            self._fluvio, self._producing, self._admin = await asyncio.wait_for(
                asyncio.to_thread(_connect), self.connect_timeout_s
            )
        except TimeoutError:
            raise BusError(
                unreachable_message(self.endpoint, f"no answer within {self.connect_timeout_s:g} s")
            ) from None
        except fluvio.FluviorError as err:
            raise BusError(unreachable_message(self.endpoint, str(err))) from None
        return self

    def _offsets(self) -> _OffsetStore:
        if self._offset_store is None:
            self._offset_store = _OffsetStore(self.offsets_path or paths.state_dir() / "fluvio-offsets.sqlite3")
        return self._offset_store

    def _new_client(self) -> Any:
        """A connection to the cluster (blocking: call it in a thread)."""
        fluvio = _client()
        if self.endpoint:
            return fluvio.Fluvio.connect_with_config(fluvio.FluvioConfig.new(self.endpoint))
        return fluvio.Fluvio.connect()

    def _require(self) -> Any:
        if self._fluvio is None:
            raise BusError("the Fluvio bus is not connected (or was closed)")
        return self._fluvio

    async def create_topics(self, topics: Iterable[str], partitions: int = 1) -> None:
        if partitions != 1:
            raise BusError(f"the Fluvio bus makes one-partition topics only, not {partitions}")
        self._require()
        fluvio = _client()
        wanted = list(topics)
        admin = self._admin

        def _create() -> None:
            existing = {t.name() for t in admin.list_topics(wanted)}
            for name in wanted:
                if name in existing:
                    continue
                try:
                    admin.create_topic(name)
                except fluvio.FluviorError as err:
                    # Workers started together (as a supervisor does) all see the topic missing and race to
                    # create it: the one that loses finds it made, which is what it wanted.
                    if not _already_exists(err):
                        raise

        try:
            await asyncio.to_thread(_create)
        except fluvio.FluviorError as err:
            raise BusError(f"cannot create topics {wanted}: {err}") from None
        # A new topic's partition needs a moment to get a leader; wait until a producer can be made.
        for name in wanted:
            await self._producer(name)

    async def _producer(self, topic: str) -> Any:
        prod = self._producers.get(topic)
        if prod is None:
            self._require()
            client = self._producing
            fluvio = _client()
            last: Exception | None = None
            for attempt in range(50):
                try:
                    prod = await asyncio.to_thread(client.topic_producer_with_config, topic, self._producer_config())
                    break
                except fluvio.FluviorError as err:
                    last = err
                    await asyncio.sleep(min(0.05 * (attempt + 1), 0.5))
            else:
                raise BusError(f"cannot produce to {topic}: {last}")
            self._producers[topic] = prod
        return prod

    @staticmethod
    def _producer_config() -> Any:
        """Every record is flushed at once (orders must not wait for a batch to fill), and a record may be
        larger than the client's 1 MiB default request."""
        fluvio = _client()
        return (
            fluvio.TopicProducerConfigBuilder()
            .linger(0)
            .max_request_size(MAX_REQUEST_BYTES)
            .batch_size(MAX_REQUEST_BYTES)
            .build()
        )

    async def publish(self, topic: str, key: str, value: bytes) -> int:
        prod = await self._producer(topic)
        fluvio = _client()
        try:
            out = await prod.async_send(key.encode("utf-8"), value)
            await prod.async_flush()
            meta = await out.async_wait()
        except fluvio.FluviorError as err:
            raise BusError(f"publish to {topic} failed: {err}") from None
        if meta is None:
            raise BusError(f"publish to {topic}: the cluster returned no offset")
        return int(meta.offset())

    async def publish_many(self, topic: str, records: Sequence[tuple[str, bytes]]) -> list[int]:
        """One `send_all` request for the whole batch, one flush, then every record's offset: the per-record
        cost of `publish` (a flush and a round-trip each) is paid once per batch."""
        if not records:
            return []
        prod = await self._producer(topic)
        fluvio = _client()
        try:
            outs = await prod.async_send_all([(key.encode("utf-8"), value) for key, value in records])
            await prod.async_flush()
            # Waiting for each record's offset costs more than sending it (~0.2 ms of Python each). A
            # producer's records get increasing offsets in one partition, so when the last is n - 1 past the
            # first nobody came in between and the offsets are that range; otherwise ask each.
            first, last = await outs[0].async_wait(), await outs[-1].async_wait()
            if first is not None and last is not None and last.offset() - first.offset() == len(outs) - 1:
                return list(range(first.offset(), last.offset() + 1))
            metas = [await out.async_wait() for out in outs]
        except fluvio.FluviorError as err:
            raise BusError(f"publish to {topic} failed: {err}") from None
        if any(meta is None for meta in metas):
            raise BusError(f"publish to {topic}: the cluster returned no offset")
        return [meta.offset() for meta in metas]

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
        if partitions is not None and list(partitions) != [0]:
            raise BusError(f"{topic}: the Fluvio bus reads partition 0 only, not {list(partitions)}")
        client = self._require()
        fluvio = _client()
        position = await self._position(topic, start)
        try:
            commit = None
            if consumer is not None:
                store, cluster = self._offsets(), self.endpoint or "profile"
                if start.kind == "committed":
                    done = store.get(cluster, consumer, topic)
                    if done is not None:
                        position = done + 1
                    elif position is not None:
                        # Nothing committed yet: pin where this first subscription starts, so a worker
                        # restarted before it commits anything resumes here, not at a later end.
                        store.put(cluster, consumer, topic, position - 1)

                def commit(done: int, consumer: str = consumer) -> None:
                    store.put(cluster, consumer, topic, done)

            offset = fluvio.Offset.beginning() if position is None else fluvio.Offset.absolute(position)
            part = await asyncio.to_thread(client.partition_consumer, topic, 0)
            stream = await part.async_stream(offset)
            sub = _FluvioSubscription(topic, stream, commit, position)
        except fluvio.FluviorError as err:
            raise BusError(f"cannot subscribe to {topic}: {err}") from None
        self._subs.add(sub)
        return sub

    async def _position(self, topic: str, start: Start) -> int | None:
        """The absolute offset a subscription starts at, or None when the stream starts at the topic's first
        retained record ("beginning") or at an end the cluster did not say (see `_last_offset`)."""
        kind = start.kind if start.kind != "committed" else start.fallback
        if kind == "absolute":
            return start.offset
        if kind == "end":
            last = await self._last_offset(topic)
            return None if last is None else last + 1
        return None

    async def end_offset(self, topic: str, partition: int = 0) -> int:
        """The offset the next published record will get: one past the last record. A topic whose last
        record does not come within END_PROBE_S counts as empty (0): said in the log."""
        if partition != 0:
            raise BusError(f"{topic}: the Fluvio bus has partition 0 only, not {partition}")
        last = await self._last_offset(topic)
        return 0 if last is None else last + 1

    async def _last_offset(self, topic: str) -> int | None:
        """The offset of the topic's last record, or None when none came within END_PROBE_S (an empty topic,
        or a cluster that slow).

        The client has no "high watermark" call, so this reads from one record before the end. Only the
        async stream will do: the blocking stream holds the GIL while it waits, and when an async stream of
        the same process receives a record meanwhile the two deadlock and the process freezes; the async
        stream with continuous mode off panics at the end (client 0.21), printing a Rust panic."""
        client = self._require()
        fluvio = _client()
        try:
            part = await asyncio.to_thread(client.partition_consumer, topic, 0)
            stream = await part.async_stream(fluvio.Offset.from_end(1))
        except fluvio.FluviorError as err:
            raise BusError(f"the end of {topic} is not known: {err}") from None
        reading = asyncio.ensure_future(stream.__anext__())
        try:
            rec = await asyncio.wait_for(asyncio.shield(reading), END_PROBE_S)
        except TimeoutError:
            reading.cancel()
            log.info("%s: no record within %g s; taken as empty", topic, END_PROBE_S)
            return None
        except fluvio.FluviorError as err:
            raise BusError(f"the end of {topic} is not known: {err}") from None
        return int(rec.offset())

    async def close(self) -> None:
        subs, self._subs = self._subs, set()
        for sub in subs:
            await sub.close()
        for prod in self._producers.values():
            try:
                # Every publish already waited for its offset; this only guards against a stuck connection.
                await asyncio.wait_for(prod.async_flush(), CLOSE_TIMEOUT_S)
            except Exception as err:  # closing: report, don't raise
                log.warning("fluvio flush on close failed: %s", type(err).__name__)
        self._producers.clear()
        if self._offset_store is not None:
            self._offset_store.close()
            self._offset_store = None
        self._fluvio = None
        self._producing = None
        self._admin = None
