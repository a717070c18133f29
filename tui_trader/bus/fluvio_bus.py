"""The Fluvio bus: the real `fluvio` client (one partition per topic).

The client's `connect`, admin calls and the offset-managed consumer iterator block, so they run in threads
(`asyncio.to_thread`) with a timeout on connect; producing and plain streaming use the client's async
variants. Errors from the client (`FluviorError`) become `BusError` with the endpoint and the reason.

The `fluvio` package is imported lazily: the embedded bus never needs it.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from typing import Any, Callable, Iterable

from tui_trader.bus.base import Bus, Gap, Record, Start, Subscription
from tui_trader.errors import BusError

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 8 * 1024 * 1024


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


class _OwnThread:
    """One daemon thread that runs every call on an object the client forbids to leave its thread.

    The offset-managed consumer iterator is `unsendable` (it panics when used or dropped on another thread),
    and its `next` blocks until a record arrives, so it gets a thread of its own. A daemon thread: a read
    still waiting when the desk exits must not hold the exit up.
    """

    def __init__(self, name: str) -> None:
        self._calls: queue.SimpleQueue[tuple[Callable[[], Any], asyncio.Future[Any]] | None] = queue.SimpleQueue()
        self._loop = asyncio.get_running_loop()
        threading.Thread(target=self._serve, name=name, daemon=True).start()

    def _serve(self) -> None:
        while (item := self._calls.get()) is not None:
            fn, fut = item
            try:
                result: Any = fn()
            except BaseException as err:  # handed to the waiting coroutine, whatever it is
                self._settle(fut, None, err)
            else:
                self._settle(fut, result, None)

    def _settle(self, fut: asyncio.Future[Any], result: Any, err: BaseException | None) -> None:
        def settle() -> None:
            if fut.cancelled():
                return
            if err is not None:
                fut.set_exception(err)
            else:
                fut.set_result(result)

        try:
            self._loop.call_soon_threadsafe(settle)
        except RuntimeError:  # the loop is closed: nobody waits any more
            pass

    def call(self, fn: Callable[[], Any]) -> asyncio.Future[Any]:
        fut = self._loop.create_future()
        self._calls.put((fn, fut))
        return fut

    def stop(self, last: Callable[[], Any] | None = None) -> None:
        """Run `last` (drop the object) on the thread after whatever call is under way, then end it."""
        if last is not None:
            self._calls.put((last, self._loop.create_future()))
        self._calls.put(None)


class _FluvioSubscription(Subscription):
    """Plain stream (async, on the loop) or, for a named consumer, the offset-managed iterator (on its own
    thread). Closing ends a read that is waiting for a record: the iterator returns StopAsyncIteration."""

    def __init__(self, topic: str, stream: Any = None, thread: _OwnThread | None = None,
                 iterator: list[Any] | None = None) -> None:
        self.topic = topic
        self._stream = stream
        self._thread = thread
        self._iterator = iterator  # [iterator], owned by `thread`
        self._closed = asyncio.Event()
        self._reading: asyncio.Future[Any] | None = None

    def _read(self) -> asyncio.Future[Any]:
        if self._reading is None:
            if self._thread is not None:
                holder = self._iterator
                self._reading = self._thread.call(lambda: next(holder[0], None))  # type: ignore[index]
            else:
                self._reading = asyncio.ensure_future(self._stream.__anext__())
        return self._reading

    async def __anext__(self) -> Record | Gap:
        if self._closed.is_set():
            raise StopAsyncIteration
        fluvio = _client()
        reading = self._read()
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
        except StopAsyncIteration:
            raise
        except fluvio.FluviorError as err:
            raise BusError(f"fluvio stream on {self.topic} failed: {err}") from None
        if rec is None:
            raise StopAsyncIteration
        return Record(self.topic, rec.key_string(), bytes(rec.value()), rec.offset(), rec.timestamp())

    async def commit(self, offset: int) -> None:
        """Commit the consumer's position. The iterator is never read ahead, so its position is `offset`."""
        if self._thread is None:
            raise BusError("commit needs a named consumer (subscribe(..., consumer=NAME))")
        holder = self._iterator

        def _commit() -> None:
            holder[0].offset_commit()  # type: ignore[index]
            holder[0].offset_flush()  # type: ignore[index]

        await self._thread.call(_commit)

    async def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        if self._thread is not None:
            holder = self._iterator
            self._thread.stop(last=lambda: holder.clear())  # type: ignore[union-attr]
        elif self._reading is not None:
            self._reading.cancel()
            try:
                await self._reading
            except (asyncio.CancelledError, StopAsyncIteration, Exception):
                pass
        self._stream = None


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
                thread = _OwnThread(f"fluvio-{consumer}")
                holder: list[Any] = []
                await thread.call(lambda: holder.append(client.consumer_with_config(config)))
                sub = _FluvioSubscription(topic, thread=thread, iterator=holder)
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
                thread = _OwnThread(f"fluvio-{consumer}")
                holder: list[Any] = []
                await thread.call(lambda: holder.append(client.consumer_with_config(config)))
                sub = _FluvioSubscription(topic, thread=thread, iterator=holder)
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
