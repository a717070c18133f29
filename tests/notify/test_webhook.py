"""The notifier worker on the embedded bus, sending through apprise to a loopback webhook that receives
apprise's JSON: each event kind arrives; a slow or dead webhook never holds the worker up; a failure is
logged once, and no text ever holds the URL's secrets."""

from __future__ import annotations

import asyncio
import logging
from typing import Self

import msgspec
import pytest
from kit import closed_port, until
from notify_helpers import DAY, T0, Webhook, fill, health, kill

from tui_trader import messages as m
from tui_trader import reconcile as rc
from tui_trader.bus import EmbeddedBus
from tui_trader.clock import FixedClock
from tui_trader.settings import NotifySettings, Settings
from tui_trader.workers import WorkerContext
from tui_trader.workers.notifier import NotifierWorker

SEC = 1000


class Notifier:
    """A notifier worker on its own embedded bus with a clock the test moves."""

    def __init__(self, urls: list[str], **notify) -> None:
        self.bus = EmbeddedBus()
        self.clock = FixedClock(T0)
        self.health: list[m.Health] = []
        settings = Settings(notify=NotifySettings(**notify))
        self.ctx = WorkerContext(
            settings=settings,
            bus=self.bus,
            clock=self.clock,
            on_health=self.health.append,
            shared={"notify_urls": urls},
        )
        self.worker = NotifierWorker(self.ctx)
        self.task: asyncio.Task | None = None

    async def __aenter__(self) -> Self:
        await self.bus.create_topics(m.TOPICS)
        self.task = asyncio.create_task(self.worker.run())
        topics = [self.bus.cluster.topic(t) for t in (m.ORDER_STATUS, m.CONTROL, m.HEALTH, m.ACCOUNT)]
        await until(lambda: all(t.subs for t in topics), "the notifier's subscriptions")
        return self

    async def __aexit__(self, *exc) -> None:
        assert self.task is not None
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.bus.close()

    async def send(self, topic: str, msg, at: int | None = None) -> None:
        self.clock.set(at if at is not None else msg.ts)
        await self.bus.publish(topic, getattr(msg, "symbol", getattr(msg, "component", "desk")), m.encode(msg))

    def notify_health(self) -> list[m.Health]:
        return [h for h in self.health if h.component == "notify"]


@pytest.fixture
async def webhook():
    hook = await Webhook().start()
    yield hook
    await hook.stop()


async def test_each_event_kind_arrives_at_the_webhook_as_apprise_json(webhook):
    diff = rc.Difference(
        id="untracked_position:ETHUSDT",
        kind="untracked_position",
        symbol="ETHUSDT",
        exchange=rc.ExchangePosition(symbol="ETHUSDT", side="long", quantity=0.5, entry_price=2500.0),
    )
    async with Notifier([webhook.url], feed_down_after_s=30) as n:
        await n.send(m.ORDER_STATUS, fill("e1", stop_loss_price=58_200.0, take_profit_price=63_600.0))
        await n.send(m.ORDER_STATUS, fill("e1:sl", purpose="stop_loss", side="sell", price=58_200.0, ts=T0 + SEC))
        await n.send(m.ORDER_STATUS, fill("e2", ts=T0 + 2 * SEC))
        await n.send(m.ORDER_STATUS, fill("e2:tp", purpose="take_profit", side="sell", price=63_600.0, ts=T0 + 3 * SEC))
        await n.send(m.HEALTH, health("router", "daily_loss_limit", "loss of 5.0% reached", ts=T0 + 4 * SEC))
        await n.send(
            m.HEALTH, health("worker:indicator", "failed", "worker indicator crashed 6 times in a row", ts=T0 + 5 * SEC)
        )
        await n.send(m.HEALTH, health("feed:public-1", "stale", "no message for 10 s: BTCUSDT", ts=T0 + 6 * SEC))
        await n.send(
            m.HEALTH,
            health(
                m.WATCHDOG_COMPONENT,
                "alarm",
                "BTCUSDT without protection for 5.1 s",
                symbols=["BTCUSDT"],
                ts=T0 + 7 * SEC,
            ),
        )
        question = m.ReconcileQuestion(round="r1", exchange="binanceusdm", differences=[diff])
        await n.send(
            m.HEALTH, msgspec.structs.replace(health("reconcile", "waiting", ts=T0 + 8 * SEC), question=question)
        )
        await n.send(m.CONTROL, kill(ts=T0 + 9 * SEC, arg="f12"))
        await n.send(
            m.HEALTH,
            health(
                "feed:public-2", "down", "cannot resolve fstream.binance.com; reconnecting in 5.4 s", ts=T0 + 10 * SEC
            ),
        )
        await until(lambda: len(webhook.received) >= 10, "the first ten notices")
        n.clock.set(T0 + 45 * SEC)  # the feed has been down 35 s: the worker's tick sends it
        await until(lambda: len(webhook.received) >= 11, "the feed-down notice (on the tick)")
        n.clock.set(T0 + DAY + SEC)  # the UTC day rolls over
        await until(lambda: len(webhook.received) >= 12, "the daily summary")
        await until(lambda: n.notify_health()[-1].counters["sent"] == 12, "the sent count in Health")

    titles = webhook.titles()
    expected = [
        "Entry filled: BTCUSDT buy",
        "Stop-loss hit: BTCUSDT",
        "Entry filled: BTCUSDT buy",
        "Take-profit hit: BTCUSDT",
        "HALT: daily loss limit",
        "HALT: indicator worker given up",
        "Feed public-1 stale",
        "ALARM: BTCUSDT at risk",
        "Reconciliation waiting for the desk",
        "KILL switch pulled",
        "Feed public-2 down",
        "Daily summary 2024-08-08",
    ]
    assert titles == [f"tui-trader: {t}" for t in expected]
    by_title = {r["title"]: r for r in webhook.received}
    assert {r["type"] for r in webhook.received} >= {"info", "warning", "success", "failure"}
    assert "stop-loss 58,200.00" in webhook.received[0]["message"]
    assert "reconnecting in 5.4 s" in by_title["tui-trader: Feed public-2 down"]["message"]
    summary = by_title["tui-trader: Daily summary 2024-08-08"]["message"]
    assert "4 fills, 2 closed trades" in summary and "realised +18.00 USDT" in summary
    last = n.notify_health()[-1]
    assert last.state == "ok" and last.counters["sent"] == 12 and last.counters["dropped"] == 0


async def test_a_slow_webhook_never_holds_the_worker_up_and_drops_are_counted():
    hook = await Webhook(delay_s=2.0).start()
    try:
        async with Notifier([hook.url], queue_size=3, max_per_minute=600) as n:
            for i in range(40):
                await n.send(m.ORDER_STATUS, fill(f"o{i}", ts=T0 + i))
            # Every record is handled at once: 40 fills seen while the webhook takes 2 s per notice (a worker
            # that waited for the webhook would need 80 s).
            await until(lambda: len(n.worker.rules.seen) == 40, "all fills handled", timeout=10)
            await until(
                lambda: n.notify_health() and n.notify_health()[-1].counters.get("dropped", 0) > 0,
                "the drop count in the notifier's Health",
            )
            counts, _ = n.worker.sender.snapshot()
            assert counts.queued + counts.dropped == 40
            assert counts.dropped >= 40 - 3 - 1  # queue of 3, one in flight
    finally:
        await hook.stop()


async def test_a_dead_webhook_is_reported_once_without_its_secrets_then_recovers(caplog):
    port = closed_port()
    url = f"json://trader:s3cretPassw0rd@127.0.0.1:{port}/hook"
    caplog.set_level(logging.DEBUG)  # every line any logger writes, apprise's debug lines included
    async with Notifier([url], max_per_minute=600) as n:
        for i in range(5):
            await n.send(m.ORDER_STATUS, fill(f"o{i}", ts=T0 + i))
        await until(lambda: n.worker.sender.snapshot()[0].failed == 5, "five failed sends")
        await until(
            lambda: n.notify_health() and n.notify_health()[-1].state == "failing", "the failing state in Health"
        )
        failing = n.notify_health()[-1]
        assert failing.counters["failed"] == 5 and failing.counters["failures_started"] == 1
        assert "url 1 (json)" in failing.detail
        warnings = [r for r in caplog.records if "sending failed" in r.getMessage()]
        assert len(warnings) == 1, "a failure is logged once, not per notice"

        # The service comes back on the same port: the next notice goes out and the failure is over.
        hook = Webhook()
        from aiohttp import web

        app = web.Application()
        app.router.add_post("/hook", hook._handle)
        hook.runner = web.AppRunner(app)
        await hook.runner.setup()
        await web.TCPSite(hook.runner, "127.0.0.1", port).start()
        try:
            await n.send(m.ORDER_STATUS, fill("o-back", ts=T0 + 10))
            await until(lambda: len(hook.received) == 1, "the notice after recovery")
            await until(lambda: n.notify_health()[-1].state == "ok", "Health ok again")
        finally:
            await hook.stop()
    texts = [r.getMessage() for r in caplog.records] + [h.detail for h in n.health]
    assert any("sending works again" in t for t in texts)
    for secret in ("s3cretPassw0rd", "trader", str(port)):
        assert not any(secret in t for t in texts), f"{secret!r} leaked"


async def test_unusable_urls_are_named_by_position_and_scheme_only(caplog):
    async with Notifier(["nosuchscheme://abcdefsecret/xyz"]) as n:
        await until(lambda: n.notify_health() and n.notify_health()[-1].state == "off", "the notifier's Health")
        h = n.notify_health()[-1]
    assert h.state == "off" and h.counters["invalid_urls"] == 1
    texts = [r.getMessage() for r in caplog.records] + [x.detail for x in n.health]
    assert any("url 1 (nosuchscheme)" in t for t in texts)
    assert not any("abcdefsecret" in t for t in texts)
