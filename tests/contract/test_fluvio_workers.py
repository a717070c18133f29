"""One worker per process on a real Fluvio cluster: `tui-trader worker router|executor` in subprocesses turn
a signal into a filled order, and a restarted router continues from its committed offsets.

Runs when TUI_TRADER_FLUVIO=host:port names a reachable cluster; skipped with that reason otherwise."""

from __future__ import annotations

import asyncio
import os
import re
import signal as sig
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from fluvio_kit import CREATED, FLUVIO, FLUVIO_SKIP

from tui_trader import messages as m
from tui_trader.bus import Start, fluvio_offsets
from tui_trader.bus.fluvio_bus import FluvioBus
from tui_trader.workers.router import WAITING_FOR_EXECUTOR

pytestmark = pytest.mark.skipif(not FLUVIO, reason=FLUVIO_SKIP)
ROOT = Path(__file__).resolve().parents[2]
T0 = 1_723_161_600_000


def settings(tmp_path: Path, prefix: str, name: str) -> Path:
    text = (ROOT / "settings.toml").read_text()
    text = text.replace('backend = "embedded"', 'backend = "fluvio"')
    text = text.replace('fluvio_endpoint = ""', f'fluvio_endpoint = "{FLUVIO}"')
    text = text.replace('topic_prefix = ""', f'topic_prefix = "{prefix}"')
    # Each worker's own journal in the test's folder (never the user's), whatever comment follows the key.
    text, n = re.subn(r'(?m)^\[journal\]\npath = ""', f'[journal]\npath = "{tmp_path / (name + ".sqlite3")}"', text)
    assert n == 1, "settings.toml no longer has [journal] path"
    conf = tmp_path / f"{name}.toml"
    conf.write_text(text)
    return conf


def start_worker(name: str, conf: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tui_trader", "worker", name, "--config", str(conf)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONFAULTHANDLER="1"),
    )


def stop_worker(proc: subprocess.Popen) -> str:
    proc.terminate()
    try:
        _, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        # Stuck: SIGABRT makes faulthandler (PYTHONFAULTHANDLER) print every thread's stack, to say where.
        proc.send_signal(sig.SIGABRT)
        _, err = proc.communicate(timeout=20)
        pytest.fail(f"worker did not stop within 20 s of SIGTERM:\n{err[-4000:]}")
    return err


async def next_of(sub, cls, timeout: float = 30.0):
    rec = await asyncio.wait_for(sub.__anext__(), timeout)
    return m.Decoder().decode("", rec.value, base_topic={v: k for k, v in m.TOPIC_TYPES.items()}[cls])


async def until_announced(health, components: set[str], timeout: float = 60.0) -> dict[str, m.Health]:
    """Wait until each component has published a Health record (a bounded wait on the condition); returns
    the first record of each."""
    missing = set(components)
    seen: dict[str, m.Health] = {}

    async def _read():
        async for rec in health:
            h = m.Decoder().decode("", rec.value, base_topic=m.HEALTH)
            if h.component in missing:
                missing.discard(h.component)
                seen[h.component] = h
            if not missing:
                return

    try:
        await asyncio.wait_for(_read(), timeout)
    except TimeoutError:
        pytest.fail(f"no Health record from {sorted(missing)} within {timeout:g} s")
    return seen


def market(price: float, ts: int) -> m.MarketData:
    return m.MarketData(
        symbol="BTCUSDT",
        kind="trade",
        price=price,
        volume=0.1,
        bid=price - 0.1,
        bid_qty=1,
        ask=price + 0.1,
        ask_qty=1,
        event_time=ts,
        recv_time=ts,
        ts=ts,
    )


def signal(kind: str, ts: int) -> m.TradingSignal:
    buy = kind.endswith("Buy")
    ind = m.Indicators(
        rsi=25,
        macd=1,
        macd_signal=0,
        macd_hist=1,
        bb_upper=1,
        bb_middle=1,
        bb_lower=1,
        sma_fast=2,
        sma_slow=1,
        ema_fast=2,
        ema_slow=1,
    )
    return m.TradingSignal(
        id=str(uuid.uuid4()),
        symbol="BTCUSDT",
        signal=kind,
        strength=1.0,
        buy_score=6 if buy else 0,
        sell_score=0 if buy else 6,
        reasons=[],
        indicators=ind,
        price=60_000.0,
        ts=ts,
    )


@pytest.mark.parametrize("router_first", [True, False], ids=["router-first", "executor-first"])
async def test_router_and_executor_processes_trade_over_fluvio_and_resume_after_a_restart(tmp_path, router_first):
    prefix = "t" + uuid.uuid4().hex[:8]

    def topic(base):
        return m.topic_name(base, prefix)

    bus = await FluvioBus(FLUVIO, connect_timeout_s=10, offsets_topic=topic(fluvio_offsets.BASE_TOPIC)).connect()
    router = executor = None
    try:
        await bus.create_topics(topic(t) for t in m.TOPICS)
        orders = await bus.subscribe(topic(m.ORDERS), Start.BEGINNING)
        statuses = await bus.subscribe(topic(m.ORDER_STATUS), Start.BEGINNING)
        health = await bus.subscribe(topic(m.HEALTH), Start.BEGINNING)
        # Workers start in any order. A router alone says it waits for an executor (and reads no signals);
        # an executor needs nobody. Each announces itself once it listens.
        if router_first:
            router = start_worker("router", settings(tmp_path, prefix, "router"))
            waiting = (await until_announced(health, {"router"}))["router"]
            assert (waiting.state, waiting.detail) == ("waiting", WAITING_FOR_EXECUTOR)
            executor = start_worker("executor", settings(tmp_path, prefix, "executor"))
            await until_announced(health, {m.MODE_COMPONENT})
        else:
            executor = start_worker("executor", settings(tmp_path, prefix, "executor"))
            await until_announced(health, {m.MODE_COMPONENT})
            router = start_worker("router", settings(tmp_path, prefix, "router"))
        # The executor prices paper orders from the market data it has read (orders and prices come on
        # separate streams): publish a price until its paper account answers, which it does on market data.
        accounts = await bus.subscribe(topic(m.ACCOUNT), Start.BEGINNING)
        for _attempt in range(60):
            now = time.time_ns() // 1_000_000
            await bus.publish(topic(m.MARKET_DATA), "BTCUSDT", m.encode(market(60_000.0, now)))
            try:
                await asyncio.wait_for(accounts.__anext__(), 1.0)
                break
            except TimeoutError:
                continue
        else:
            pytest.fail("the executor never consumed market data")
        # The router listens to signals and prices on separate streams, so the first buy may come before the
        # first price (denied): repeat the pair until an order comes (a repeat after the entry is "same
        # direction").
        for _attempt in range(30):
            now = time.time_ns() // 1_000_000
            await bus.publish(topic(m.MARKET_DATA), "BTCUSDT", m.encode(market(60_000.0, now)))
            await bus.publish(topic(m.SIGNALS), "BTCUSDT", m.encode(signal("StrongBuy", now)))
            try:
                cmd = await next_of(orders, m.OrderCommand, timeout=1.0)
                break
            except TimeoutError:
                continue
        else:
            pytest.fail("the router never turned a buy signal into an order")
        assert (cmd.purpose, cmd.side, cmd.symbol) == ("entry", "buy", "BTCUSDT")
        fill = await next_of(statuses, m.OrderStatus)
        while fill.order_id != cmd.id:  # the router's denials of the signals it saw before a price came
            assert fill.status == "rejected" and fill.purpose == "entry", fill
            fill = await next_of(statuses, m.OrderStatus)
        assert (fill.order_id, fill.status) == (cmd.id, "filled"), fill.error

        # Restart the router: it resumes after its committed offsets (a buy published while it is down is
        # read), handles the fill it may not have seen before any signal, and rebuilds its book from its
        # journal, so the second buy is "same direction" (no new order), and a sell closes the position.
        stop_worker(router)
        await bus.publish(topic(m.SIGNALS), "BTCUSDT", m.encode(signal("StrongBuy", now + 1)))
        router = start_worker("router", settings(tmp_path, prefix, "router"))
        await bus.publish(topic(m.SIGNALS), "BTCUSDT", m.encode(signal("StrongSell", now + 2)))
        close = await next_of(orders, m.OrderCommand)
        assert (close.purpose, close.side, close.reduce_only) == ("close", "sell", True)
        assert close.quantity == cmd.quantity
    finally:
        errors = [stop_worker(p) for p in (router, executor) if p is not None]
        await bus.close()
        CREATED.extend(topic(t) for t in (*m.TOPICS, fluvio_offsets.BASE_TOPIC))
    assert not any("Traceback" in e for e in errors), errors
