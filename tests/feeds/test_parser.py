"""Frames → MarketData: the numbers, the book carried onto trades, duplicates, and bad input counted."""

from __future__ import annotations

import json

import pytest

from tui_trader.feeds.parser import FrameParser, Limits

BOOK = (
    '{"stream":"btcusdt@bookTicker","data":{"e":"bookTicker","u":5123107839020,"s":"BTCUSDT","b":"61800.20",'
    '"B":"2.507","a":"61800.30","A":"2.510","T":1723161256313,"E":1723161256314}}'
)
TRADE = (
    '{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161256322,"T":1723161256321,"s":"BTCUSDT",'
    '"t":5266583935,"p":"61800.30","q":"0.006","X":"MARKET","m":false}}'
)


def frame(stream: str, **data) -> str:
    return json.dumps({"stream": stream, "data": data})


def test_book_then_trade_numbers_and_carried_book():
    p = FrameParser()
    book = p.parse(BOOK, 111)
    assert (book.symbol, book.kind, book.bid, book.bid_qty, book.ask, book.ask_qty) == (
        "BTCUSDT",
        "book",
        61800.2,
        2.507,
        61800.3,
        2.51,
    )
    assert (book.price, book.volume, book.event_time, book.recv_time) == (0.0, 0.0, 1723161256314, 111)
    trade = p.parse(TRADE.encode(), 222)
    assert (trade.kind, trade.price, trade.volume, trade.event_time, trade.recv_time) == (
        "trade",
        61800.3,
        0.006,
        1723161256322,
        222,
    )
    # A trade carries the latest bid/ask of its symbol; the next book carries the last trade price.
    assert (trade.bid, trade.ask, trade.bid_qty, trade.ask_qty) == (61800.2, 61800.3, 2.507, 2.51)
    nxt = p.parse(
        frame(
            "btcusdt@bookTicker", u=5123107839021, s="BTCUSDT", b="61800.1", B="1", a="61800.4", A="2", E=1723161256400
        ),
        333,
    )
    assert nxt.price == 61800.3
    assert p.summary()["published"] == {"trade": 1, "book": 2, "mark": 0}


def test_ts_comes_from_the_stamp_given_the_event_time():
    seen = []
    p = FrameParser(stamp=lambda e: seen.append(e) or e + 5)
    md = p.parse(TRADE, 0)
    assert seen == [1723161256322] and md.ts == 1723161256327


def test_real_linear_messages_parse_and_non_market_data_is_ignored(shared_data):
    lines = (shared_data / "binance_msgs" / "binance_linear_messages.jsonl").read_text().splitlines()
    raws = [json.loads(line)["raw"] for line in lines]
    p = FrameParser(limits=Limits(max_time_jump_ms=10 * 365 * 86_400_000))  # single messages from several years
    out = [md for md in (p.parse(r, 0) for r in raws) if md is not None]
    agg = json.loads(next(r for r in raws if r.startswith('{"stream":"btcusdt@aggTrade"')))["data"]
    md = next(md for md in out if md.symbol == "BTCUSDT" and md.kind == "trade")
    assert (md.price, md.volume, md.event_time) == (float(agg["p"]), float(agg["q"]), agg["E"])
    eth = next(md for md in out if md.symbol == "ETHUSDT" and md.kind == "book")
    assert (eth.bid, eth.ask) == (1778.54, 1778.55)
    s = p.summary()
    assert s["malformed"] == {}
    assert s["published"]["trade"] + s["published"]["book"] + s["published"]["mark"] == len(out)
    assert {"depth", "kline", "ticker"} <= set(s["ignored"])
    # markPrice frames are read: the mark price, funding rate and next funding time of their symbol.
    assert s["published"]["mark"] > 0
    mark = next(md for md in out if md.kind == "mark")
    assert mark.mark_price > 0 and mark.next_funding_time > 0


def test_unknown_fields_are_ignored():
    p = FrameParser()
    md = p.parse(
        frame(
            "ethusdt@aggTrade",
            e="aggTrade",
            E=10,
            a=7,
            s="ETHUSDT",
            p="2000.5",
            q="1.25",
            f=1,
            l=2,
            T=9,
            m=True,
            nq="1.25",
            brand_new=[1, {"x": 2}],
        ),
        0,
    )
    assert (md.symbol, md.kind, md.price, md.volume, md.event_time) == ("ETHUSDT", "trade", 2000.5, 1.25, 10)
    bk = p.parse(
        frame(
            "ethusdt@bookTicker",
            e="bookTicker",
            u=3,
            s="ETHUSDT",
            b="2000.4",
            B="2",
            a="2000.6",
            A="4",
            T=5,
            E=6,
            st=1,
            ps="ETHUSDT",
        ),
        0,
    )
    assert bk is not None and bk.bid == 2000.4


def test_event_time_falls_back_to_transaction_time():
    md = FrameParser().parse(frame("btcusdt@trade", t=1, p="1", q="1", T=77), 0)
    assert md.event_time == 77


@pytest.mark.parametrize(
    "stream, key", [("btcusdt@trade", "t"), ("btcusdt@aggTrade", "a"), ("btcusdt@bookTicker", "u")]
)
def test_resent_and_older_updates_are_dropped_once_published(stream, key):
    p = FrameParser()
    base = dict(s="BTCUSDT", p="1", q="1", b="1", B="1", a="1.01", A="1", E=1)
    published = []
    for ident in (10, 11, 11, 9, 12, 12):
        data = dict(base, **{key: ident})  # for aggTrade the id "a" replaces the ask, unused there
        md = p.parse(frame(stream, **data), 0)
        if md is not None:
            published.append(ident)
    assert published == [10, 11, 12]
    assert sum(p.duplicates.values()) == 3


def test_garbage_is_counted_per_reason_and_never_raises():
    p = FrameParser()
    garbage = [
        b"not json at all",
        "",
        "[1,2,3]",
        b"\x00\xff\xfe",
        '{"code":2,"msg":"Invalid request: bad stream"}',
        '{"code":3,"msg":"Invalid JSON"}',
        '{"result":null,"id":1}',
        '{"lastUpdateId":1,"bids":[],"asks":[]}',
        '{"stream":"btcusdt@trade","data":{"e":"trade","t":1,"p":"abc","q":"1","E":1}}',
        '{"stream":"btcusdt@bookTicker","data":{"u":5}}',
        '{"stream":"btcusdt@trade"}',
        '{"stream":"btcusdt@depth@0ms","data":{"e":"depthUpdate","b":[],"a":[]}}',
        '{"stream":42,"data":{}}',
    ]
    for g in garbage:
        assert p.parse(g, 0) is None
    assert p.malformed == {
        "not JSON": 3,
        "not a JSON object": 2,
        "subscription error (code 2)": 1,
        "subscription error (code 3)": 1,
        "bad trade payload": 2,
        "bad bookTicker payload": 1,
    }
    assert p.ignored == {"reply": 1, "no stream": 1, "depth": 1}
    assert p.parse(TRADE, 0) is not None  # still working


def test_problem_report_gives_new_counts_once_with_a_sample():
    p = FrameParser()
    assert p.problem_report() is None
    p.parse("garbage!", 0)
    p.parse("garbage!", 0)
    first = p.problem_report()
    assert first.startswith("malformed frames: not JSON: 2 (total 2), e.g. garbage!")
    assert p.problem_report() is None
    p.parse("more", 0)
    assert p.problem_report() == "malformed frames: not JSON: 1 (total 3)"


def test_depth_frames_of_a_known_stream_are_ignored_and_broken_ones_still_malformed():
    """Frames of a stream already seen take the one-pass way; what they count as must not change."""
    p = FrameParser(symbols=["BTCUSDT"])
    good = '{"stream":"btcusdt@depth@0ms","data":{"e":"depthUpdate","E":1,"b":[["1","2"]],"a":[]}}'
    for _ in range(3):  # the first opens the stream (the general way), the others go the one-pass way
        assert p.parse(good, 0) is None
    assert p.parse(good[:-5], 0) is None  # cut short: not JSON, as before
    assert p.parse('{"stream":"btcusdt@depth@0ms","data":{"e":"trade","t":1,"p":"1","q":"1","E":1}}', 0) is None
    assert p.ignored == {"depth": 4} and p.malformed == {"not JSON": 1} and p.trades == 0
