"""`tui-trader record`: what the live feed receives, in the recording format, replays as it was."""

from __future__ import annotations

import asyncio
import gzip
import json
import sys

from feedkit import Harness, as_dicts, expected_market_data, make_settings
from net.binance_ws_server import BinanceWsServer, as_agg_trade

from tui_trader.commands.record import record


async def test_a_recorded_session_replays_as_it_was(btc_frames, tmp_path):
    frames = [as_agg_trade(f) if "@trade" in f else f for f in btc_frames[:1500]]
    out = tmp_path / "session.gz"
    async with BinanceWsServer(frames) as server:
        settings = make_settings(ws_base_url=server.url, trade_stream="aggTrade")
        result = await asyncio.wait_for(record(settings, str(out), max_frames=len(frames)), 30)
    assert result["frames"] == len(frames)
    assert result["published"] == {
        "trade": sum("@aggTrade" in f for f in frames),
        "book": sum("@bookTicker" in f for f in frames),
        "mark": 0,
    }

    with gzip.open(out, "rt") as fh:
        lines = fh.read().splitlines()
    recorded = [line.partition(" ")[2] for line in lines]
    recv_ns = [int(line.partition(" ")[0]) for line in lines]
    # Byte for byte what the server sent; each stream in its own order (two connections interleave).
    for stream_kind in ("@aggTrade", "@bookTicker"):
        assert [f for f in recorded if stream_kind in f] == [f for f in frames if stream_kind in f]
    assert all(ns > 1_600_000_000 * 10**9 for ns in recv_ns)

    async with Harness(make_settings(), replay_files=[out]) as h:
        await h.finished()
    # The replay publishes what the live feed would have for frames arriving in the recorded order.
    assert as_dicts(h.market) == expected_market_data(recorded)
    assert [md.recv_time for md in h.market] == [ns // 1_000_000 for ns in recv_ns]


async def test_record_command_line_writes_a_replayable_file(btc_frames, tmp_path):
    out = tmp_path / "cli.gz"
    conf = tmp_path / "s.toml"
    async with BinanceWsServer(btc_frames[:300]) as server:
        conf.write_text(
            f'[trading]\nsymbols = ["BTCUSDT"]\n[feed]\nws_base_url = "{server.url}"\ntrade_stream = "trade"\n'
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tui_trader",
            "record",
            "--config",
            str(conf),
            "--out",
            str(out),
            "--duration",
            "1.5",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, stderr.decode()
    assert "recorded 300 frames (" in stdout.decode()
    assert "feed public-btcusdt: live" in stderr.decode() and "Traceback" not in stderr.decode()
    with gzip.open(out, "rt") as fh:
        assert [json.loads(line.partition(" ")[2]) for line in fh] == [json.loads(f) for f in btc_frames[:300]]


async def test_record_with_nothing_to_record_says_so(tmp_path):
    async with BinanceWsServer() as server:
        url = server.url  # closed below: connections are refused
    conf = tmp_path / "s.toml"
    conf.write_text(f'[feed]\nws_base_url = "{url}"\n')
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tui_trader",
        "record",
        "--config",
        str(conf),
        "--out",
        str(tmp_path / "x.gz"),
        "--duration",
        "0.5",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1
    assert "recorded 0 frames" in stdout.decode()
    assert "nothing was received" in stderr.decode() and "Traceback" not in stderr.decode()
