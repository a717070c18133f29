"""The contract between each venue's feed and MarketData, one suite over Binance USD-M, OKX and Bybit: the
same numbers give the same records (symbol in the desk's form, the venue as exchange), and bad input is
counted the same way through the same checks."""

from __future__ import annotations

import pytest

from tui_trader.feeds.parser import FrameParser, Limits
from venues.frames import VENUES, Venue

T0 = 1_764_650_000_000
NEXT = T0 + 3_600_000


@pytest.fixture(params=VENUES)
def venue(request) -> Venue:
    return Venue(request.param)


def parse(p: FrameParser, frames: list[str], recv: int = 5) -> list:
    out = []
    for f in frames:
        out += p.parse_all(f, recv)
    return out


def balanced(p: FrameParser) -> bool:
    s = p.summary()
    buckets = (s["published"], s["ignored"], s["duplicates"], s["malformed"], s["quarantined"])
    return s["frames"] == sum(sum(b.values()) for b in buckets)


def test_real_shaped_frames_of_every_venue_give_the_same_records(venue):
    p = FrameParser(symbols=["BTCUSDT"])
    book = parse(p, venue.book(10, 60000.1, 60000.2, T0))
    trade = parse(p, venue.trade(100, 60000.2, 0.5, T0 + 1))
    marks = parse(p, venue.mark(60001.5, 60000.9, -0.00025, NEXT, T0 + 2))
    assert [(md.kind, md.symbol, md.exchange) for md in book + trade + marks] == [
        ("book", "BTCUSDT", venue.name),
        ("trade", "BTCUSDT", venue.name),
        ("mark", "BTCUSDT", venue.name),
    ]
    assert (book[0].bid, book[0].ask, book[0].bid_qty, book[0].event_time, book[0].recv_time) == (
        60000.1,
        60000.2,
        2.0,
        T0,
        5,
    )
    t = trade[0]
    assert (t.price, t.volume, t.bid, t.ask, t.event_time) == (60000.2, 0.5, 60000.1, 60000.2, T0 + 1)
    mk = marks[0]
    # The mark record carries the latest trade and book too, so a consumer of one kind sees the whole symbol.
    assert (mk.mark_price, mk.funding_rate, mk.next_funding_time, mk.price, mk.bid) == (
        60001.5,
        -0.00025,
        NEXT,
        60000.2,
        60000.1,
    )
    if venue.name != "okx":  # OKX's index price is another channel (index-tickers), not subscribed
        assert mk.index_price == 60000.9
    assert balanced(p)


def test_a_later_funding_update_keeps_the_mark_and_a_mark_update_keeps_the_funding(venue):
    p = FrameParser(symbols=["BTCUSDT"])
    parse(p, venue.trade(1, 60000.0, 1.0, T0))
    parse(p, venue.mark(60001.0, 60000.0, 0.0001, NEXT, T0 + 1))
    later = parse(p, venue.mark(60002.0, 60000.0, 0.0003, NEXT + 8 * 3_600_000, T0 + 1000))
    assert later[-1].mark_price == 60002.0 and later[-1].funding_rate == 0.0003
    assert later[-1].next_funding_time == NEXT + 8 * 3_600_000


@pytest.mark.parametrize("what, reason", [("nan", "non-finite trade price"), ("zero", "non-positive trade price")])
def test_a_trade_price_that_cannot_be_market_data_is_malformed_on_every_venue(venue, what, reason):
    p = FrameParser(symbols=["BTCUSDT"])
    price = float("nan") if what == "nan" else 0.0
    frames = [f.replace('"nan"', '"NaN"') for f in venue.trade(1, price, 1.0, T0)]
    assert parse(p, frames) == []
    assert p.summary()["malformed"] == {reason: 1}
    assert balanced(p)


def test_an_absurd_print_is_quarantined_and_the_stream_goes_on(venue):
    p = FrameParser(symbols=["BTCUSDT"], limits=Limits(confirm=3))
    parse(p, venue.trade(1, 60000.0, 1.0, T0))
    assert parse(p, venue.trade(2, 6e8, 1.0, T0 + 1)) == []
    after = parse(p, venue.trade(3, 60001.0, 1.0, T0 + 2))
    assert [md.price for md in after] == [60001.0]
    assert p.summary()["quarantined"] == {"trade price outside band": 1}


def test_a_mark_far_from_the_market_is_quarantined(venue):
    p = FrameParser(symbols=["BTCUSDT"])
    parse(p, venue.trade(1, 60000.0, 1.0, T0))
    assert [md for md in parse(p, venue.mark(6_000_000.0, 60000.0, 0.0001, NEXT, T0 + 1)) if md.kind == "mark"] == []
    assert p.summary()["quarantined"] == {"mark price outside band": 1}


def test_an_absurd_funding_rate_is_malformed(venue):
    p = FrameParser(symbols=["BTCUSDT"])
    parse(p, venue.trade(1, 60000.0, 1.0, T0))
    parse(p, venue.mark(60000.0, 60000.0, 0.0001, NEXT, T0 + 1))
    # 500 % per interval is no funding rate: dropped (OKX's mark on its own channel still goes out, with the
    # last good rate).
    assert [md.funding_rate for md in parse(p, venue.mark(60000.0, 60000.0, 5.0, NEXT, T0 + 2))] in ([], [0.0001])
    assert p.summary()["malformed"] == {"bad funding rate": 1}


def test_unconfigured_symbols_replies_pongs_and_subscription_errors_are_counted(venue):
    p = FrameParser(symbols=["BTCUSDT"])
    assert parse(p, venue.trade(1, 3000.0, 1.0, T0, symbol="ETHUSDT")) == []
    assert parse(p, [venue.reply()]) == []
    if venue.pong() is not None:
        assert parse(p, [venue.pong()]) == []
    assert parse(p, [venue.sub_error()]) == []
    s = p.summary()
    assert s["ignored"]["unconfigured symbol"] == 1 and s["ignored"]["reply"] == 1
    assert s["ignored"].get("pong", 0) == (venue.pong() is not None)
    assert [r for r in s["malformed"] if r.startswith("subscription error")] != []
    assert p.symbols_seen() == []  # nothing remembered for what is not traded
    assert balanced(p)


def test_a_frame_that_is_not_json_is_malformed(venue):
    p = FrameParser(symbols=["BTCUSDT"])
    assert parse(p, ['{"arg":', "garbage"]) == []
    assert sum(p.summary()["malformed"].values()) == 2


@pytest.mark.parametrize("seed", range(3))
def test_mangled_frames_of_every_venue_never_raise_and_every_frame_lands_in_one_bucket(venue, seed):
    import json
    import random

    rng = random.Random(seed)
    p = FrameParser(symbols=["BTCUSDT"])
    junk = [None, "", "NaN", "-1", "1e400", [], {}, "abc", 2**70, -5, True]
    for i in range(300):
        frames = rng.choice(
            [
                venue.trade(i + 1, 60000.0 + i, 0.1, T0 + i),
                venue.book(i + 1, 59999.0, 60001.0, T0 + i),
                venue.mark(60000.0, 60000.0, 0.0001, NEXT, T0 + i),
            ]
        )
        for f in frames:
            obj = json.loads(f)
            data = obj.get("data")
            entry = data[0] if isinstance(data, list) and data else data
            if isinstance(entry, dict) and rng.random() < 0.5:
                entry[rng.choice(list(entry))] = rng.choice(junk)
            p.parse_all(json.dumps(obj), 0)
    assert balanced(p)
    assert p.summary()["malformed"].get("unreadable frame", 0) == 0  # every case is handled by a check
