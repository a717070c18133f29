"""Messages: frozen, JSON round-trip with the contract's field names, and bad records never stop a consumer."""

from __future__ import annotations

import json
import logging

import msgspec
import pytest

from tui_trader import messages as m


def sample_messages():
    ind = m.Indicators(
        rsi=25.0,
        macd=1.0,
        macd_signal=0.5,
        macd_hist=0.5,
        bb_upper=110.0,
        bb_middle=100.0,
        bb_lower=90.0,
        sma_fast=101.0,
        sma_slow=99.0,
        ema_fast=100.5,
        ema_slow=100.1,
    )
    return [
        m.MarketData(
            symbol="BTCUSDT",
            kind="trade",
            price=60000.5,
            volume=0.01,
            bid=60000.4,
            bid_qty=1.0,
            ask=60000.6,
            ask_qty=2.0,
            event_time=1,
            recv_time=2,
            ts=3,
        ),
        m.MarketData(
            symbol="BTCUSDT",
            exchange="okx",
            kind="mark",
            price=60000.5,
            mark_price=60001.0,
            index_price=60000.0,
            funding_rate=-0.0001,
            next_funding_time=1_700_000_000_000,
            event_time=1,
            recv_time=2,
            ts=3,
        ),
        m.TradingSignal(
            id="s1",
            symbol="BTCUSDT",
            signal="StrongBuy",
            strength=1.0,
            buy_score=5,
            sell_score=0,
            reasons=["rsi<30:+2", "macd>signal:+1"],
            indicators=ind,
            price=60000.5,
            ts=4,
        ),
        m.OrderCommand(
            id=m.new_id(),
            symbol="BTCUSDT",
            side="buy",
            quantity=0.016,
            ref_price=60000.5,
            stop_loss=58200.5,
            take_profit=63600.5,
            leverage=10,
            purpose="entry",
            mode="paper",
            ts=5,
        ),
        m.OrderStatus(
            order_id="o1",
            symbol="BTCUSDT",
            side="buy",
            purpose="entry",
            status="filled",
            filled_qty=0.016,
            avg_price=60000.6,
            fee=0.48,
            mode="paper",
            ts=6,
        ),
        m.Control(command="kill", origin="desk", ts=7),
        m.Health(component="feed:public-1", state="live", symbols=["BTCUSDT"], ts=8),
        m.Account(mode="paper", exchange="paper", balance_total=1.0, balance_free=1.0, ts=9),
        m.IndicatorValues(
            symbol="BTCUSDT",
            indicators=ind,
            price=60000.5,
            buy_score=1,
            sell_score=2,
            reasons=["macd>signal:+1", "rsi>70:+2"],
            points=57,
            ts=10,
        ),
    ]


@pytest.mark.parametrize("msg", sample_messages(), ids=lambda x: type(x).__name__)
def test_round_trip_through_json(msg):
    topic = next(t for t, cls in m.TOPIC_TYPES.items() if cls is type(msg))
    raw = m.encode(msg)
    assert json.loads(raw)["v"] == m.SCHEMA_VERSION
    assert m.Decoder().decode(topic, raw) == msg


def test_messages_are_frozen():
    msg = sample_messages()[0]
    with pytest.raises(AttributeError):
        msg.price = 1.0  # type: ignore[misc]


def test_wire_field_names_match_the_contract():
    fields = {cls.__name__: set(cls.__struct_fields__) - {"v"} for cls in m.TOPIC_TYPES.values()}
    assert fields["MarketData"] == {
        "symbol",
        "exchange",
        "kind",
        "price",
        "volume",
        "bid",
        "bid_qty",
        "ask",
        "ask_qty",
        "mark_price",
        "index_price",
        "funding_rate",
        "next_funding_time",
        "event_time",
        "recv_time",
        "ts",
        "gap",  # the symbol's feed lost trades and is not whole again (no entries on it)
    }
    assert fields["TradingSignal"] == {
        "id",
        "symbol",
        "signal",
        "strength",
        "buy_score",
        "sell_score",
        "reasons",
        "indicators",
        "price",
        "ts",
    }
    assert fields["OrderCommand"] == {
        "id",
        "symbol",
        "side",
        "order_type",
        "quantity",
        "ref_price",
        "stop_loss",
        "take_profit",
        "leverage",
        "reduce_only",
        "purpose",
        "signal_id",
        "mode",
        "ts",
    }
    assert fields["OrderStatus"] == {
        "order_id",
        "exchange_order_id",
        "symbol",
        "side",
        "purpose",
        "status",
        "filled_qty",
        "avg_price",
        "fee",
        "stop_loss_order_id",
        "take_profit_order_id",
        "stop_loss_price",
        "take_profit_price",
        "error",
        "mode",
        "ts",
    }
    # answer: the desk's typed reconciliation answer; settings: the values a desk saved, taken live by workers.
    assert fields["Control"] == {"command", "arg", "answer", "settings", "origin", "ts"}
    assert fields["IndicatorValues"] == {
        "symbol",
        "indicators",
        "price",
        "buy_score",
        "sell_score",
        "reasons",
        "points",
        "ts",
    }
    assert m.TOPIC_TYPES[m.INDICATOR_VALUES] is m.IndicatorValues and m.INDICATOR_VALUES in m.TOPICS
    assert m.INDICATOR_VALUES not in m.LOSSLESS_TOPICS  # the desk only needs each symbol's newest


def test_topic_names_are_fluvio_legal():
    import re

    for topic in m.TOPICS:
        assert re.fullmatch(r"[a-z0-9][a-z0-9-]{0,61}[a-z0-9]", topic)
    assert m.topic_name(m.ORDERS, "desk2") == "desk2-trading-orders"


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b'{"symbol": "BTCUSDT"}',  # missing required fields
        b'{"v":1,"symbol":"BTCUSDT","kind":"quote","event_time":1,"recv_time":1,"ts":1}',  # bad choice
        b'{"v":1,"symbol":"BTCUSDT","kind":"trade","price":"60000","event_time":1,"recv_time":1,"ts":1}',  # string
    ],
)
def test_malformed_records_are_counted_and_logged_with_topic_and_offset(raw, caplog):
    dec = m.Decoder()
    with caplog.at_level(logging.WARNING):
        assert dec.decode_record(m.MARKET_DATA, raw, 42) is None
    assert dec.malformed == {m.MARKET_DATA: 1}
    assert "trading-market-data" in caplog.text and "offset 42" in caplog.text


def test_a_flood_of_malformed_records_does_not_flood_the_log(caplog):
    dec = m.Decoder()
    with caplog.at_level(logging.WARNING):
        for i in range(3000):
            dec.decode_record(m.ORDERS, b"{", i)
    assert dec.malformed[m.ORDERS] == 3000
    assert len(caplog.records) == 5 + 3  # the first five, then every 1000th


def test_validation_rejects_wrong_types_on_decode():
    with pytest.raises(msgspec.ValidationError):
        m.Decoder().decode(m.CONTROL, b'{"command":"explode","ts":1}')


def test_a_market_data_record_written_before_mark_fields_existed_decodes_with_them_unknown():
    old = (
        b'{"v":1,"symbol":"BTCUSDT","exchange":"binanceusdm","kind":"trade","price":1.5,"volume":1.0,"bid":0.0,'
        b'"bid_qty":0.0,"ask":0.0,"ask_qty":0.0,"event_time":1,"recv_time":1,"ts":1}'
    )
    md = m.Decoder().decode(m.MARKET_DATA, old)
    assert (md.kind, md.price, md.mark_price, md.funding_rate, md.next_funding_time) == ("trade", 1.5, 0.0, 0.0, 0)
