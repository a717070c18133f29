"""A fixed, deterministic session for desk tests: two minutes of BTCUSDT and ETHUSDT with signals, orders,
fills, a denial, protective orders and the account, as the workers would publish them.

Published in batches (`batches()`), one UI tick per batch, so the sparklines and every pane come out the
same on every run: the desk folds only the newest market data per symbol per tick.
"""

from __future__ import annotations

import math

from tui_trader import messages as m
from tui_trader.bus import Bus

T0 = 1_723_161_000_000  # 2024-08-08 23:50:00 UTC
STEP_MS = 5_000
STEPS = 24
NOW = T0 + STEPS * STEP_MS  # the fixed clock of the snapshots: 23:52:00
SYMBOLS = ["BTCUSDT", "ETHUSDT"]


def btc(i: int) -> float:
    return round(60_000 + 40 * math.sin(i / 3) + 3 * i, 1)


def eth(i: int) -> float:
    return round(2_650 - 4 * math.cos(i / 4) - 0.3 * i, 2)


def _md(symbol: str, price: float, t: int, tick: float) -> list[m.MarketData]:
    bid, ask = round(price - tick, 2), price
    return [
        m.MarketData(
            symbol=symbol,
            kind="trade",
            price=price,
            volume=0.01,
            bid=bid,
            bid_qty=1.0,
            ask=ask,
            ask_qty=1.2,
            event_time=t,
            recv_time=t + 3,
            ts=t,
        ),
        m.MarketData(
            symbol=symbol,
            kind="book",
            price=price,
            bid=bid,
            bid_qty=1.5,
            ask=ask,
            ask_qty=0.8,
            event_time=t + 1,
            recv_time=t + 4,
            ts=t + 1,
        ),
    ]


def _indicators(p: float, rsi: float, trend: float) -> m.Indicators:
    return m.Indicators(
        rsi=rsi,
        macd=trend,
        macd_signal=trend * 0.8,
        macd_hist=trend * 0.2,
        bb_upper=p * 1.002,
        bb_middle=p,
        bb_lower=p * 0.998,
        sma_fast=p + trend,
        sma_slow=p,
        ema_fast=p + trend,
        ema_slow=p,
    )


def _signal(
    sid: str,
    symbol: str,
    kind: str,
    strength: float,
    buy: int,
    sell: int,
    reasons: list[str],
    price: float,
    rsi: float,
    trend: float,
    t: int,
) -> m.TradingSignal:
    return m.TradingSignal(
        id=sid,
        symbol=symbol,
        signal=kind,
        strength=strength,
        buy_score=buy,
        sell_score=sell,  # type: ignore[arg-type]
        reasons=reasons,
        indicators=_indicators(price, rsi, trend),
        price=price,
        ts=t,
    )


def _cmd(
    cid: str,
    symbol: str,
    side: str,
    qty: float,
    price: float,
    purpose: str,
    t: int,
    sl: float | None = None,
    tp: float | None = None,
) -> m.OrderCommand:
    return m.OrderCommand(
        id=cid,
        symbol=symbol,
        side=side,
        quantity=qty,
        ref_price=price,
        stop_loss=sl,  # type: ignore[arg-type]
        take_profit=tp,
        leverage=10,
        reduce_only=purpose != "entry",
        purpose=purpose,  # type: ignore[arg-type]
        mode="paper",
        ts=t,
    )


def _st(
    oid: str,
    symbol: str,
    side: str,
    purpose: str,
    status: str,
    t: int,
    qty: float = 0.0,
    price: float = 0.0,
    fee: float = 0.0,
    sl_id: str | None = None,
    tp_id: str | None = None,
    error: str | None = None,
) -> m.OrderStatus:
    return m.OrderStatus(
        order_id=oid,
        symbol=symbol,
        side=side,
        purpose=purpose,
        status=status,  # type: ignore[arg-type]
        filled_qty=qty,
        avg_price=price,
        fee=fee,
        stop_loss_order_id=sl_id,
        take_profit_order_id=tp_id,
        error=error,
        mode="paper",
        ts=t,
    )


def _events(i: int, t: int) -> list[tuple[str, str, object]]:
    """Trading records that happen at step i (topic, key, message)."""
    out: list[tuple[str, str, object]] = []
    if i == 0:
        for comp, state, detail in (
            ("feed:usdm-0", "live", ""),
            ("worker:collector", "running", ""),
            ("worker:indicator", "running", ""),
            ("worker:router", "running", ""),
            ("worker:executor", "running", ""),
            ("router", "trading", "mode paper"),
        ):
            out.append((m.HEALTH, comp, m.Health(component=comp, state=state, detail=detail, symbols=SYMBOLS, ts=t)))
    if i == 2:
        p = btc(i)
        out.append(
            (
                m.SIGNALS,
                "BTCUSDT",
                _signal(
                    "sig-a",
                    "BTCUSDT",
                    "StrongBuy",
                    0.83,
                    5,
                    1,
                    ["rsi<30:+2", "macd>signal:+1", "near_lower_band:+1", "ema12>ema26:+1"],
                    p,
                    27.4,
                    6.5,
                    t,
                ),
            )
        )
        out.append(
            (
                m.ORDERS,
                "BTCUSDT",
                _cmd(
                    "a0000001-entry",
                    "BTCUSDT",
                    "buy",
                    0.02,
                    p,
                    "entry",
                    t,
                    sl=round(p * 0.97, 1),
                    tp=round(p * 1.06, 1),
                ),
            )
        )
        out.append(
            (
                m.ORDER_STATUS,
                "BTCUSDT",
                _st(
                    "a0000001-entry",
                    "BTCUSDT",
                    "buy",
                    "entry",
                    "filled",
                    t,
                    0.02,
                    p,
                    0.6,
                    sl_id="a0000001-sl",
                    tp_id="a0000001-tp",
                ),
            )
        )
        out.append((m.ORDER_STATUS, "BTCUSDT", _st("a0000001-sl", "BTCUSDT", "sell", "stop_loss", "accepted", t)))
        out.append((m.ORDER_STATUS, "BTCUSDT", _st("a0000001-tp", "BTCUSDT", "sell", "take_profit", "accepted", t)))
    if i == 8:
        p = btc(i)
        out.append(
            (
                m.SIGNALS,
                "BTCUSDT",
                _signal(
                    "sig-b",
                    "BTCUSDT",
                    "Sell",
                    0.71,
                    1,
                    4,
                    ["rsi>60:+1", "macd<signal:+1", "near_upper_band:+1", "sma20<sma50:+1"],
                    p,
                    64.2,
                    -3.1,
                    t,
                ),
            )
        )
        out.append((m.ORDERS, "BTCUSDT", _cmd("b0000002-close", "BTCUSDT", "sell", 0.02, p, "close", t)))
        out.append((m.ORDER_STATUS, "BTCUSDT", _st("a0000001-sl", "BTCUSDT", "sell", "stop_loss", "canceled", t)))
        out.append((m.ORDER_STATUS, "BTCUSDT", _st("a0000001-tp", "BTCUSDT", "sell", "take_profit", "canceled", t)))
        out.append(
            (m.ORDER_STATUS, "BTCUSDT", _st("b0000002-close", "BTCUSDT", "sell", "close", "filled", t, 0.02, p, 0.6))
        )
    if i == 12:
        p = btc(i)
        out.append(
            (
                m.SIGNALS,
                "BTCUSDT",
                _signal(
                    "sig-c",
                    "BTCUSDT",
                    "Buy",
                    0.68,
                    3,
                    1,
                    ["rsi<40:+1", "macd>signal:+1", "ema12>ema26:+1"],
                    p,
                    38.9,
                    2.2,
                    t,
                ),
            )
        )
        out.append(
            (
                m.ORDERS,
                "BTCUSDT",
                _cmd(
                    "c0000003-entry",
                    "BTCUSDT",
                    "buy",
                    0.016,
                    p,
                    "entry",
                    t,
                    sl=round(p * 0.97, 1),
                    tp=round(p * 1.06, 1),
                ),
            )
        )
        out.append(
            (
                m.ORDER_STATUS,
                "BTCUSDT",
                _st(
                    "c0000003-entry",
                    "BTCUSDT",
                    "buy",
                    "entry",
                    "filled",
                    t,
                    0.016,
                    p,
                    0.48,
                    sl_id="c0000003-sl",
                    tp_id="c0000003-tp",
                ),
            )
        )
    if i == 15:
        p = eth(i)
        out.append(
            (
                m.SIGNALS,
                "ETHUSDT",
                _signal(
                    "sig-d",
                    "ETHUSDT",
                    "StrongSell",
                    0.8,
                    1,
                    4,
                    ["rsi>70:+2", "macd<signal:+1", "sma20<sma50:+1"],
                    p,
                    74.8,
                    -1.4,
                    t,
                ),
            )
        )
        out.append(
            (
                m.ORDERS,
                "ETHUSDT",
                _cmd(
                    "d0000004-entry",
                    "ETHUSDT",
                    "sell",
                    0.5,
                    p,
                    "entry",
                    t,
                    sl=round(p * 1.03, 2),
                    tp=round(p * 0.94, 2),
                ),
            )
        )
        out.append(
            (
                m.ORDER_STATUS,
                "ETHUSDT",
                _st("d0000004-entry", "ETHUSDT", "sell", "entry", "partially_filled", t, 0.2, p, 0.26),
            )
        )
    if i == 16:
        p = eth(15)
        out.append(
            (
                m.ORDER_STATUS,
                "ETHUSDT",
                _st(
                    "d0000004-entry",
                    "ETHUSDT",
                    "sell",
                    "entry",
                    "filled",
                    t,
                    0.5,
                    p,
                    0.66,
                    sl_id="d0000004-sl",
                    tp_id="d0000004-tp",
                ),
            )
        )
    if i == 20:
        out.append(
            (
                m.ORDER_STATUS,
                "BTCUSDT",
                _st(
                    "e0000005-denied",
                    "BTCUSDT",
                    "buy",
                    "entry",
                    "rejected",
                    t,
                    error="max_open_positions: 2 positions open (max 2)",
                ),
            )
        )
        out.append(
            (
                m.ACCOUNT,
                "paper",
                m.Account(
                    mode="paper",
                    exchange="paper",
                    balance_total=10_001.0,
                    balance_free=9_800.0,
                    ts=t,
                    positions=[
                        m.PositionSnapshot(
                            symbol="BTCUSDT",
                            side="buy",
                            quantity=0.016,
                            entry_price=btc(12),
                            leverage=10,
                            liquidation_price=round(btc(12) * 0.905, 1),
                            stop_loss=round(btc(12) * 0.97, 1),
                            take_profit=round(btc(12) * 1.06, 1),
                            stop_loss_resting=True,
                            take_profit_resting=True,
                        ),
                        m.PositionSnapshot(
                            symbol="ETHUSDT",
                            side="sell",
                            quantity=0.5,
                            entry_price=eth(15),
                            leverage=10,
                            liquidation_price=round(eth(15) * 1.095, 2),
                            stop_loss=round(eth(15) * 1.03, 2),
                            take_profit=round(eth(15) * 0.94, 2),
                            stop_loss_resting=True,
                            take_profit_resting=True,
                        ),
                    ],
                ),
            )
        )
    return out


def batches() -> list[list[tuple[str, str, object]]]:
    """One batch per 5 s step: the market data of that step, then what happened at it."""
    out = []
    for i in range(STEPS):
        t = T0 + i * STEP_MS
        batch: list[tuple[str, str, object]] = [
            (m.MARKET_DATA, md.symbol, md) for md in _md("BTCUSDT", btc(i), t, 0.1) + _md("ETHUSDT", eth(i), t, 0.01)
        ]
        batch.extend(_events(i, t + 500))
        out.append(batch)
    return out


async def publish(bus: Bus, batch: list[tuple[str, str, object]]) -> None:
    for topic, key, msg in batch:
        await bus.publish(topic, key, m.encode(msg))  # type: ignore[arg-type]
