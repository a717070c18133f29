"""Hostile frames at the edge: bad numbers, ids and event times that jump, absurd prints, foreign symbols.

Each case is one a hostile run of the old code got wrong; the replays use the real BTC capture with one frame
changed, so every other frame must come through exactly as before.
"""

from __future__ import annotations

import json
import math
import tracemalloc

import msgspec
import pytest
from feedkit import Harness, make_settings
from test_replay import write_recording

from tui_trader import messages as m
from tui_trader.feeds.parser import MAX_REASONS, FrameParser, Limits

T0 = 1_723_161_256_000


def trade(ident: int, price: str = "61800.3", event: int = T0, qty: str = "0.006", symbol: str = "btcusdt") -> str:
    return json.dumps(
        {
            "stream": f"{symbol}@trade",
            "data": {"e": "trade", "E": event, "T": event, "s": symbol.upper(), "t": ident, "p": price, "q": qty},
        }
    )


def book(ident: int, bid: str = "61800.2", ask: str = "61800.3", event: int = T0, qty: str = "2.5") -> str:
    return json.dumps(
        {
            "stream": "btcusdt@bookTicker",
            "data": {"e": "bookTicker", "u": ident, "s": "BTCUSDT", "b": bid, "B": qty, "a": ask, "A": qty, "E": event},
        }
    )


def balanced(p: FrameParser) -> bool:
    s = p.summary()
    buckets = (s["published"], s["ignored"], s["duplicates"], s["malformed"], s["quarantined"])
    return s["frames"] == sum(sum(b.values()) for b in buckets)


def market_trades(btc_frames: list[str]) -> list[tuple[int, dict]]:
    """(index, data) of every trade frame of the capture slice."""
    out = []
    for i, f in enumerate(btc_frames):
        env = json.loads(f)
        if env["stream"].endswith("@trade"):
            out.append((i, env["data"]))
    return out


def mutate(frame: str, **changes) -> str:
    env = json.loads(frame)
    env["data"].update(changes)
    return json.dumps(env)


# --- numbers -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "price, reason",
    [
        ("NaN", "non-finite trade price"),
        ("inf", "non-finite trade price"),
        ("-Infinity", "non-finite trade price"),
        ("0", "non-positive trade price"),
        ("-61800.3", "non-positive trade price"),
    ],
)
def test_a_trade_price_that_is_not_a_finite_positive_number_is_counted_and_never_published(price, reason):
    p = FrameParser()
    assert p.parse(trade(1), 0) is not None
    assert p.parse(trade(2, price=price), 0) is None
    assert p.malformed == {reason: 1}
    nxt = p.parse(trade(3), 0)
    assert nxt is not None and nxt.price == 61800.3
    assert balanced(p)


@pytest.mark.parametrize(
    "frame, reason",
    [
        (trade(2, qty="NaN"), "non-finite trade quantity"),
        (trade(2, qty="0"), "non-positive trade quantity"),
        (book(2, bid="nan"), "non-finite book price"),
        (book(2, ask="-1"), "non-positive book price"),
        (book(2, qty="inf"), "non-finite book quantity"),
        (book(2, qty="0"), "non-positive book quantity"),
    ],
)
def test_bad_quantities_and_books_are_counted_by_reason(frame, reason):
    p = FrameParser()
    p.parse(book(1), 0)
    assert p.parse(frame, 0) is None
    assert p.malformed == {reason: 1}


def test_a_nan_trade_does_not_spoil_the_symbols_later_book_records(btc_frames):
    """One run lost 20,996 book records: the NaN became the symbol's last price, every book after it carried
    it, and JSON has no NaN (msgspec writes null), so no consumer could decode them."""
    [(i, _data)] = market_trades(btc_frames)[10:11]
    frames = list(btc_frames)
    frames[i] = mutate(frames[i], p="NaN")
    p = FrameParser()
    decode = msgspec.json.Decoder(m.MarketData).decode
    books = 0
    for k, f in enumerate(frames):
        md = p.parse(f, 0)
        if k > i and md is not None and md.kind == "book":
            books += 1
            assert decode(m.encode(md)).price > 0
    assert books > 1000
    assert p.malformed == {"non-finite trade price": 1}


# --- ids, times, prices that jump ------------------------------------------------------------------


async def replay(frames: list[str], tmp_path, name: str = "r.gz", **feed):
    path = write_recording(tmp_path / name, frames)
    async with Harness(make_settings(**feed), replay_files=[path]) as h:
        await h.finished()
        return h


async def test_one_trade_id_of_2_pow_70_does_not_make_every_later_trade_a_duplicate(btc_frames, tmp_path):
    trades = market_trades(btc_frames)
    i, _ = trades[20]
    frames = list(btc_frames)
    frames[i] = mutate(frames[i], t=2**70)
    h = await replay(frames, tmp_path)
    summary = h.worker.summary()
    assert summary["quarantined"] == {"trade id jump": 1}
    assert summary["duplicates"] == {}
    assert sum(md.kind == "trade" for md in h.market) == len(trades) - 1


async def test_one_event_time_of_1e18_does_not_move_the_replay_clock(btc_frames, tmp_path):
    trades = market_trades(btc_frames)
    i, _ = trades[20]
    frames = list(btc_frames)
    frames[i] = mutate(frames[i], E=10**18, T=10**18)
    h = await replay(frames, tmp_path)
    last_event = max(json.loads(f)["data"]["E"] for f in btc_frames)
    assert h.clock.now_ms() == last_event
    assert h.worker.summary()["malformed"] == {"bad event time": 1}  # past the year 2200: not a time at all
    assert len(h.market) == len(btc_frames) - 1
    assert all(md.event_time < 2 * 10**12 and md.ts <= last_event for md in h.market)


def test_an_event_time_that_jumps_within_the_past_is_quarantined_and_the_clock_stays():
    p = FrameParser(future_ms=lambda: 2 * T0)
    for k in range(1, 4):
        assert p.parse(trade(k, event=T0 + k), 0) is not None
    assert p.parse(trade(4, event=T0 + 86_400_000), 0) is None  # a day ahead, still in the past
    after = p.parse(trade(5, event=T0 + 5), 0)
    assert after is not None and after.ts == T0 + 5
    assert p.quarantined == {"event time jump": 1}


async def test_an_event_time_in_the_future_never_moves_the_replay_clock(btc_frames, tmp_path):
    trades = market_trades(btc_frames)
    frames = list(btc_frames)
    for k in (0, 20, 21, 22, 23):  # the very first trade too, and several in a row: never confirmed
        frames[trades[k][0]] = mutate(frames[trades[k][0]], E=4 * 10**12, T=4 * 10**12)  # the year 2096
    h = await replay(frames, tmp_path)
    assert h.clock.now_ms() == max(json.loads(f)["data"]["E"] for f in btc_frames)
    assert h.worker.summary()["quarantined"] == {"event time in the future": 5}


def test_the_first_frame_of_a_replay_cannot_come_from_the_future():
    p = FrameParser(future_ms=lambda: T0)
    assert p.parse(trade(1, event=T0 + 3_600_000), 0) is None
    assert p.parse(trade(2, event=T0), 0).event_time == T0
    assert p.quarantined == {"event time in the future": 1}


@pytest.mark.parametrize("price", ["1000000000", "1e300", "61.8"])
async def test_one_absurd_print_is_quarantined_and_the_trades_after_it_go_on(btc_frames, tmp_path, price):
    trades = market_trades(btc_frames)
    i, _ = trades[20]
    frames = list(btc_frames)
    frames[i] = mutate(frames[i], p=price)
    h = await replay(frames, tmp_path)
    assert h.worker.summary()["quarantined"] == {"trade price outside band": 1}
    published = [md for md in h.market if md.kind == "trade"]
    assert len(published) == len(trades) - 1
    assert max(md.price for md in h.market) < 70_000


def test_a_book_far_from_the_trades_is_quarantined():
    p = FrameParser()
    p.parse(trade(1), 0)
    assert p.parse(book(1, bid="30900.1", ask="30900.2"), 0) is None  # 50 % below the trades
    assert p.quarantined == {"book price outside band": 1}
    assert p.parse(book(2), 0).bid == 61800.2


@pytest.mark.parametrize("confirm", [1, 3, 5])
def test_a_real_jump_becomes_the_baseline_once_confirm_frames_agree(confirm):
    """A recording that resumes after an outage: ids, time and price all moved. It costs confirm - 1 frames."""
    p = FrameParser(limits=Limits(confirm=confirm))
    for k in range(1, 4):
        p.parse(trade(k, event=T0 + k), 0)
    out = [p.parse(trade(5_000_000_000 + k, price=str(61800.3 * 1.3), event=T0 + 3_600_000 + k), 0) for k in range(10)]
    assert [md is not None for md in out] == [False] * (confirm - 1) + [True] * (11 - confirm)
    assert sum(p.quarantined.values()) == confirm - 1
    assert out[-1].price == pytest.approx(61800.3 * 1.3)


def test_an_absurd_first_frame_gives_way_to_the_real_stream():
    """The first frame sets the baselines; when it was the absurd one, the real frames confirm themselves."""
    p = FrameParser()
    p.parse(trade(2**70, price="1e9"), 0)
    out = [p.parse(trade(k), 0) for k in range(1, 6)]
    assert [md is not None for md in out] == [False, False, True, True, True]


def test_a_resend_after_a_reconnect_is_still_a_duplicate_not_a_jump():
    p = FrameParser()
    for k in range(100, 110):
        p.parse(trade(k), 0)
    for k in range(95, 110):
        assert p.parse(trade(k), 0) is None
    assert p.duplicates == {"trade": 15} and p.quarantined == {}


# --- symbols and memory -----------------------------------------------------------------------------


async def test_100000_symbols_in_a_replay_keep_no_state(tmp_path):
    """537 MB in one run: per-symbol maps without a bound. Only configured symbols get state now."""
    frames = [trade(1, price="1.5", symbol=f"x{k}usdt") for k in range(100_000)]
    frames += [trade(k, event=T0 + k) for k in range(1, 4)]
    path = write_recording(tmp_path / "many.gz", frames)
    tracemalloc.start()
    try:
        async with Harness(make_settings(), replay_files=[path]) as h:
            await h.finished()
            parser = h.worker.parser
            _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert parser.ignored == {"unconfigured symbol": 100_000}
    assert len(parser._symbols) == 1 and len(parser._streams) == 1
    assert [md.symbol for md in h.market] == ["BTCUSDT"] * 3
    assert peak < 150 * 2**20


def test_distinct_reasons_are_bounded():
    p = FrameParser()
    for code in range(5 * MAX_REASONS):
        p.parse(json.dumps({"code": code, "msg": "no"}), 0)
    for k in range(5 * MAX_REASONS):
        p.parse(json.dumps({"stream": f"btcusdt@weird{k}x", "data": {}}), 0)
    assert len(p.malformed) <= MAX_REASONS and p.malformed["other"] > 0
    assert len(p.ignored) <= MAX_REASONS and len(p.samples) <= 2 * MAX_REASONS
    assert balanced(p)


def test_without_a_symbol_list_symbols_are_capped():
    from tui_trader.feeds.parser import MAX_SYMBOLS

    p = FrameParser()
    for k in range(MAX_SYMBOLS + 50):
        p.parse(trade(1, price="2", symbol=f"s{k}usdt"), 0)
    assert len(p._symbols) == MAX_SYMBOLS and p.ignored == {"unconfigured symbol": 50}


# --- the counts at the collector --------------------------------------------------------------------


async def test_bad_frames_are_counted_once_by_reason_in_the_summary_and_the_health_counters(tmp_path):
    frames = [
        trade(1, event=T0),
        trade(2, price="NaN", event=T0 + 1),
        trade(3, event=10**18),
        trade(4, price="1e300", event=T0 + 2),
        trade(2**70, event=T0 + 3),
        "garbage",
        trade(5, event=T0 + 1500),
        trade(1, symbol="ethusdt", event=T0 + 1600),
        trade(5, event=T0 + 1700),
    ]
    h = await replay(frames, tmp_path)
    s = h.worker.summary()
    assert s["malformed"] == {"non-finite trade price": 1, "bad event time": 1, "not JSON": 1}
    assert s["quarantined"] == {"trade price outside band": 1, "trade id jump": 1}
    assert s["ignored"] == {"unconfigured symbol": 1} and s["duplicates"] == {"trade": 1}
    assert s["published"] == {"trade": 2, "book": 0, "mark": 0} and s["bad_frames"] == 5
    assert (
        s["read"]
        == len(frames)
        == sum(sum(s[k].values()) for k in ("published", "malformed", "quarantined", "ignored", "duplicates"))
    )
    last = [x for x in h.health if x.component == "collector"][-1]
    assert last.state == "bad_frames"
    assert last.counters["quarantined:trade id jump"] == 1 and last.counters["malformed:not JSON"] == 1
    assert last.counters["read"] == len(frames)
    assert "quarantined 2" in last.detail and "malformed 3" in last.detail


async def test_a_clean_replay_reports_ok(btc_frames, tmp_path):
    h = await replay(btc_frames[:300], tmp_path)
    states = [x.state for x in h.health if x.component == "collector"]
    assert states and set(states) == {"ok"}
    assert not any(math.isnan(md.price) for md in h.market)


def test_a_payload_whose_symbol_is_not_its_streams_is_malformed():
    """Found by the fuzz suite: an ETH stream carrying a BTC payload set ETH's price baseline at BTC's price."""
    p = FrameParser()
    frame = json.loads(trade(1))
    frame["stream"] = "ethusdt@trade"
    assert p.parse(json.dumps(frame), 0) is None
    assert p.malformed == {"symbol differs from its stream": 1} and p.symbols_seen() == ["ETHUSDT"]
    assert p.parse(trade(1, price="2500.1", symbol="ethusdt"), 0).price == 2500.1


def test_headless_json_shows_the_bad_frames_by_reason(btc_frames, tmp_path):
    import subprocess
    import sys

    trades = market_trades(btc_frames)
    frames = list(btc_frames[:1000])
    for k, change in ((20, {"p": "1e9"}), (30, {"p": "NaN"}), (40, {"t": 2**70})):
        frames[trades[k][0]] = mutate(frames[trades[k][0]], **change)
    path = write_recording(tmp_path / "bad.gz", frames)
    run = subprocess.run(
        [sys.executable, "-m", "tui_trader", "headless", "--replay", str(path), "--speed", "max", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["quarantined"] == {"trade price outside band": 1, "trade id jump": 1}
    assert summary["malformed"] == {"non-finite trade price": 1}
    assert summary["workers"]["collector"]["bad_frames"] == 3
    assert sum(summary["published"].values()) == len(frames) - 3
