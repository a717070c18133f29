"""The Fluvio bus: the real `fluvio` client, with partitions, bundled records and offsets on the cluster.

The client's `connect` and admin calls block, so they run in threads (`asyncio.to_thread`) with a timeout
on connect; producing and consuming use the client's async variants. Errors from the client
(`FluviorError`) become `BusError` with the endpoint and the reason.

- Partitions: a record goes to partition `partition_of(key, n)` of its topic (the same rule as the embedded
  bus, so one symbol is always in one partition), sent by a producer pinned to that partition.
- A burst (`publish_many`) goes out as one request per partition, its messages bundled per key (see
  fluvio_bundle); a subscription unpacks bundles, so a consumer still gets one message per `__anext__`.
- Named consumers keep their committed offsets on the cluster (see fluvio_offsets).
- Reading (and the repair of records the client skips): see fluvio_subscription.

The `fluvio` package is imported lazily: the embedded bus never needs it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from tui_trader.bus import fluvio_bundle, fluvio_offsets, route_acks
from tui_trader.bus.base import Bus, Record, Start, Subscription, partition_of
from tui_trader.bus.fluvio_subscription import Commit, FluvioSubscription, PartitionReader, fluvio_client
from tui_trader.errors import BusError

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 8 * 1024 * 1024
MAX_FETCH_BYTES = 32 * 1024 * 1024
CLOSE_TIMEOUT_S = 1.0
END_PROBE_S = 1.0
_acks_checked: set[str] = set()  # endpoints whose route was looked at in this process


def _already_exists(err: Exception) -> bool:
    """The cluster's answer when a topic was created by someone else first ("Topic already exists")."""
    return "already exists" in str(err).lower()


def unreachable_message(endpoint: str, reason: str) -> str:
    where = endpoint or "the active profile in ~/.fluvio/config"
    return (
        f"cannot reach the Fluvio cluster at {where}: {reason}. "
        'Start the cluster, fix bus.fluvio_endpoint, or set bus.backend = "embedded" (needs no server).'
    )


class FluvioBus(Bus):
    backend = "fluvio"

    def __init__(
        self,
        endpoint: str = "",
        connect_timeout_s: float = 5.0,
        *,
        offsets_topic: str | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.offsets_topic = offsets_topic
        self.connect_timeout_s = connect_timeout_s
        self._fluvio: Any = None  # consumers read through this connection
        # Producers send through a connection of their own: on one shared with a stream that is receiving
        # records, each publish waited ~27 ms (37 records/s against ~460/s on its own connection).
        self._producing: Any = None
        self._admin: Any = None
        self._producers: dict[tuple[str, int], Any] = {}
        self._partition_counts: dict[str, int] = {}
        self._part_consumers: dict[tuple[str, int], Any] = {}
        self._subs: set[FluvioSubscription] = set()
        self._offsets: fluvio_offsets.OffsetBook | None = None
        # One admin call at a time: the admin connection is shared by every task of the process.
        self._admin_lock = asyncio.Lock()
        self.repairs = 0  # streams opened again over records the client skipped, by closed subscriptions

    async def connect(self) -> FluvioBus:
        fluvio = fluvio_client()

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
        # Admin calls block holding the GIL; one made while an async stream of this process receives a record
        # waits for the SC's answer until the socket times out (60 s), as the stream's delivery needs the GIL.
        # So the admin work is done now, before any stream: every topic's partition count, and the offsets
        # topic (created if missing).
        await self._refresh_partition_counts()
        if self.offsets_topic is not None:
            await self._create([self.offsets_topic], 1, retention=fluvio_offsets.RETENTION_S)
        await self._check_acks()
        return self

    async def _check_acks(self) -> None:
        """Say once per process and endpoint when the route to the cluster delays ACKs (route_acks): the
        pipeline works, but every hop can cost ~40 ms more, which the trader should know and can fix."""
        if self.endpoint in _acks_checked:
            return
        _acks_checked.add(self.endpoint)
        on, address = await asyncio.to_thread(route_acks.route_quickack, self.endpoint)
        if on is False:
            log.warning("Fluvio at %s: %s", self.endpoint, route_acks.advice(address))

    def _new_client(self) -> Any:
        """A connection to the cluster (blocking: call it in a thread)."""
        fluvio = fluvio_client()
        if self.endpoint:
            return fluvio.Fluvio.connect_with_config(fluvio.FluvioConfig.new(self.endpoint))
        return fluvio.Fluvio.connect()

    def _require(self) -> Any:
        if self._fluvio is None:
            raise BusError("the Fluvio bus is not connected (or was closed)")
        return self._fluvio

    # --- topics ---

    async def create_topics(self, topics: Iterable[str], partitions: int = 1) -> None:
        await self._create(list(topics), partitions)

    async def _create(self, wanted: list[str], partitions: int, retention: int | None = None) -> None:
        self._require()
        fluvio = fluvio_client()
        admin = self._admin

        def _create() -> None:
            existing = {t.name() for t in admin.list_topics(wanted)}
            for name in wanted:
                if name in existing:
                    continue
                spec = fluvio.TopicSpec.create().with_partitions(partitions)
                if retention is not None:
                    spec = spec.with_retention_time(retention)
                try:
                    admin.create_topic(name, spec.build())
                except fluvio.FluviorError as err:
                    # Workers started together (as a supervisor does) all see the topic missing and race to
                    # create it: the one that loses finds it made, which is what it wanted.
                    if not _already_exists(err):
                        raise

        try:
            async with self._admin_lock:
                await asyncio.to_thread(_create)
        except fluvio.FluviorError as err:
            raise BusError(f"cannot create topics {wanted}: {err}") from None
        # A new topic's partitions need a moment to get a leader; wait until a producer can be made for each.
        for name in wanted:
            self._partition_counts.pop(name, None)
            for attempt in range(50):
                try:
                    count = await self._partition_count(name)
                    break
                except BusError:  # the SC lists a new topic's partitions a moment after the create
                    if attempt == 49:
                        raise
                    await asyncio.sleep(0.1)
            for part in range(count):
                await self._producer(name, part)

    async def _refresh_partition_counts(self) -> None:
        """Every topic's partition count, from one admin call (partitions are named `<topic>-<index>`)."""
        fluvio = fluvio_client()
        admin = self._admin

        def _counts() -> dict[str, int]:
            counts: dict[str, int] = {}
            for part in admin.list_partitions([]):
                topic = part.name().rpartition("-")[0]
                counts[topic] = counts.get(topic, 0) + 1
            return counts

        try:
            async with self._admin_lock:
                self._partition_counts = await asyncio.to_thread(_counts)
        except fluvio.FluviorError as err:
            raise BusError(f"the cluster's partitions are not known: {err}") from None

    async def _partition_count(self, topic: str) -> int:
        """How many partitions the topic has (known since connect or the create; a topic someone else made
        since is asked for: a topic's count does not change)."""
        count = self._partition_counts.get(topic)
        if count is None:
            self._require()
            await self._refresh_partition_counts()
            count = self._partition_counts.get(topic)
            if count is None:
                raise BusError(f"topic {topic} does not exist on the cluster")
        return count

    # --- producing ---

    async def _producer(self, topic: str, partition: int) -> Any:
        prod = self._producers.get((topic, partition))
        if prod is None:
            self._require()
            client = self._producing
            fluvio = fluvio_client()
            last: Exception | None = None
            config = self._producer_config(partition)
            for attempt in range(50):
                try:
                    prod = await asyncio.to_thread(client.topic_producer_with_config, topic, config)
                    break
                except fluvio.FluviorError as err:
                    last = err
                    await asyncio.sleep(min(0.05 * (attempt + 1), 0.5))
            else:
                raise BusError(f"cannot produce to {topic}: {last}")
            self._producers[(topic, partition)] = prod
        return prod

    @staticmethod
    def _producer_config(partition: int) -> Any:
        """Pinned to one partition (we choose it: `partition_of`); every send goes out at once (orders
        must not wait for a batch to fill; a burst is one `send_all`), and a request may be larger than the
        client's 1 MiB default."""
        fluvio = fluvio_client()
        return (
            fluvio.TopicProducerConfigBuilder()
            .linger(0)
            .max_request_size(MAX_REQUEST_BYTES)
            .batch_size(MAX_REQUEST_BYTES)
            .set_specific_partitioner(partition)
            .build()
        )

    @staticmethod
    def _consumer_config() -> Any:
        """A fetch of up to MAX_FETCH_BYTES: a reader that is behind gets more per round-trip, and a fetch
        answer ends inside a batch (which the client mishandles, see the module's docstring) less often. The
        Python wrapper does not expose the setting; its inner config does."""
        fluvio = fluvio_client()
        config = fluvio.ConsumerConfig()
        config._inner.max_bytes(MAX_FETCH_BYTES)
        return config

    async def publish(self, topic: str, key: str, value: bytes) -> int:
        part = partition_of(key, await self._partition_count(topic))
        prod = await self._producer(topic, part)
        fluvio = fluvio_client()
        try:
            # No flush: the producer lingers 0 ms, so the record goes out at once, and its offset comes with
            # the cluster's answer. A flush waited for that answer a second time (~1.1 ms a publish with it,
            # ~0.7 ms without, on the local cluster): the indicator publishes each signal this way.
            out = await prod.async_send(key.encode("utf-8"), value)
            meta = await out.async_wait()
        except fluvio.FluviorError as err:
            raise BusError(f"publish to {topic} failed: {err}") from None
        if meta is None:
            raise BusError(f"publish to {topic}: the cluster returned no offset")
        return int(meta.offset())

    async def publish_many(self, topic: str, records: Sequence[tuple[str, bytes]]) -> list[int]:
        """One record per message; one `send_all` request per partition."""
        return await self._send(topic, records, [(key, [i]) for i, (key, _) in enumerate(records)])

    async def publish_bundled(self, topic: str, records: Sequence[tuple[str, bytes]]) -> list[int]:
        """The burst as bundled records (fluvio_bundle): one `send_all` request per partition; returns each
        message's record offset (the messages of one bundle share it)."""
        return await self._send(topic, records, fluvio_bundle.bundles(records))

    async def _send(
        self, topic: str, records: Sequence[tuple[str, bytes]], groups: list[tuple[str, list[int]]]
    ) -> list[int]:
        if not records:
            return []
        count = await self._partition_count(topic)
        by_part: dict[int, list[tuple[str, list[int]]]] = {}
        for key, indexes in groups:
            by_part.setdefault(partition_of(key, count), []).append((key, indexes))
        offsets = [0] * len(records)
        fluvio = fluvio_client()
        for part, part_groups in by_part.items():
            prod = await self._producer(topic, part)
            batch = [
                (key.encode("utf-8"), fluvio_bundle.pack([records[i][1] for i in indexes]))
                for key, indexes in part_groups
            ]
            try:
                outs = await prod.async_send_all(batch)  # sent at once (linger 0): no flush, as in `publish`
                got = await self._offsets_of(outs)
            except fluvio.FluviorError as err:
                raise BusError(f"publish to {topic} failed: {err}") from None
            for (_, indexes), offset in zip(part_groups, got, strict=True):
                for i in indexes:
                    offsets[i] = offset
        return offsets

    @staticmethod
    async def _offsets_of(outs: list[Any]) -> list[int]:
        # Waiting for each record's offset costs more than sending it (~0.2 ms of Python each). A producer's
        # records get increasing offsets in one partition, so when the last is n - 1 past the first nobody
        # came in between and the offsets are that range; otherwise ask each.
        # (An output answers only its first wait: one record is waited for once.)
        first = await outs[0].async_wait()
        last = first if len(outs) == 1 else await outs[-1].async_wait()
        if first is not None and last is not None and last.offset() - first.offset() == len(outs) - 1:
            return list(range(int(first.offset()), int(last.offset()) + 1))
        metas = [await out.async_wait() for out in outs]
        if any(meta is None for meta in metas):
            raise BusError("publish: the cluster returned no offset")
        return [int(meta.offset()) for meta in metas]

    # --- consuming ---

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
        self._require()
        fluvio = fluvio_client()
        count = await self._partition_count(topic)
        parts = list(range(count)) if partitions is None else sorted(set(partitions))
        if not parts or any(p < 0 or p >= count for p in parts):
            raise BusError(f"{topic} has partitions 0..{count - 1}, not {list(partitions or [])}")

        async def open_stream(part: int, offset: int | None) -> Any:
            at = fluvio.Offset.beginning() if offset is None else fluvio.Offset.absolute(offset)
            consumer = await self._partition_consumer(topic, part)
            # The client's own stream, not its Python wrapper: the wrapper's async generator and record object
            # cost ~20 % of a busy reader's time; the inner record has the same methods.
            return await consumer._inner.async_stream_with_config(at, self._consumer_config()._inner)

        if consumer is not None:
            self._offsets_topic()  # a named consumer needs one: say so now, not at its first commit
        commit: Commit | None = None
        readers = []
        try:
            for part in parts:
                position = await self._position(topic, part, start)
                if consumer is not None and start.kind == "committed":
                    done = await self._committed(consumer, topic, part)
                    if done is not None:
                        position = done + 1
                    if position is not None:
                        # Pin where this subscription starts: a worker restarted before it commits anything
                        # resumes here, not at a later end (and the key is fresh at the offsets topic's end).
                        await self._commit(consumer, topic, part, position - 1)
                readers.append(PartitionReader(part, await open_stream(part, position), position))
        except fluvio.FluviorError as err:
            raise BusError(f"cannot subscribe to {topic}: {err}") from None
        if consumer is not None:
            name = consumer

            async def commit(part: int, offset: int) -> None:
                await self._commit(name, topic, part, offset)

        sub = FluvioSubscription(topic, readers, open_stream, commit)
        self._subs.add(sub)
        return sub

    async def _partition_consumer(self, topic: str, partition: int) -> Any:
        """The client's consumer of one partition, made once per handle: making one is a blocking call, and
        a blocking call made while a stream of this process receives can wait 60 s (see connect)."""
        consumer = self._part_consumers.get((topic, partition))
        if consumer is None:
            client = self._require()
            consumer = await asyncio.to_thread(client.partition_consumer, topic, partition)
            self._part_consumers[(topic, partition)] = consumer
        return consumer

    async def _position(self, topic: str, partition: int, start: Start) -> int | None:
        """The absolute offset a subscription starts at, or None when the stream starts at the partition's
        first retained record ("beginning"). An end the cluster did not say within END_PROBE_S is taken as
        an empty partition's (see `_last_offset`)."""
        kind = start.kind if start.kind != "committed" else start.fallback
        if kind == "absolute":
            return start.offset
        if kind == "end":
            # An empty partition's end is offset 0: a named consumer pins that (nothing done yet), so if it
            # restarts before its first commit it still reads what was published meanwhile.
            last = await self._last_offset(topic, partition)
            return 0 if last is None else last + 1
        return None

    async def end_offset(self, topic: str, partition: int = 0) -> int:
        """The offset the next record published to `partition` will get: one past the last record. A
        partition whose last record does not come within END_PROBE_S counts as empty (0): said in the log."""
        last = await self._last_offset(topic, partition)
        return 0 if last is None else last + 1

    async def _last_offset(self, topic: str, partition: int = 0) -> int | None:
        """The offset of the partition's last record, or None when none came within END_PROBE_S (an empty
        partition, or a cluster that slow).

        The client has no "high watermark" call, so this reads from one record before the end. Only the
        async stream will do: the blocking stream holds the GIL while it waits, and when an async stream of
        the same process receives a record meanwhile the two deadlock and the process freezes; the async
        stream with continuous mode off panics at the end (client 0.21), printing a Rust panic."""
        self._require()
        fluvio = fluvio_client()
        try:
            part = await self._partition_consumer(topic, partition)
            stream = await part.async_stream(fluvio.Offset.from_end(1))
        except fluvio.FluviorError as err:
            raise BusError(f"the end of {topic} is not known: {err}") from None
        reading = asyncio.ensure_future(stream.__anext__())
        try:
            rec = await asyncio.wait_for(asyncio.shield(reading), END_PROBE_S)
        except TimeoutError:
            reading.cancel()
            log.info("%s[%d]: no record within %g s; taken as empty", topic, partition, END_PROBE_S)
            return None
        except fluvio.FluviorError as err:
            raise BusError(f"the end of {topic} is not known: {err}") from None
        return int(rec.offset())

    # --- committed offsets (on the cluster) ---

    def _offsets_topic(self) -> str:
        if self.offsets_topic is None:
            raise BusError(
                "named consumers need the bus's offsets topic (FluvioBus(offsets_topic=...); open_bus sets it)"
            )
        return self.offsets_topic

    async def _offset_book(self) -> fluvio_offsets.OffsetBook:
        # (The offsets topic was made on connect: an admin call after streams start can stall.)
        if self._offsets is None:
            self._offsets = fluvio_offsets.OffsetBook(self._read_offsets, self._offsets_end)
        return self._offsets

    async def _offsets_end(self) -> int:
        return await self.end_offset(self._offsets_topic())

    async def _read_offsets(self, start: int, end: int) -> list[bytes]:
        """The values of the offsets topic's records start..end-1 (bundles cannot occur: one per commit)."""
        if end <= start:
            return []
        sub = await self.subscribe(self._offsets_topic(), Start.at(start))
        out: list[bytes] = []
        try:
            while (sub.position or 0) < end:
                item = await asyncio.wait_for(sub.__anext__(), 30)
                if type(item) is Record:
                    out.append(item.value)
        finally:
            await self._drop(sub)
        return out

    async def read_committed(self, consumer: str, topic: str, partition: int = 0) -> int | None:
        """The offset a named consumer (of any process or machine) last committed, read from the cluster now
        (None: nothing committed). For tools and tests that watch a worker's progress."""
        return await fluvio_offsets.OffsetBook(self._read_offsets, self._offsets_end).get(consumer, topic, partition)

    async def _committed(self, consumer: str, topic: str, partition: int) -> int | None:
        return await (await self._offset_book()).get(consumer, topic, partition)

    async def _commit(self, consumer: str, topic: str, partition: int, offset: int) -> None:
        book = await self._offset_book()
        await self.publish(
            self._offsets_topic(),
            fluvio_offsets.key_of(consumer, topic, partition),
            fluvio_offsets.encode(consumer, topic, partition, offset),
        )
        book.put(consumer, topic, partition, offset)

    async def _drop(self, sub: Subscription) -> None:
        assert isinstance(sub, FluvioSubscription)
        await sub.close()
        self.repairs += sub.repairs
        self._subs.discard(sub)

    async def close(self) -> None:
        subs, self._subs = self._subs, set()
        for sub in subs:
            await sub.close()  # writes the commits it held back first
            self.repairs += sub.repairs
        for prod in self._producers.values():
            try:
                # Every publish already waited for its offset; this only guards against a stuck connection.
                await asyncio.wait_for(prod.async_flush(), CLOSE_TIMEOUT_S)
            except Exception as err:  # noqa: BLE001 - closing: report whatever it is, don't raise
                log.warning("fluvio flush on close failed: %s", type(err).__name__)
        self._producers.clear()
        self._fluvio = None
        self._producing = None
        self._admin = None
