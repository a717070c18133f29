"""The real pipeline on a real capture with notifications to a slow or a dead webhook: the same trading as
without notifications, and the notices of its fills on their way (the throughput figures are a benchmark:
tests/notify/bench_notify.py)."""

from __future__ import annotations

import gzip
import socket

import pytest
from kit import until
from notify_helpers import Webhook

from tui_trader.notify.urls import ENV_URLS
from tui_trader.session import open_pipeline
from tui_trader.settings import Settings, parse, to_dict

LINES = 20_000  # the capture's first lines: a few entries and closes with tick bars


@pytest.fixture
def capture(btc_capture, tmp_path):
    out = tmp_path / "btcusdt_head.gz"
    with gzip.open(btc_capture, "rb") as src, gzip.open(out, "wb", compresslevel=1) as dst:
        for i, line in enumerate(src):
            if i == LINES:
                break
            dst.write(line)
    return out


def settings() -> Settings:
    data = to_dict(Settings())
    data["indicators"]["bar"] = "tick"
    data["notify"].update(replays=True, max_per_minute=600)
    return parse(data, "test")


async def play(capture, monkeypatch, url: str | None) -> tuple[dict, dict, dict | None]:
    if url is None:
        monkeypatch.delenv(ENV_URLS, raising=False)
    else:
        monkeypatch.setenv(ENV_URLS, url)
    async with open_pipeline(settings(), replay_files=[str(capture)], speed=None) as runtime:
        await runtime.wait(["collector"])
        await runtime.drain()
        router = runtime.workers["router"].summary()
        executor = runtime.workers["executor"].summary()
        notifier = runtime.workers.get("notifier")
        if notifier is not None:
            fills = executor["fills"]
            # The notifier reads behind the pipeline (nothing waits for it): bounded wait until it has seen them.
            await until(
                lambda: notifier.counters()["queued"] + notifier.counters()["dropped"] >= fills,
                "the notifier to queue every fill",
            )
            # Every notice out (sent or failed) before the webhook goes: no send outlives the test.
            await until(
                lambda: notifier.counters()["sent"] + notifier.counters()["failed"] == notifier.counters()["queued"],
                "every queued notice sent or failed",
                timeout=30,
            )
        return router, executor, notifier.counters() if notifier is not None else None


def trading(router: dict, executor: dict) -> dict:
    keys = ("signals", "entries", "closes", "denied", "fills", "positions", "realized_pnl", "fees", "equity")
    return {**{k: router[k] for k in keys}, "executor_fills": executor["fills"]}


async def test_a_slow_or_dead_webhook_changes_nothing_in_the_trading(capture, monkeypatch):
    off_router, off_exec, none = await play(capture, monkeypatch, None)
    assert none is None and off_exec["fills"] > 0

    slow = await Webhook(delay_s=0.2).start()
    try:
        r, e, counts = await play(capture, monkeypatch, slow.url)
    finally:
        await slow.stop()
    assert trading(r, e) == trading(off_router, off_exec)
    assert counts is not None and counts["queued"] >= off_exec["fills"]
    assert counts["sent"] == counts["queued"] and len(slow.received) == counts["sent"]

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"json://127.0.0.1:{s.getsockname()[1]}/hook"
    r, e, counts = await play(capture, monkeypatch, dead)
    assert trading(r, e) == trading(off_router, off_exec)
    assert counts is not None and counts["queued"] >= off_exec["fills"]
    assert counts["failed"] == counts["queued"] and counts["failures_started"] == 1
