"""Bounded waits and bus readers for the desk tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from tui_trader import messages as m
from tui_trader.bus import EmbeddedBus, Start

from . import canned

SMALL = (80, 24)
LARGE = (160, 48)


async def wait_for(pilot, condition: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    """Let the app run until `condition()` holds; fail naming `what` after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await pilot.pause(0.02)


async def ready(pilot) -> None:
    """Wait until the desk's bridge has subscribed (before that, nothing is read)."""
    await wait_for(pilot, lambda: pilot.app.bridge is not None, "the desk's bridge to open")


async def feed(pilot, bus, batches=None) -> None:
    """Publish the canned session batch by batch, one UI tick each (deterministic panes)."""
    await ready(pilot)
    for batch in canned.batches() if batches is None else batches:
        await canned.publish(bus, batch)
        await pilot.app.refresh_desk()
    await pilot.pause()


async def records(bus: EmbeddedBus, topic: str) -> list:
    """Every message published on a topic so far."""
    end = await bus.end_offset(topic)
    sub = await bus.subscribe(topic, Start.BEGINNING, tracked=False)  # type: ignore[attr-defined]
    decoder = m.Decoder()
    out = []
    try:
        while end > 0:
            rec = await sub.__anext__()
            out.append(decoder.decode(topic, rec.value))
            if rec.offset + 1 >= end:
                break
    finally:
        await sub.close()
    return out


async def controls(bus: EmbeddedBus) -> list[tuple[str, str | None, str]]:
    return [(c.command, c.arg, c.origin) for c in await records(bus, m.CONTROL)]


async def type_keys(pilot, *keys: str) -> None:
    """Key presses posted as the terminal driver posts them, in one go, then one wait for the app to settle.
    (`Pilot.press` waits for the process to go idle after every key: seconds per field on a loaded machine.)"""
    from textual import events

    app = pilot.app
    for key in keys:
        event = events.Key(key, key if len(key) == 1 else None)
        event.set_sender(app)
        app.post_message(event)
    await pilot.pause()
