"""The only way data enters the desk: subscriptions to every topic, folded into a `DeskModel`.

The desk is a consumer like any other, with two promises to the pipeline:
- it never takes part in the replay's lockstep (`tracked=False`), so a slow screen cannot hold a replay;
- it never does work per market-data record that it does not need: market data, health and indicator values
  are conflated subscriptions, and market data is not even decoded per record. Only the newest record of each
  symbol is kept and folded once per UI tick. A record that carries its typed message (published in this
  process) is taken as it is; only bytes are decoded.

Two ways to read, chosen by what the bus can do:
- polled (the embedded bus, which knows its end offsets): nothing runs between UI ticks; `drain()`, called
  on the UI clock, takes what arrived since the last tick in slices (`take_ready`), not one coroutine per
  record. The pipeline pays nothing per record for the desk.
- streamed (Fluvio, where the desk usually runs away from the workers): one task per topic stores records
  as they come; `drain()` folds the newest market data.

Worker errors that are only logged (an exchange rejecting a request, a feed reconnecting) reach the trader
through `ErrorLogHandler`, which queues ERROR log records as notices; the desk shows them as notifications.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from typing import Any

from tui_trader import messages as m
from tui_trader.bus.base import Bus, Gap, Record, Start, Subscription
from tui_trader.bus.topics import create_pipeline_topics
from tui_trader.clock import Clock
from tui_trader.errors import TuiTraderError
from tui_trader.settings import Settings
from tui_trader.ui.state import DeskModel

log = logging.getLogger(__name__)

# Topics where only the newest record per key matters to the desk.
CONFLATED = (m.MARKET_DATA, m.HEALTH, m.INDICATOR_VALUES)
# Records read in one go before yielding to the event loop, so a large backlog cannot freeze the screen.
YIELD_EVERY = 500
# Market-data records taken at once: only the newest per symbol is kept, so a slice costs one store a record.
MARKET_SLICE = 4096
SEND_TIMEOUT_S = 5.0
# A log record carrying this attribute was already shown by the desk itself: not queued as a notice.
SHOWN_BY_DESK = "shown_by_desk"


class ErrorLogHandler(logging.Handler):
    """Collects ERROR records from the pipeline's loggers for the desk to show (thread-safe: a deque)."""

    def __init__(self, maxlen: int = 50) -> None:
        super().__init__(level=logging.ERROR)
        self.records: collections.deque[tuple[str, str]] = collections.deque(maxlen=maxlen)

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, SHOWN_BY_DESK, False):
            return
        try:
            text = record.getMessage().splitlines()[0]
        except Exception:  # noqa: BLE001 - a broken log call must not break the desk
            text = str(record.msg)
        self.records.append((record.name.rsplit(".", 1)[-1], text[:300]))


class DeskBridge:
    def __init__(self, bus: Bus, settings: Settings, clock: Clock, state: DeskModel, *, history: bool = True) -> None:
        """history: read every topic from its beginning (a fresh in-process bus, or an attached desk that
        wants the order log so far). Market data always starts at the end when attaching to a long-lived
        cluster (history=False), since only the newest price per symbol matters."""
        self.bus = bus
        self.settings = settings
        self.clock = clock
        self.state = state
        self.history = history
        self.decoder = m.Decoder()
        self.polled = False
        self._subs: dict[str, Subscription] = {}
        self._latest_md: dict[str, Record] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.errors = ErrorLogHandler()
        self._logger: logging.Logger | None = None

    def topic(self, base: str) -> str:
        return m.topic_name(base, self.settings.bus.topic_prefix)

    # --- lifecycle ------------------------------------------------------------------------------------

    async def open(self) -> None:
        """Create the topics if needed and subscribe to all of them (not tracked by lockstep)."""
        await create_pipeline_topics(self.bus, self.settings.bus)
        self.polled = await self._can_poll()
        for base in m.TOPICS:
            start = Start.BEGINNING if (self.history or base not in CONFLATED) else Start.END
            self._subs[base] = await self.bus.subscribe(
                self.topic(base), start, conflate=base in CONFLATED, tracked=False
            )
        if not self.polled:
            self._tasks = [asyncio.create_task(self._stream(b), name=f"desk:{b}") for b in m.TOPICS]
        self._logger = logging.getLogger("tui_trader")
        self._logger.addHandler(self.errors)

    async def _can_poll(self) -> bool:
        try:
            await self.bus.end_offset(self.topic(m.CONTROL))
        except (NotImplementedError, TuiTraderError):
            return False
        return True

    async def run(self) -> None:
        """Keep the streams going until cancelled (polled buses have nothing to run between ticks)."""
        if self._tasks:
            await asyncio.gather(*self._tasks)
        else:
            await asyncio.Event().wait()

    async def close(self) -> None:
        if self._logger is not None:
            self._logger.removeHandler(self.errors)
            self._logger = None
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        for sub in self._subs.values():
            await sub.close()
        self._subs.clear()

    # --- reading --------------------------------------------------------------------------------------

    async def drain(self) -> None:
        """Bring the state up to date (called on the UI clock)."""
        if self.polled:
            for base, sub in self._subs.items():
                await self._read_polled(base, sub)
        self._fold_market_data()
        while self.errors.records:
            source, text = self.errors.records.popleft()
            self.state.notice("error", f"Error in {source}", text)

    async def _read_polled(self, base: str, sub: Subscription) -> None:
        """Everything that arrived on one topic since the last tick: slices while the bus has them ready;
        a gap or a conflated backlog (which the bus hands over one item at a time) only while this
        subscription is behind the topic's end, so a drain never waits for a record."""
        take, latest = sub.take_ready, self._latest_md
        market = base == m.MARKET_DATA
        while True:
            if market:
                # Only the newest record per symbol is kept: a whole backlog costs one store per record, in
                # one go (yielding to the pipeline here would only give it time to publish more to chase).
                batch = take(MARKET_SLICE)
                for rec in batch:
                    latest[rec.key] = rec  # folded once per tick, not per record
            else:
                batch = take(YIELD_EVERY)
                for rec in batch:
                    self._fold(base, rec)
            if batch:
                self.state.records[base] += len(batch)
                if not market:  # each record folded: a long backlog lets the pipeline run between slices
                    await asyncio.sleep(0)
                continue
            if not await self._behind(base, sub):
                return
            item = await sub.__anext__()
            if type(item) is Gap:
                self.state.gaps[base] += item.missed
            else:
                self._take(base, item)  # type: ignore[arg-type]

    async def _behind(self, base: str, sub: Subscription) -> bool:
        topic = self.topic(base)
        for part, position in sub.positions().items():
            if (position or 0) < await self.bus.end_offset(topic, part):
                return True
        return False

    async def _stream(self, base: str) -> None:
        sub = self._subs[base]
        try:
            async for item in sub:
                if isinstance(item, Gap):
                    self.state.gaps[base] += item.missed
                    continue
                self._take(base, item)
        except asyncio.CancelledError:
            raise
        except Exception as err:  # the bus went away: tell the trader, keep the rest of the desk alive
            log.exception("desk subscription to %s ended", base)
            self.state.notice("error", "Bus", f"reading {base} stopped: {err}")

    def _take(self, base: str, rec: Record) -> None:
        self.state.records[base] += 1
        if base == m.MARKET_DATA:
            self._latest_md[rec.key] = rec  # folded once per tick, not per record
            return
        self._fold(base, rec)

    def _message(self, base: str, rec: Record) -> Any:
        """The record's message: the typed one it carries, else its bytes decoded (None if malformed)."""
        msg = rec.msg
        if msg is not None and type(msg) is m.TOPIC_TYPES[base]:
            return msg
        return self.decoder.decode_record(rec.topic, rec.value, rec.offset, base)

    def _fold(self, base: str, rec: Record) -> None:
        msg = self._message(base, rec)
        if msg is None:
            return
        handler = _HANDLERS[base]
        try:
            handler(self.state, msg)
        except Exception:  # one odd record must not stop the desk from folding the next
            log.exception("desk could not fold a %s record at offset %d", base, rec.offset)

    def _fold_market_data(self) -> None:
        if not self._latest_md:
            return
        latest, self._latest_md = self._latest_md, {}
        for rec in latest.values():
            md = self._message(m.MARKET_DATA, rec)
            if md is not None:
                self.state.on_market_data(md)

    def lag(self) -> dict[str, int]:
        """Records not yet read by the slowest consumer, per base topic."""
        raw = self.bus.lag()
        return {base: raw.get(self.topic(base), 0) for base in m.TOPICS}

    # --- writing --------------------------------------------------------------------------------------

    async def send(self, command: m.ControlCommand, arg: str | None = None, **fields: Any) -> m.Control:
        """Publish a Control record from the desk (`fields`: its typed payload); the workers act on it."""
        c = m.Control(command=command, arg=arg, origin="desk", ts=self.clock.now_ms(), **fields)
        await asyncio.wait_for(self.bus.publish(self.topic(m.CONTROL), "desk", m.encode(c)), SEND_TIMEOUT_S)
        return c


_HANDLERS: dict[str, Any] = {
    m.SIGNALS: DeskModel.on_signal,
    m.ORDERS: DeskModel.on_command,
    m.ORDER_STATUS: DeskModel.on_status,
    m.CONTROL: DeskModel.on_control,
    m.HEALTH: DeskModel.on_health,
    m.ACCOUNT: DeskModel.on_account,
    m.INDICATOR_VALUES: DeskModel.on_indicator_values,
}
