"""Close one position across router and executor on one bus (the real workers): Control("close", symbol)
closes that position reduce-only and its stop-loss and take-profit are canceled, paper and live (mock
Binance), the others stay; it works while paused; nothing to close is refused with a row that says why."""

from __future__ import annotations

import msgspec
import pytest
from reckit import Desk, live_settings, set_keys, until
from test_mode_pipeline import signal

from tui_trader import messages as m


async def close(desk: Desk, symbol: str) -> None:
    c = m.Control(command="close", arg=symbol, origin="desk", ts=desk.ctx.clock.now_ms())
    await desk.bus.publish(m.CONTROL, "desk", m.encode(c))


def rows(desk: Desk, symbol: str, since: int = 0) -> list[tuple[str, str]]:
    return [(s.purpose, s.status) for s in desk.statuses[since:] if s.symbol == symbol]


@pytest.mark.parametrize("mode", ["paper", "live"])
async def test_close_one_takes_off_that_position_with_its_protection_and_leaves_the_other(
    mock, tmp_path, monkeypatch, mode
):
    set_keys(monkeypatch)
    settings = live_settings(mock.base_url, tmp_path / "journal.sqlite3", account_poll_s=0.2)
    settings = msgspec.structs.replace(
        settings, trading=msgspec.structs.replace(settings.trading, paper_trading=mode == "paper")
    )
    async with Desk(settings, router=True) as desk:
        await until(
            lambda: any(h.component == m.MODE_COMPONENT and h.state == mode for h in desk.health), f"{mode} mode"
        )
        core = desk.router.core
        await signal(desk, "BTCUSDT", 60_000.0)
        await until(lambda: "BTCUSDT" in core.portfolio.positions, "the BTC position")
        await signal(desk, "ETHUSDT", 2_500.0)
        await until(lambda: "ETHUSDT" in core.portfolio.positions, "the ETH position")
        await desk.control("pause")  # closing takes risk off: it goes out while paused too
        await until(lambda: core.paused, "the router to pause")
        mark = len(desk.statuses)
        await close(desk, "BTCUSDT")
        await until(lambda: ("close", "filled") in rows(desk, "BTCUSDT", mark), "the close's fill")
        assert sorted(rows(desk, "BTCUSDT", mark)) == [
            ("close", "filled"),
            ("stop_loss", "canceled"),
            ("take_profit", "canceled"),
        ]
        await until(lambda: "BTCUSDT" not in core.portfolio.positions, "the router to book it closed")
        assert "ETHUSDT" in core.portfolio.positions and rows(desk, "ETHUSDT", mark) == []
        if mode == "live":
            assert "BTCUSDT" not in mock.positions or mock.positions["BTCUSDT"]["amt"] == 0
            assert not [a for a in mock.algos.values() if a["symbol"] == "BTCUSDT" and a["algoStatus"] == "NEW"]
            assert len([a for a in mock.algos.values() if a["symbol"] == "ETHUSDT" and a["algoStatus"] == "NEW"]) == 2
        else:
            assert "BTCUSDT" not in desk.worker.paper.positions and "ETHUSDT" in desk.worker.paper.positions
        mark = len(desk.statuses)
        await close(desk, "BTCUSDT")  # nothing left there: refused, with the reason on the order log
        await until(lambda: rows(desk, "BTCUSDT", mark), "the refusal")
        [refusal] = [s for s in desk.statuses[mark:] if s.symbol == "BTCUSDT"]
        assert (refusal.purpose, refusal.status) == ("close", "rejected") and refusal.error.startswith("no_position:")
