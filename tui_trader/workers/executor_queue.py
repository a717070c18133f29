"""The executor's live command queue: one command at a time, in order, except behind an ambiguous placement.

Network round-trips must not hold up market data, so live commands queue for one task. While the broker looks
an ambiguous placement up (until the request's window has passed, ~11 s) that command steps aside and the queue
moves on with the other symbols' commands (a close or a kill's flatten does not wait behind an unknown entry);
that symbol's own commands stay queued until it returns.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

from tui_trader import messages as m

# The queue's bound. When full, new entries are refused with a reason (they would be stale by the time they
# ran); closes, flattens and kills always queue: they only take risk off.
MAX_LIVE_QUEUE = 64


class LiveQueue:
    def __init__(self, log: logging.Logger) -> None:
        self.log = log
        self._queue: collections.deque[m.OrderCommand] = collections.deque()
        self._queued = asyncio.Event()
        self._running: dict[str, asyncio.Task[None]] = {}  # symbol → its live command under way
        self._aside = asyncio.Event()  # the running command's placement is being looked up: move on
        self._awaited = ""  # the symbol of the command the queue waits on
        self.tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._queue)

    def __iter__(self) -> Iterator[m.OrderCommand]:
        return iter(self._queue)

    @property
    def full(self) -> bool:
        return len(self._queue) >= MAX_LIVE_QUEUE

    def add(self, cmd: m.OrderCommand) -> None:
        self._queue.append(cmd)
        self._queued.set()

    def drop(self, dropped: Callable[[m.OrderCommand], bool]) -> list[m.OrderCommand]:
        """Take the queued commands `dropped` says go; the others keep their order."""
        kept: collections.deque[m.OrderCommand] = collections.deque()
        gone: list[m.OrderCommand] = []
        for cmd in self._queue:
            (gone if dropped(cmd) else kept).append(cmd)
        self._queue = kept
        return gone

    async def run(self, handle: Callable[[m.OrderCommand], Coroutine[Any, Any, None]]) -> None:
        """Hand each queued command to `handle`, one at a time (see the module's docstring); a failure of
        `handle` ends the queue with it."""
        while True:
            cmd = self._next_ready()
            if cmd is None:
                self._queued.clear()
                await self._queued.wait()
                continue
            task = asyncio.create_task(handle(cmd))
            self._running[cmd.symbol] = task
            self.tasks.add(task)
            task.add_done_callback(functools.partial(self._done, cmd.symbol))
            self._aside.clear()
            self._awaited = cmd.symbol
            aside = asyncio.create_task(self._aside.wait())
            try:
                await asyncio.wait({task, aside}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                aside.cancel()
            if task.done() and not task.cancelled():
                error = task.exception()
                if error is not None:
                    raise error

    def stepped_aside(self, symbol: str) -> None:
        """The broker looks the outcome of `symbol`'s placement up: the queue moves on without it."""
        if symbol != self._awaited:  # a command already aside (its protection now looked up): nothing waits on it
            return
        self.log.warning("%s: an order's outcome is being looked up; other symbols' commands go on meanwhile", symbol)
        self._aside.set()

    async def cancel(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks.clear()

    def _next_ready(self) -> m.OrderCommand | None:
        """The first queued command whose symbol has no command running (order kept within a symbol)."""
        for i, cmd in enumerate(self._queue):
            if cmd.symbol not in self._running:
                del self._queue[i]
                return cmd
        return None

    def _done(self, symbol: str, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if self._running.get(symbol) is task:
            del self._running[symbol]
        if not task.cancelled() and task.exception() is not None and not task.get_loop().is_closed():
            self.log.error("live command on %s failed: %r", symbol, task.exception())
        self._queued.set()  # its symbol's next command may go now
