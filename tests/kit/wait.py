"""A bounded wait on a condition, for tests whose subject runs on the same event loop."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

# Generous: a 2-core machine running several suites at once can stall a loop for seconds. A passing test
# never waits this long; only a failing one does.
WAIT_S = 15.0
# Short enough that a test ends soon after its condition holds; each turn also lets the loop run the subject.
POLL_S = 0.005


async def until(
    condition: Callable[[], object | Awaitable[object]],
    what: str,
    timeout: float = WAIT_S,
    *,
    poll_s: float = POLL_S,
) -> None:
    """Return as soon as `condition()` is truthy; raise AssertionError naming `what` after `timeout` seconds.

    `condition` may be a plain callable or return an awaitable (an async query of a bus or a server); it is
    checked once more at the deadline, so a slow loop cannot fail a condition that did come true.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if loop.time() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(poll_s)
