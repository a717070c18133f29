"""What the desk folds from the bus, without a screen: order log rows, positions and PnL, controls, health."""

from __future__ import annotations

import desk_canned as canned

from tui_trader import messages as m
from tui_trader.portfolio.router_core import RouterCore
from tui_trader.settings import Settings
from tui_trader.ui.format import age, percent_b, price, qty, sparkline
from tui_trader.ui.state import DAY_MS, DeskModel


def folded() -> DeskModel:
    st = DeskModel(starting_balance=10_000.0)
    handlers = {
        m.MARKET_DATA: st.on_market_data,
        m.SIGNALS: st.on_signal,
        m.ORDERS: st.on_command,
        m.ORDER_STATUS: st.on_status,
        m.CONTROL: st.on_control,
        m.HEALTH: st.on_health,
        m.ACCOUNT: st.on_account,
    }
    for batch in canned.batches():
        for topic, _key, msg in batch:
            handlers[topic](msg)
    return st


def test_the_order_log_has_one_row_per_order_newest_first_with_denials():
    st = folded()
    rows = st.orders_newest_first()
    assert rows[0].order_id == "e0000005-denied"
    assert rows[0].status == "rejected" and rows[0].reason.startswith("max_open_positions:")
    by_id = {r.order_id: r for r in rows}
    assert by_id["a0000001-entry"].status == "filled" and by_id["a0000001-entry"].price == canned.btc(2)
    assert by_id["a0000001-sl"].status == "canceled" and by_id["a0000001-sl"].purpose == "stop_loss"
    eth = by_id["d0000004-entry"]
    assert (eth.status, eth.filled, eth.qty) == ("filled", 0.5, 0.5)
    assert [r.seq for r in rows] == sorted((r.seq for r in rows), reverse=True)


def test_positions_and_pnl_come_from_the_same_portfolio_the_router_folds():
    st = folded()
    pos = st.portfolio.positions
    assert set(pos) == {"BTCUSDT", "ETHUSDT"}
    btc, eth = pos["BTCUSDT"], pos["ETHUSDT"]
    assert (btc.side, btc.quantity, btc.entry_price) == ("long", 0.016, canned.btc(12))
    assert (btc.stop_loss, btc.take_profit) == (round(canned.btc(12) * 0.97, 1), round(canned.btc(12) * 1.06, 1))
    assert btc.mark_price == canned.btc(canned.STEPS - 1), "marked to the newest price"
    assert eth.side == "short" and eth.liquidation_price == round(canned.eth(15) * 1.095, 2)
    realized = (canned.btc(8) - canned.btc(2)) * 0.02
    assert abs(st.realized_today(canned.NOW) - realized) < 1e-9
    assert abs(st.fees_today(canned.NOW) - (0.6 + 0.6 + 0.48 + 0.66)) < 1e-9
    assert st.realized_today(canned.NOW + DAY_MS) == 0.0, "a new UTC day starts at zero"


def router_health(core: RouterCore, ts: int) -> m.Health:
    """The router's record as the router worker publishes it."""
    state, detail = core.state()
    return m.Health(component=m.ROUTER_COMPONENT, state=state, detail=detail, halt=core.halt_state, ts=ts)


def test_the_halt_and_pause_badges_never_disagree_with_the_router():
    core = RouterCore(Settings())
    st = DeskModel(starting_balance=1.0)
    st.on_health(router_health(core, 1))
    steps = [
        ("kill", "desk"),
        ("resume", "desk"),  # ignored by the router while halted
        ("pause", "desk"),
        ("rearm", "desk"),  # halt cleared, still paused
        ("resume", "desk"),
        ("kill", "desk-2"),  # another desk pulls it
        ("rearm", "supervisor"),
        ("pause", "supervisor"),
        ("resume", "desk"),
    ]
    for ts, (command, origin) in enumerate(steps, start=2):
        before = (st.halted, st.paused)
        c = m.Control(command=command, origin=origin, ts=ts)
        st.on_control(c)
        assert (st.halted, st.paused) == before, f"{command}: the desk changed the state by itself"
        core.on_control(c, ts)
        st.on_health(router_health(core, ts))
        assert (st.halted, st.paused) == (core.halted, core.paused), f"after {command} from {origin}"
        if core.halted:
            assert st.halted_at == core.halt_state.halted_at and origin in st.halt_detail
    assert any("kill from desk-2" in n.message for n in st.notices)


def test_a_desk_that_starts_after_a_kill_shows_it_from_the_routers_record():
    core = RouterCore(Settings(), state=m.HaltState(halted=True, halted_at=1_000, halted_by="desk-2"))
    st = DeskModel(starting_balance=1.0)  # never saw the kill itself
    st.on_health(router_health(core, 5_000))
    assert st.halted and st.paused and st.halted_at == 1_000 and st.halt_detail == "kill switch (desk-2)"


def test_stale_symbols_by_age_and_by_feed_health():
    st = folded()
    assert st.stale_symbols(canned.NOW, 10.0) == set()
    assert st.stale_symbols(canned.NOW + 60_000, 10.0) == {"BTCUSDT", "ETHUSDT"}
    st.on_health(m.Health(component="feed:replay", state="stale", symbols=["ETHUSDT"], ts=canned.NOW))
    assert st.stale_symbols(canned.NOW, 10.0) == {"ETHUSDT"}
    assert st.feed_state() == "stale"


def test_the_sparkline_keeps_one_point_per_bucket_of_exchange_time():
    st = folded()
    spark = list(st.quotes["BTCUSDT"].spark)
    assert spark == [canned.btc(i) for i in range(canned.STEPS)]
    assert len(sparkline(spark, 10)) == 10


def test_formats():
    assert (price(61_234.56), price(2612.3), price(0.51234567)) == ("61234.6", "2612.30", "0.512346")
    assert (qty(0.0010), qty(120.0), qty(0.00001)) == ("0.001", "120", "0.00001")
    assert (age(400), age(12_300), age(185_000), age(7_800_000)) == ("0.4s", "12s", "3m05", "2h10")
    assert percent_b(101.0, 100.0, 102.0) == 0.5 and percent_b(1.0, 2.0, 2.0) is None


def test_identical_denials_in_a_row_fold_into_one_row():
    st = DeskModel(starting_balance=1.0)

    def deny(i: int, symbol: str, error: str) -> None:
        st.on_status(
            m.OrderStatus(
                order_id=f"d{i}",
                symbol=symbol,
                side="buy" if i % 2 else "sell",
                purpose="entry",
                status="rejected",
                error=error,
                mode="paper",
                ts=1000 + i,
            )
        )

    for i in range(5):
        deny(i, "BTCUSDT", "halted: trading is halted by the kill switch")
    deny(5, "BTCUSDT", "cooldown: 10 s left")
    deny(6, "ETHUSDT", "cooldown: 5 s left")
    deny(7, "ETHUSDT", "cooldown: 4 s left")
    rows = st.orders_newest_first()
    assert [(r.symbol, r.reason.split(":")[0], r.repeats) for r in rows] == [
        ("ETHUSDT", "cooldown", 2),
        ("BTCUSDT", "cooldown", 1),
        ("BTCUSDT", "halted", 5),
    ]
    assert rows[0].ts == 1007 and rows[0].reason == "cooldown: 4 s left", "the newest denial's time and reason"


def test_a_reconnect_loop_is_notified_once_a_minute():
    st = DeskModel(starting_balance=1.0)
    for i in range(10):  # down, connecting, down… every 3 s
        st.on_health(m.Health(component="feed:public-1", state="down", detail="cannot resolve", ts=i * 6_000))
        st.on_health(m.Health(component="feed:public-1", state="connecting", ts=i * 6_000 + 3_000))
    st.on_health(m.Health(component="feed:public-1", state="down", detail="cannot resolve", ts=61_000))
    assert [n.title for n in st.notices] == ["Feed down", "Feed down"]


def test_the_executors_answer_ends_a_switch_even_when_its_clock_runs_behind_the_desks():
    st = DeskModel(starting_balance=1.0)
    st.on_health(m.Health(component=m.MODE_COMPONENT, state="paper", ts=1_000))
    st.on_control(m.Control(command="set_mode", arg="live", origin="desk", ts=5_000))
    assert st.mode == "paper" and st.mode_requested == "live"
    st.on_health(m.Health(component=m.MODE_COMPONENT, state="paper", ts=900))  # an old record read late
    assert st.mode_requested == "live", "an older record without a refusal is not the answer"
    st.on_health(m.Health(component=m.MODE_COMPONENT, state="live", ts=4_200))  # the workers' clock is behind
    assert st.mode == "live" and st.mode_requested == ""
    # The desk's own request read back from the bus changes nothing.
    st.on_control(m.Control(command="set_mode", arg="live", origin="desk", ts=5_000))
    assert st.mode_requested == ""
    st.on_control(m.Control(command="set_mode", arg="paper", origin="desk", ts=6_000))
    st.on_health(m.Health(component=m.MODE_COMPONENT, state="live", detail="positions open at the venue", ts=5_500))
    assert st.mode == "live" and st.mode_requested == "" and st.mode_refusal == "positions open at the venue"
