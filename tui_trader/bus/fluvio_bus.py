"""The Fluvio bus: the real `fluvio` client (one partition per topic).

The client's `connect`, admin calls and the offset-managed consumer iterator block, so they run in threads
(`asyncio.to_thread`) with a timeout on connect; producing and plain streaming use the client's async
variants. Errors from the client (`FluviorError`) become `BusError` with the endpoint and the reason.

The `fluvio` package is imported lazily: the embedded bus never needs it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Iterable

from tui_trader.bus.base import Bus, Gap, Record, Start, Subscription
from tui_trader.errors import BusError

log = logging.getLogger(__name__)


def _client() -> Any:
    try:
        import fluvio
    except ImportError as err:  # pragma: no cover - fluvio is a declared dependency
        raise BusError(f"the fluvio client is not installed ({err}); bus.backend = \"embedded\" needs no server") from None
    return fluvio


def unreachable_message(endpoint: str, reason: str) -> str:
    where = endpoint or "the active profile in ~/.fluvio/config"
    return (
        f"cannot reach the Fluvio cluster at {where}: {reason}. "
        'Start the cluster, fix bus.fluvio_endpoint, or set bus.backend = "embedded" (needs no server).'
    )


class _FluvioSubscription(Subscription):
    """Plain stream (async) or, for a named consumer, the offset-managed iterator (blocking, in a thread)."""

    def __init__(self, topic: str, stream: Any = None, iterator: Any = None) -> None:
        self.topic = topic
        self._stream = stream
        self._iterator = iterator
        self._closed = False

    async def __anext__(self) -> Record | Gap:
        if self._closed:
            raise StopAsyncIteration
        fluvio = _client()
        try:
            if self._iterator is not None:
                rec = await asyncio.to_thread(next, self._iterator, None)
                if rec is None:
                    raise StopAsyncIteration
            else:
                rec = await self._stream.__anext__()
        except fluvio.FluviorError as err:
            raise BusError(f"fluvio stream on {self.topic} failed: {err}") from None
        if self._closed:
            raise StopAsyncIteration
        return Record(self.topic, rec.key_string(), bytes(rec.value()), rec.offset(), rec.timestamp())

    async def commit(self, offset: int) -> None:
        """Commit the consumer's position. The iterator is never read ahead, so its position is `offset`."""
        if self._iterator is None:
            raise BusError("commit needs a named consumer (subscribe(..., consumer=NAME))")
        it = self._iterator

        def _commit() -> None:
            it.offset_commit()
            it.offset_flush()

        await asyncio.to_thread(_commit)

    async def close(self) -> None:
        self._closed = True
        stream, self._stream = self._stream, None
        if stream is not None and hasattr(stream, "aclose"):
            try:
                await stream.aclose()
            except RuntimeError:  # still being iterated by a cancelled task
                pass


class FluvioBus(Bus):
    backend = "fluvio"

    def __init__(self, endpoint: str = "", connect_timeout_s: float = 5.0) -> None:
        self.endpoint = endpoint
        self.connect_timeout_s = connect_timeout_s
        self._fluvio: Any = None
        self._admin: Any = None
        self._producers: dict[str, Any] = {}
        self._subs: set[_FluvioSubscription] = set()

    async def connect(self) -> "FluvioBus":
        fluvio = _client()

        def _connect() -> tuple[Any, Any]:
            if self.endpoint:
                client = fluvio.Fluvio.connect_with_config(fluvio.FluvioConfig.new(self.endpoint))
                admin = fluvio.FluvioAdmin.connect_with_config(fluvio.FluvioConfig.new(self.endpoint))
            else:
                client = fluvio.Fluvio.connect()
                admin = fluvio.FluvioAdmin.connect()
            return client, admin

        try:
            self._fluvio, self._admin = await asyncio.wait_for(asyncio.to_thread(_connect), self.connect_timeout_s)
        except asyncio.TimeoutError:
            raise BusError(unreachable_message(self.endpoint, f"no answer within {self.connect_timeout_s:g} s")) from None
        except fluvio.FluviorError as err:
            raise BusError(unreachable_message(self.endpoint, str(err))) from None
        return self

    def _require(self) -> Any:
        if self._fluvio is None:
            raise BusError("the Fluvio bus is not connected (or was closed)")
        return self._fluvio

    async def create_topics(self, topics: Iterable[str]) -> None:
        self._require()
        fluvio = _client()
        wanted = list(topics)
        admin = self._admin

        def _create() -> None:
            existing = {t.name() for t in admin.list_topics(wanted)}
            for name in wanted:
                if name not in existing:
                    admin.create_topic(name)

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
            client = self._require()
            fluvio = _client()
            last: Exception | None = None
            for attempt in range(50):
                try:
                    prod = await asyncio.to_thread(client.topic_producer, topic)
                    break
                except fluvio.FluviorError as err:
                    last = err
                    await asyncio.sleep(min(0.05 * (attempt + 1), 0.5))
            else:
                raise BusError(f"cannot produce to {topic}: {last}")
            self._producers[topic] = prod
        return prod

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
        return meta.offset()

    async def subscribe(
        self,
        topic: str,
        start: Start = Start.END,  # type: ignore[attr-defined]
        *,
        consumer: str | None = None,
        conflate: bool = False,
        tracked: bool = True,
    ) -> Subscription:
        client = self._require()
        fluvio = _client()
        offset = self._offset(start)
        try:
            if consumer is not None:
                builder = fluvio.ConsumerConfigExtBuilder(topic)
                builder.partition(0)
                builder.offset_start(offset)
                builder.offset_consumer(consumer)
                builder.offset_strategy(fluvio.OffsetManagementStrategy.MANUAL)
                config = builder.build()
                iterator = await asyncio.to_thread(client.consumer_with_config, config)
                sub = _FluvioSubscription(topic, iterator=iterator)
            else:
                part = await asyncio.to_thread(client.partition_consumer, topic, 0)
                stream = await part.async_stream(offset)
                sub = _FluvioSubscription(topic, stream=stream)
        except fluvio.FluviorError as err:
            raise BusError(f"cannot subscribe to {topic}: {err}") from None
        self._subs.add(sub)
        return sub

    @staticmethod
    def _offset(start: Start) -> Any:
        Offset = _client().Offset
        if start.kind == "beginning":
            return Offset.beginning()
        if start.kind == "end":
            return Offset.end()
        if start.kind == "absolute":
            return Offset.absolute(start.offset)
        # "committed": the offset consumer resumes from its committed offset; this is where it starts
        # when nothing is committed yet.
        return Offset.beginning() if start.fallback == "beginning" else Offset.end()

    async def close(self) -> None:
        self._closed = True
        stream, self._stream = self._stream, None
        if stream is not None and hasattr(stream, "aclose"):
            try:
                await stream.aclose()
            except RuntimeError:  # still being iterated by a cancelled task
                pass


class FluvioBus(Bus):
    backend = "fluvio"

    def __init__(self, endpoint: str = "", connect_timeout_s: float = 5.0) -> None:
        self.endpoint = endpoint
        self.connect_timeout_s = connect_timeout_s
        self._fluvio: Any = None
        self._admin: Any = None
        self._producers: dict[str, Any] = {}
        self._subs: set[_FluvioSubscription] = set()

    async def connect(self) -> "FluvioBus":
        fluvio = _client()

        def _connect() -> tuple[Any, Any]:
            if self.endpoint:
                client = fluvio.Fluvio.connect_with_config(fluvio.FluvioConfig.new(self.endpoint))
                admin = fluvio.FluvioAdmin.connect_with_config(fluvio.FluvioConfig.new(self.endpoint))
            else:
                client = fluvio.Fluvio.connect()
                admin = fluvio.FluvioAdmin.connect()
            return client, admin

        try:
            self._fluvio, self._admin = await asyncio.wait_for(asyncio.to_thread(_connect), self.connect_timeout_s)
        except asyncio.TimeoutError:
            raise BusError(unreachable_message(self.endpoint, f"no answer within {self.connect_timeout_s:g} s")) from None
        except fluvio.FluviorError as err:
            raise BusError(unreachable_message(self.endpoint, str(err))) from None
        return self

    def _require(self) -> Any:
        if self._fluvio is None:
            raise BusError("the Fluvio bus is not connected (or was closed)")
        return self._fluvio

    async def create_topics(self, topics: Iterable[str]) -> None:
        self._require()
        fluvio = _client()
        wanted = list(topics)
        admin = self._admin

        def _create() -> None:
            existing = {t.name() for t in admin.list_topics(wanted)}
            for name in wanted:
                if name not in existing:
                    admin.create_topic(name)

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
            client = self._require()
            fluvio = _client()
            last: Exception | None = None
            for attempt in range(50):
                try:
                    prod = await asyncio.to_thread(client.topic_producer, topic)
                    break
                except fluvio.FluviorError as err:
                    last = err
                    await asyncio.sleep(min(0.05 * (attempt + 1), 0.5))
            else:
                raise BusError(f"cannot produce to {topic}: {last}")
            self._producers[topic] = prod
        return prod

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
        return meta.offset()

    async def subscribe(
        self,
        topic: str,
        start: Start = Start.END,  # type: ignore[attr-defined]
        *,
        consumer: str | None = None,
        conflate: bool = False,
        tracked: bool = True,
    ) -> Subscription:
        client = self._require()
        fluvio = _client()
        offset = self._offset(start)
        try:
            if consumer is not None:
                builder = fluvio.ConsumerConfigExtBuilder(topic)
                builder.partition(0)
                builder.offset_start(offset)
                builder.offset_consumer(consumer)
                builder.offset_strategy(fluvio.OffsetManagementStrategy.MANUAL)
                config = builder.build()
                iterator = await asyncio.to_thread(client.consumer_with_config, config)
                sub = _FluvioSubscription(topic, iterator=iterator)
            else:
                part = await asyncio.to_thread(client.partition_consumer, topic, 0)
                stream = await part.async_stream(offset)
                sub = _FluvioSubscription(topic, stream=stream)
        except fluvio.FluviorError as err:
            raise BusError(f"cannot subscribe to {topic}: {err}") from None
        self._subs.add(sub)
        return sub

    @staticmethod
    def _offset(start: Start) -> Any:
        Offset = _client().Offset
        if start.kind == "beginning":
            return Offset.beginning()
        if start.kind == "end":
            return Offset.end()
        if start.kind == "absolute":
            return Offset.absolute(start.offset)
        # "committed": the offset consumer resumes from its committed offset; this is where it starts
        # when nothing is committed yet.
        return Offset.beginning() if start.fallback == "beginning" else Offset.end()

    async def end_offset(self, topic: str) -> int:
        # The client has no "high watermark" call: produce nothing, read from the end with a short wait.
        raise BusError("end_offset is not available on the Fluvio bus")

    async def close(self) -> None:
        subs, self._subs = self._subs, set()
        for sub in subs:
            await sub.close()
        for prod in self._producers.values():
            try:
                await prod.async_flush()
            except Exception as err:  # closing: report, don't raise
                log.warning("fluvio flush on close failed: %s", err)
        self._producers.clear()
        self._fluvio = None
        self._admin = None
