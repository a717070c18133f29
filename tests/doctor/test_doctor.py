"""`tui-trader doctor` against a loopback Binance venue: all ok, then each failure a trader can meet.

The venue is the REST mock (tests/net/mock_binance.py) and the websocket server replaying real frames; each
test breaks one thing the way it breaks for real (server silent, port closed, clock 2 s off, key refused
with -2015, hedge mode on, leverage above the bracket, journal locked or unwritable) and reads the line.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time

import pytest
from doctor_kit import KEY, KEYS_ENV, SECRET
from kit import closed_port
from net.binance_ws_server import BinanceWsServer

from tui_trader.doctor.report import Check, exit_code, render
from tui_trader.doctor.runner import run_checks
from tui_trader.settings import dumps

TIMEOUT = 2.0


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


async def doctor(settings, env=KEYS_ENV, timeout: float = TIMEOUT) -> dict[str, Check]:
    checks = await run_checks(settings, timeout=timeout, env=dict(env))
    text = render(checks)
    assert KEY not in text and SECRET not in text
    return by_name(checks)


async def test_everything_ok_against_the_mock_venue(venue):
    checks = await doctor(venue.settings())
    for name in ("journal", "bus", "feed", "exchange", "clock", "API keys", "position mode", "leverage"):
        assert checks[name].status == "ok", checks[name]
    assert "market frames on all 2 connections" in checks["feed"].detail
    assert "a signed read worked (USDT 10,000.00 total" in checks["API keys"].detail
    assert "one-way" in checks["position mode"].detail
    assert "10x allowed for a 1,000 USDT position: BTCUSDT up to 125x" in checks["leverage"].detail
    assert exit_code(list(checks.values())) == 0
    # The checks really went to the venue: the signed reads included.
    seq = venue.rest.sequence()
    for request in (
        "GET /fapi/v1/time",
        "GET /fapi/v3/account",
        "GET /fapi/v1/positionSide/dual",
        "GET /fapi/v1/leverageBracket",
    ):
        assert request in seq
    assert venue.ws.violations == []


async def test_cli_prints_one_line_per_check_and_exits_0_when_all_ok(venue, tmp_path):
    conf = tmp_path / "settings.toml"
    conf.write_text(dumps(venue.settings()))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tui_trader",
        "doctor",
        "--config",
        str(conf),
        "--timeout",
        "3",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **KEYS_ENV},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    text = out.decode()
    assert proc.returncode == 0, text + err.decode()
    lines = text.splitlines()
    assert [ln.split("]")[0] + "]" for ln in lines[:9]] == ["[ok  ]"] * 9
    assert [ln.split("] ")[1].split(":")[0] for ln in lines] == [
        "settings",
        "journal",
        "bus",
        "feed",
        "exchange",
        "clock",
        "API keys",
        "position mode",
        "leverage",
        "mode",
        "log file",
    ]


async def test_a_feed_on_a_closed_port_fails_with_the_reason(venue, tmp_path):
    """The defect: with no feed to reach, doctor printed `[ok] feed` after checking the URL's syntax."""
    url = f"ws://127.0.0.1:{closed_port()}"
    conf = tmp_path / "settings.toml"
    conf.write_text(dumps(venue.settings(live=False, feed={"ws_base_url": url})))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tui_trader",
        "doctor",
        "--config",
        str(conf),
        "--timeout",
        "2",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    feed = next(ln for ln in out.decode().splitlines() if "] feed:" in ln)
    assert proc.returncode == 1
    assert feed.startswith(f"[FAIL] feed: {url}: ")
    assert "refused" in feed.lower() or "connect call failed" in feed.lower()
    assert "2 of 2 connections" in feed


async def test_a_silent_feed_fails_within_the_timeout(venue):
    async with BinanceWsServer(silent=True) as silent:
        started = time.monotonic()
        checks = await doctor(venue.settings(feed={"ws_base_url": silent.url}), timeout=1.0)
        elapsed = time.monotonic() - started
    feed = checks["feed"]
    assert feed.status == "fail"
    assert "connected but no market frame within 1 s (2 of 2 connections" in feed.detail
    assert elapsed < 5


async def test_a_feed_that_never_answers_the_handshake_is_bounded_by_the_timeout(venue):
    held: list[asyncio.StreamWriter] = []

    async def accept_and_say_nothing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept_and_say_nothing, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        started = time.monotonic()
        checks = await doctor(venue.settings(feed={"ws_base_url": f"ws://127.0.0.1:{port}"}), timeout=1.0)
        assert time.monotonic() - started < 5
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()
    assert checks["feed"].status == "fail"
    assert "no connection within 1 s (2 of 2 connections" in checks["feed"].detail


async def test_a_feed_that_closes_before_any_market_frame_fails_with_the_close(venue):
    # A server that answers the subscription with a reply frame, then goes away each time.
    async with BinanceWsServer(
        venue.ws.frames, preamble=['{"result":null,"id":1}'], close_after={i: 0 for i in range(50)}
    ) as closing:
        checks = await doctor(venue.settings(feed={"ws_base_url": closing.url}), timeout=1.0)
    feed = checks["feed"]
    assert feed.status == "fail"
    assert "connected, then closed by the server (code 1001: going away); no market frame within 1 s" in feed.detail


async def test_rest_down_fails_and_the_signed_checks_say_they_were_not_run(venue):
    url = f"http://127.0.0.1:{closed_port()}"
    checks = await doctor(venue.settings(exchange={"api_base_url": url}))
    assert checks["exchange"].status == "fail"
    assert checks["exchange"].detail.startswith(f"binanceusdm (demo) at {url}: ")
    assert "Connection refused" in checks["exchange"].detail
    for name in ("clock", "API keys", "position mode", "leverage"):
        assert checks[name].status == "info" and "REST check failed" in checks[name].detail
    assert checks["feed"].status == "ok"


async def test_rest_down_is_a_warning_in_paper(venue):
    url = f"http://127.0.0.1:{closed_port()}"
    checks = await doctor(venue.settings(live=False, exchange={"api_base_url": url}), env={})
    assert checks["exchange"].status == "warn"
    assert exit_code(list(checks.values())) == 0


async def test_a_rest_server_that_never_answers_is_bounded_by_the_timeout(venue):
    venue.rest.fail("GET", "/fapi/v1/time", "drop")
    started = time.monotonic()
    checks = await doctor(venue.settings(exchange={"timeout_ms": 60000}), timeout=1.0)
    assert time.monotonic() - started < 5
    assert checks["exchange"].status == "fail"
    assert "timeout" in checks["exchange"].detail or "no answer within 1 s" in checks["exchange"].detail


@pytest.mark.parametrize("offset_ms, where", [(2000, "behind"), (-2000, "ahead of")])
async def test_a_clock_two_seconds_off_is_a_warning(venue, offset_ms, where):
    venue.rest.clock_offset_ms = offset_ms
    checks = await doctor(venue.settings())
    clock = checks["clock"]
    assert clock.status == "warn"
    seen = re.search(r"this machine's clock is (\d+\.\d+) s (ahead of|behind) binanceusdm's", clock.detail)
    assert seen is not None and seen.group(2) == where, clock.detail
    assert abs(float(seen.group(1)) - 2.0) < 0.25  # measured over a loopback round trip
    assert "synchronise the clock" in clock.detail
    assert exit_code(list(checks.values())) == 0, render(list(checks.values()))  # a warning, not a failure


async def test_bad_keys_fail_with_the_exchange_answer(venue):
    venue.rest.fail(
        "GET",
        "/fapi/v3/account",
        "http",
        status=401,
        body={"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."},
    )
    checks = await doctor(venue.settings())
    keys = checks["API keys"]
    assert keys.status == "fail"
    assert keys.detail.startswith("the exchange refused them: auth: ")
    assert "-2015" in keys.detail and "Invalid API-key" in keys.detail
    assert checks["position mode"].status == "info" and "needs working API keys" in checks["position mode"].detail
    assert checks["leverage"].status == "info"


async def test_live_without_keys_fails_paper_without_keys_is_info(venue):
    live = await doctor(venue.settings(), env={})
    assert live["API keys"].status == "fail" and "live mode needs them" in live["API keys"].detail
    paper = await doctor(venue.settings(live=False), env={})
    assert paper["API keys"].status == "info" and paper["API keys"].detail == "not set (paper trading only)"
    assert exit_code(list(paper.values())) == 0, render(list(paper.values()))
    assert "/fapi/v3/account" not in " ".join(venue.rest.sequence())


async def test_hedge_mode_fails_live_and_warns_paper(venue):
    venue.rest.dual_side = True
    live = await doctor(venue.settings())
    assert live["position mode"].status == "fail"
    assert "hedge (dual-side) mode is on at binanceusdm" in live["position mode"].detail
    assert "switch the account to one-way mode" in live["position mode"].detail
    paper = await doctor(venue.settings(live=False))
    assert paper["position mode"].status == "warn" and "live would be refused" in paper["position mode"].detail


async def test_leverage_above_the_bracket_for_the_largest_position_fails(venue):
    # 100,000 USDT falls in the mock's second bracket (50,000–600,000 USDT: 100x at most).
    checks = await doctor(venue.settings(trading={"leverage": 125, "max_position_size": 100_000.0}))
    lev = checks["leverage"]
    assert lev.status == "fail"
    assert lev.detail == (
        "BTCUSDT: at most 100x for a 100,000 USDT position (bracket 50,000–600,000 USDT), "
        "trading.leverage is 125x: lower trading.leverage or trading.max_position_size"
    )
    ok = await doctor(venue.settings(trading={"leverage": 100, "max_position_size": 100_000.0}))
    assert ok["leverage"].status == "ok"


async def test_a_journal_another_desk_holds_fails_naming_it(venue):
    settings = venue.settings()
    hold = (
        "import sys; from tui_trader.journal import Journal; j = Journal(sys.argv[1]); print('held', flush=True); "
        "sys.stdin.read(); j.close()"
    )
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", hold, str(venue.journal), stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert (await asyncio.wait_for(holder.stdout.readline(), 30)).strip() == b"held"
        checks = await doctor(settings)
    finally:
        await asyncio.wait_for(holder.communicate(b""), 10)
    journal = checks["journal"]
    assert journal.status == "fail"
    assert f"{venue.journal} is in use by another process (pid {holder.pid} " in journal.detail
    assert (await doctor(settings))["journal"].status == "ok"  # released: fine again


async def test_a_journal_locked_by_another_program_fails(venue):
    """A write transaction held open elsewhere (sqlite3 on the command line, a backup) is found too."""
    settings = venue.settings()
    hold = (
        "import sqlite3, sys; db = sqlite3.connect(sys.argv[1], isolation_level=None); "
        "db.execute('PRAGMA journal_mode=WAL'); db.execute('BEGIN EXCLUSIVE'); print('held', flush=True); "
        "sys.stdin.read()"
    )
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", hold, str(venue.journal), stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert (await asyncio.wait_for(holder.stdout.readline(), 30)).strip() == b"held"
        started = time.monotonic()
        checks = await doctor(settings, timeout=0.5)
        assert time.monotonic() - started < 15
    finally:
        await asyncio.wait_for(holder.communicate(b""), 10)
    journal = checks["journal"]
    assert journal.status == "fail" and str(venue.journal) in journal.detail
    assert "locked by another program" in journal.detail or "another process holds its write lock" in journal.detail


async def test_a_journal_that_cannot_be_created_fails(venue, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the journal's folder should be")
    checks = await doctor(venue.settings(journal={"path": str(blocker / "sub" / "journal.sqlite3")}))
    assert checks["journal"].status == "fail"
    assert str(blocker) in checks["journal"].detail and "Not a directory" in checks["journal"].detail


async def test_a_file_that_is_not_a_journal_fails(venue):
    venue.journal.write_text("not a database")
    checks = await doctor(venue.settings())
    assert checks["journal"].status == "fail" and str(venue.journal) in checks["journal"].detail


async def test_a_secrets_file_others_can_read_fails_the_keys_line(venue, tmp_path):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'api_key = "{KEY}"\napi_secret = "{SECRET}"\n')
    secrets.chmod(0o644)
    checks = await doctor(venue.settings(exchange={"secrets_file": str(secrets)}), env={})
    keys = checks["API keys"]
    assert keys.status == "fail" and f"chmod 600 {secrets}" in keys.detail


async def test_the_mode_line_says_whether_live_is_real_money(venue):
    demo = await doctor(venue.settings())
    assert demo["mode"].detail.startswith("live on binanceusdm demo at start")
    real = await doctor(venue.settings(exchange={"demo": False}))
    assert real["mode"].detail.startswith("live on binanceusdm (REAL MONEY) at start")
    assert real["exchange"].detail.startswith("binanceusdm (REAL MONEY) at http://127.0.0.1:")


async def test_a_symbol_the_exchange_does_not_list_fails_the_exchange_line(venue):
    checks = await doctor(
        venue.settings(
            trading={"symbols": ["BTCUSDT", "DOGEUSDT"]}, feed={"dedicated_symbols": ["BTCUSDT", "DOGEUSDT"]}
        )
    )
    exchange = checks["exchange"]
    assert exchange.status == "fail"
    assert exchange.detail.endswith("answers, but does not list DOGEUSDT (trading.symbols)")
    assert checks["leverage"].detail == "10x allowed for a 1,000 USDT position: BTCUSDT up to 125x"
