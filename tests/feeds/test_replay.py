"""Replays: the recording formats, every real capture, the replay clock, lockstep, pacing, files in order."""

from __future__ import annotations

import asyncio
import gzip
import itertools
import json
import time
from pathlib import Path

import pytest
from feedkit import Harness, as_dicts, expected_market_data, make_settings

from tui_trader import messages as m
from tui_trader.bus import Start
from tui_trader.errors import FeedError
from tui_trader.feeds.replay import MergedRecordings, Pacer, RecordingReader, check_readable

MARKET_KINDS = ("trade", "aggTrade", "bookTicker")


def write_recording(path: Path, frames: list[str], start_ns: int = 1_700_000_000_000_000_000) -> Path:
    text = "".join(f"{start_ns + i * 1000} {f}\n" for i, f in enumerate(frames))
    if path.suffix == ".gz":
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


def trade(symbol: str, ident: int, price: str, event_ms: int) -> str:
    return json.dumps(
        {
            "stream": f"{symbol.lower()}@trade",
            "data": {"e": "trade", "E": event_ms, "T": event_ms, "s": symbol, "t": ident, "p": price, "q": "0.5"},
        }
    )


class FlakyBus:
    """Fails the `fail_at`-th market-data publish, as a bus hiccup would; the runtime then runs the worker again."""

    def __init__(self, bus, fail_at: int) -> None:
        self._bus, self.calls, self.fail_at = bus, 0, fail_at

    def __getattr__(self, name):
        return getattr(self._bus, name)

    def publish_nowait(self, topic, key, value):
        self._hiccup()
        return self._bus.publish_nowait(topic, key, value)

    def publish_msg_nowait(self, topic, key, msg):
        self._hiccup()
        return self._bus.publish_msg_nowait(topic, key, msg)

    def _hiccup(self):
        self.calls += 1
        if self.calls == self.fail_at:
            raise ConnectionError("bus hiccup")


def count_market_lines(path: Path) -> int:
    """Trade and bookTicker lines of a capture, counted with plain json (independent of the reader)."""
    opener = gzip.open if path.suffix == ".gz" else open
    n = 0
    with opener(path, "rt") as fh:
        for line in fh:
            start = line.find("{")
            if start < 0:
                continue
            stream = json.loads(line[start:]).get("stream", "")
            if stream.partition("@")[2] in MARKET_KINDS:
                n += 1
    return n


CAPTURE_SYMBOLS = ("BTCUSDT", "ETHUSDT", "SUSHIUSDT", "CTKUSDT", "AKROUSDT", "KEEPUSDT")


def captures(shared_data: Path) -> list[Path]:
    return [
        *sorted((shared_data / "binance_usdm_ws").glob("*.gz")),
        shared_data / "binance_usdm_ws_alts" / "BINANCE_FUTURES.ws.1.0",
    ]


# --- the reader ---


def test_reader_reads_gzip_and_plain_alike(tmp_path):
    frames = [trade("BTCUSDT", i, "100", 1000 + i) for i in range(5)]
    gz = list(RecordingReader(write_recording(tmp_path / "a.gz", frames)))
    plain = list(RecordingReader(write_recording(tmp_path / "a.txt", frames)))
    assert gz == plain
    assert [f.decode() for _, f in gz] == frames
    assert gz[1][0] == 1_700_000_000_000_001_000


def test_reader_reads_the_cryptofeed_format_exactly(tmp_path):
    path = tmp_path / "cf.ws"
    path.write_text(
        "wss://fstream.binance.com/stream?streams=x@trade\n"
        f"1626992741.06217: {trade('BTCUSDT', 1, '1', 5)}\n\n"
        f"1626992741.5: {trade('BTCUSDT', 2, '1', 6)}\n"
    )
    reader = RecordingReader(path)
    got = list(reader)
    assert [ns for ns, _ in got] == [1626992741062170000, 1626992741500000000]
    assert reader.skipped == {"header": 1}


def test_a_recording_cut_mid_write_plays_up_to_the_cut(tmp_path):
    frames = [trade("BTCUSDT", i, "100", 1000 + i) for i in range(2000)]
    whole = write_recording(tmp_path / "whole.gz", frames).read_bytes()
    cut = tmp_path / "cut.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    reader = RecordingReader(cut)
    got = list(reader)
    assert 0 < len(got) < 2000
    assert [f.decode() for _, f in got] == frames[: len(got)]
    assert reader.skipped == {"truncated": 1}


def test_unreadable_recording_is_one_clear_error(tmp_path):
    with pytest.raises(FeedError, match=r"cannot read recording .*nope\.gz"):
        check_readable([str(tmp_path / "nope.gz")])


def test_pacer_waits_by_event_time_times_speed_and_restarts_per_file():
    p = Pacer(speed=2.0)
    assert p.delay(10_000, now_s=100.0) == 0.0
    assert p.delay(11_000, now_s=100.0) == pytest.approx(0.5)
    assert p.delay(10_500, now_s=100.0) == pytest.approx(0.5)  # behind the latest: paced on the latest
    assert p.delay(12_000, now_s=101.5) == 0.0  # running late: no wait, no drift
    p.restart()
    assert p.delay(1_000, now_s=200.0) == 0.0  # a new file starts from its own beginning


def test_pacer_plays_through_a_hole_between_recordings_at_once():
    p = Pacer(speed=20.0)
    assert p.delay(0, 100.0) == 0.0
    assert p.delay(60_000, 100.0) == pytest.approx(3.0)  # a minute of market at 20x: 3 s
    day = 86_400_000
    assert p.delay(day, 103.0) == 0.0  # the next day's file: no 72-minute wait for a hole in the data
    assert p.delay(day + 20_000, 103.0) == pytest.approx(1.0)  # and paced again from there


# --- the collector replaying ---


@pytest.mark.parametrize("index", [0, 1, 2])
async def test_every_shared_capture_replays_cleanly(shared_data, index):
    path = captures(shared_data)[index]
    assert path.exists(), path
    async with Harness(make_settings(CAPTURE_SYMBOLS), replay_files=[path]) as h:
        await h.finished()
        summary = h.worker.summary()
    assert len(h.market) == count_market_lines(path)
    assert summary["malformed"] == {} and summary["duplicates"] == {} and summary["quarantined"] == {}
    assert summary["published"]["trade"] + summary["published"]["book"] == len(h.market)
    assert "depth" in summary["ignored"]
    assert h.states("feed:replay")[0] == "live" and h.states("feed:replay")[-1] == "done"


async def test_replayed_numbers_match_the_frames(btc_capture, btc_frames, tmp_path):
    path = write_recording(tmp_path / "btc.gz", btc_frames)
    async with Harness(make_settings(), replay_files=[path]) as h:
        await h.finished()
    assert as_dicts(h.market) == expected_market_data(btc_frames)
    assert [md.recv_time for md in h.market[:3]] == [1_700_000_000_000, 1_700_000_000_000, 1_700_000_000_000]


async def test_lockstep_replay_shows_each_consumer_the_clock_at_its_message(btc_frames, tmp_path):
    path = write_recording(tmp_path / "btc.gz", btc_frames[:1500])
    seen: list[tuple[int, int, int]] = []
    async with Harness(make_settings(), replay_files=[path]) as h:
        sub = await h.bus.subscribe(m.MARKET_DATA, Start.BEGINNING, tracked=True)

        async def consumer():
            decode = m.Decoder().decode
            async for rec in sub:
                md = decode(m.MARKET_DATA, rec.value)
                await asyncio.sleep(0)  # a worker doing some work: the replay must wait for it
                seen.append((h.clock.now_ms(), md.ts, md.event_time))

        task = asyncio.create_task(consumer())
        await h.finished()
        await sub.close()
        await task
    assert len(seen) == len(h.market) > 1000
    latest = 0
    for now, ts, event in seen:
        latest = max(latest, event)
        assert now == ts == latest  # the clock is the message's event time, never ahead of it


async def test_speed_paces_by_event_time(tmp_path):
    frames = [trade("BTCUSDT", i, "100", 1_000_000 + i * 100) for i in range(11)]  # 1 s of event time
    path = write_recording(tmp_path / "p.gz", frames)
    started = time.perf_counter()
    async with Harness(make_settings(), replay_files=[path], speed=4.0) as h:
        await h.finished()
    assert time.perf_counter() - started >= 0.25 * 0.9
    assert len(h.market) == 11


async def test_several_files_play_in_order(tmp_path):
    first = write_recording(tmp_path / "1.gz", [trade("BTCUSDT", i, "1", 1000 + i) for i in range(1, 4)])
    second = write_recording(tmp_path / "2.txt", [trade("ETHUSDT", i, "2", 2000 + i) for i in range(1, 3)])
    async with Harness(make_settings(("BTCUSDT", "ETHUSDT")), replay_files=[first, second]) as h:
        await h.finished()
    assert [(md.symbol, md.event_time) for md in h.market] == [
        ("BTCUSDT", 1001),
        ("BTCUSDT", 1002),
        ("BTCUSDT", 1003),
        ("ETHUSDT", 2001),
        ("ETHUSDT", 2002),
    ]
    assert h.worker.summary()["files"] == 2


async def test_files_of_the_same_day_interleave_by_event_time(tmp_path):
    # Two symbols captured side by side over 60 s of event time, one file each: played one after the other,
    # ETH would wait (and show stale) while all of BTC plays, then start 60 s back in time.
    btc = write_recording(tmp_path / "btc.gz", [trade("BTCUSDT", i, "1", i * 1000) for i in range(1, 61)])
    eth = write_recording(tmp_path / "eth.gz", [trade("ETHUSDT", i, "2", i * 1000 + 500) for i in range(1, 61)])
    async with Harness(
        make_settings(("BTCUSDT", "ETHUSDT"), stale_after_s=10), replay_files=[btc, eth], speed=None
    ) as h:
        await h.finished()
    got = [(md.symbol, md.event_time) for md in h.market]
    assert got == sorted(got, key=lambda x: x[1])
    assert got[:4] == [("BTCUSDT", 1000), ("ETHUSDT", 1500), ("BTCUSDT", 2000), ("ETHUSDT", 2500)]
    assert len(got) == 120
    assert "stale" not in h.states("feed:replay")
    assert h.worker.summary()["quarantined"] == {}


async def test_consecutive_days_follow_each_other_whatever_order_they_are_named_in(tmp_path):
    day = 86_400_000
    first = write_recording(
        tmp_path / "btc_day1.gz", [trade("BTCUSDT", i, "1", day - 3000 + i * 1000) for i in range(3)]
    )
    second = write_recording(
        tmp_path / "btc_day2.gz", [trade("BTCUSDT", i, "1", day + (i - 3) * 1000) for i in range(3, 6)]
    )
    async with Harness(make_settings(), replay_files=[second, first]) as h:
        await h.finished()
    assert [md.event_time for md in h.market] == [day - 3000, day - 2000, day - 1000, day, day + 1000, day + 2000]


def test_the_merge_keeps_each_file_in_its_own_order_and_ties_go_to_the_first_file(tmp_path):
    # Frames of different streams arrive slightly out of event-time order within a file: they stay as recorded.
    a = write_recording(
        tmp_path / "a.txt",
        [trade("BTCUSDT", 1, "1", 1000), trade("BTCUSDT", 2, "1", 900), trade("BTCUSDT", 3, "1", 2000)],
    )
    b = write_recording(tmp_path / "b.txt", [trade("ETHUSDT", 1, "1", 1000), trade("ETHUSDT", 2, "1", 1500)])
    merged = MergedRecordings([a, b])
    got = [(json.loads(f)["data"]["s"], json.loads(f)["data"]["t"]) for _, f in merged]
    assert got == [("BTCUSDT", 1), ("BTCUSDT", 2), ("ETHUSDT", 1), ("ETHUSDT", 2), ("BTCUSDT", 3)]
    assert merged.lines == [3, 2]


async def test_a_restarted_merged_replay_continues_where_it_stopped(tmp_path):
    btc = write_recording(tmp_path / "btc.gz", [trade("BTCUSDT", i, "1", i * 10) for i in range(1, 201)])
    eth = write_recording(tmp_path / "eth.gz", [trade("ETHUSDT", i, "1", i * 10 + 5) for i in range(1, 201)])
    settings = make_settings(("BTCUSDT", "ETHUSDT"))
    async with Harness(settings, replay_files=[btc, eth]) as h:
        await h.finished()
        reference = [(md.symbol, md.event_time) for md in h.market]

    async with Harness(settings, replay_files=[btc, eth]) as h:
        h.task.cancel()
        await asyncio.gather(h.task, return_exceptions=True)
        h.ctx.bus = FlakyBus(h.bus, fail_at=151)
        with pytest.raises(ConnectionError):
            await h.worker.run()
        await h.worker.run()
        await h.caught_up()
    got = [(md.symbol, md.event_time) for md in h.market]
    assert got == reference[:150] + reference[151:]  # nothing twice, nothing lost but the failed publish


async def test_the_real_btc_and_eth_captures_play_together(btc_capture, tmp_path):
    # The first lines of each capture of 2024-08-08 (same minutes): they interleave, nothing is quarantined
    # at a seam and neither symbol is ever reported stale.
    eth_capture = btc_capture.with_name("ethusdt_20240808.gz")
    heads = []
    for src in (btc_capture, eth_capture):
        out = tmp_path / src.name
        with gzip.open(src, "rb") as fh, gzip.open(out, "wb") as dst:
            for _, line in zip(range(8000), fh, strict=False):
                dst.write(line)
        heads.append(out)
    async with Harness(make_settings(("BTCUSDT", "ETHUSDT")), replay_files=heads, speed=None) as h:
        await h.finished()
    summary = h.worker.summary()
    assert summary["quarantined"] == {} and summary["malformed"] == {}
    assert "stale" not in h.states("feed:replay")
    symbols = [md.symbol for md in h.market]
    switches = sum(1 for x, y in itertools.pairwise(symbols) if x != y)
    assert switches > 100  # interleaved, not one file then the other
    trades = [md.event_time for md in h.market if md.kind == "trade"]
    assert max(a - b for a, b in itertools.pairwise(trades)) < 5000  # never back in time by seconds


async def test_quiet_symbols_in_a_replay_are_flagged_on_event_time(tmp_path):
    frames = [trade("BTCUSDT", 1, "1", 0), trade("ETHUSDT", 1, "1", 0)]
    frames += [trade("BTCUSDT", i, "1", i * 1000) for i in range(2, 20)]  # ETH silent for 19 s of event time
    frames += [trade("ETHUSDT", 2, "1", 20_000)]
    path = write_recording(tmp_path / "q.gz", frames)
    async with Harness(make_settings(("BTCUSDT", "ETHUSDT"), stale_after_s=10), replay_files=[path], speed=None) as h:
        await h.finished()
    stale = [x for x in h.health if x.component == "feed:replay" and x.state == "stale"]
    assert [x.symbols for x in stale] == [["ETHUSDT"]]
    assert h.states("feed:replay") == ["live", "stale", "live", "done"]


async def test_a_free_replay_publishes_what_a_lockstep_one_does(btc_frames, tmp_path):
    # Running free, the collector publishes its records in batches: the same records, in the same order, and
    # the same Health records at the same clock times (staleness and counts go out between the batches).
    last = json.loads(btc_frames[-1])["data"]["E"]
    frames = [*btc_frames, trade("ETHUSDT", 1, "1", last + 20_000)]  # BTC goes quiet for 20 s, ETH trades
    path = write_recording(tmp_path / "f.gz", frames)
    settings = make_settings(("BTCUSDT", "ETHUSDT"), stale_after_s=10)
    seen = []
    for lockstep in (True, False):
        async with Harness(settings, replay_files=[path], lockstep=lockstep) as h:
            await h.finished()
        seen.append((list(h.market), list(h.health)))
    (market, health), (free_market, free_health) = seen
    assert len(market) > 1000 and "stale" in [x.state for x in health]
    assert free_market == market and free_health == health


async def test_a_restarted_replay_continues_where_it_stopped(tmp_path):
    frames = [trade("BTCUSDT", i, "1", 1000 + i) for i in range(1, 301)]
    path = write_recording(tmp_path / "r.gz", frames)
    async with Harness(make_settings(), replay_files=[path]) as h:
        await h.finished()
        reference = [md.event_time for md in h.market]

    async with Harness(make_settings(), replay_files=[path]) as h:
        h.task.cancel()
        await asyncio.gather(h.task, return_exceptions=True)
        h.ctx.bus = FlakyBus(h.bus, fail_at=120)
        with pytest.raises(ConnectionError):
            await h.worker.run()
        await h.worker.run()
        await h.caught_up()
    got = [md.event_time for md in h.market]
    assert len(got) == len(set(got))  # nothing published twice
    assert got == reference[:119] + reference[120:]  # only the frame whose publish failed is missing


# --- hostile files: the frame reading part -----------------------------------------------------------


def test_an_endless_line_is_skipped_without_being_held(tmp_path):
    """A file of one line without a newline must not be read into memory whole."""
    import tracemalloc

    from tui_trader.feeds.replay import MAX_LINE_BYTES

    path = tmp_path / "long.txt"
    good = [trade("BTCUSDT", i, "100", 1000 + i) for i in range(3)]
    with path.open("wb") as fh:
        fh.write(f"1 {good[0]}\n".encode())
        fh.write(b"2 " + b"x" * (3 * MAX_LINE_BYTES) + b"\n")
        fh.write("".join(f"{3 + i} {f}\n" for i, f in enumerate(good[1:])).encode())
    tracemalloc.start()
    try:
        reader = RecordingReader(path)
        got = [f.decode() for _, f in reader]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got == good and reader.skipped == {"line too long": 1} and reader.lines == 4
    assert peak < 3 * MAX_LINE_BYTES
    resumed = RecordingReader(path, skip=2)  # a restart after the long line resumes after it
    assert [f.decode() for _, f in resumed] == good[1:]


def test_a_gzip_bomb_streams_through_in_bounded_memory(tmp_path):
    import tracemalloc

    path = tmp_path / "bomb.gz"
    frames = [trade("BTCUSDT", 1, "100", 1000)]
    with gzip.open(path, "wb", compresslevel=9) as fh:
        fh.write(f"1 {frames[0]}\n".encode())
        block = (b"0" * 1023 + b"\n") * 1024  # 1 MiB of lines that are not frames
        for _ in range(64):
            fh.write(block)
    assert path.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        reader = RecordingReader(path)
        got = [f.decode() for _, f in reader]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got == frames and reader.skipped == {"unreadable line": 64 * 1024}
    assert peak < 32 << 20


@pytest.mark.parametrize("chunk", [7, 64, 1 << 20])
def test_crlf_line_ends_are_dropped_wherever_a_read_splits_them(tmp_path, monkeypatch, chunk):
    """A recording written with CRLF line ends plays the same frames, also when a read of the file ends
    between the CR and the LF (the CR then arrives with one read, the LF with the next)."""
    from tui_trader.feeds import replay

    monkeypatch.setattr(replay, "CHUNK_BYTES", chunk)
    frames = [trade("BTCUSDT", i, "100", 1_000 + i) for i in range(1, 40)]
    path = tmp_path / "crlf.txt"
    path.write_bytes(b"".join(b"%d %s\r\n" % (1_000_000 + i, f.encode()) for i, f in enumerate(frames)))
    got = [frame for _, frame in RecordingReader(path)]
    assert got == [f.encode() for f in frames]
