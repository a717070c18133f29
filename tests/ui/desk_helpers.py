"""Readers of the bus, a stand-in for the router's answers, and start-up waits for the desk tests (bounded
waits: kit.until)."""

from __future__ import annotations

import desk_canned as canned
from kit import until

from tui_trader import messages as m
from tui_trader.bus import EmbeddedBus, Start
from tui_trader.portfolio.router_core import RouterCore
from tui_trader.settings import Settings

SMALL = (80, 24)
LARGE = (160, 48)


async def answer_controls(bus, clock) -> None:
    """The router's part in a desk test with no pipeline: the real RouterCore takes every Control and its
    Health record is published as the router worker publishes it, so the desk shows paused and halted the
    way it does live (from the router, never by itself). Its orders are not published: the canned session
    stays as recorded."""
    core = RouterCore(Settings())
    sub = await bus.subscribe(m.CONTROL, Start.BEGINNING, tracked=False)
    decoder = m.Decoder()
    try:
        async for rec in sub:
            c = decoder.decode(m.CONTROL, rec.value)
            now = clock.now_ms()
            if core.on_control(c, now).state_changed:
                state, detail = core.state()
                h = m.Health(component=m.ROUTER_COMPONENT, state=state, detail=detail, halt=core.halt_state, ts=now)
                await bus.publish(m.HEALTH, m.ROUTER_COMPONENT, m.encode(h))
    finally:
        await sub.close()


async def ready(pilot, router: bool = True) -> None:
    """Wait until the desk's bridge has subscribed (before that, nothing is read); with `router`, a stand-in
    answers the desk's controls (answer_controls) for as long as the app runs."""
    app = pilot.app
    await until(lambda: app.bridge is not None, "the desk's bridge to open")
    # Once the bridge has made the topics; it reads the controls from the beginning, so none is missed.
    if router and app.runner is None and not any(w.group == "test-router" for w in app.workers):
        app.run_worker(answer_controls(app._bus, app.clock), group="test-router", exit_on_error=False)


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
    sub = await bus.subscribe(topic, Start.BEGINNING, tracked=False)
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
