"""What the desk shows of a replay: "replay 20×" while it plays, "replay done" after it with no symbol stale,
and the replay's own date and time on the clock. Fed by the `feed:replay` Health records the collector
publishes, as a desk attached over the bus would hear them."""

from __future__ import annotations

import json

from feedkit import Harness, make_settings
from test_replay import trade, write_recording

from tui_trader import messages as m
from tui_trader.settings import Settings
from tui_trader.ui.state import DeskModel
from tui_trader.ui.widgets.colours import Colours
from tui_trader.ui.widgets.status import status_text
from tui_trader.ui.widgets.view import View

START_MS = 1_723_161_256_000  # 2024-08-08 23:54:16 UTC, when the real captures begin
COLOURS = Colours(buy="green", sell="red", warn="yellow", muted="grey50", accent="cyan", primary="blue")


def view(state: DeskModel, now_ms: int) -> View:
    return View(
        state=state, settings=Settings(), now_ms=now_ms, colours=COLOURS, lag={}, backend="embedded", narrow=True
    )


def bar(state: DeskModel, now_ms: int) -> str:
    return status_text(view(state, now_ms)).plain


def md(symbol: str, event_ms: int) -> m.MarketData:
    return m.MarketData(
        symbol=symbol,
        exchange="binanceusdm",
        kind="trade",
        price=100.0,
        volume=1.0,
        event_time=event_ms,
        recv_time=event_ms,
        ts=event_ms,
    )


async def replay_health(tmp_path) -> list[m.Health]:
    frames = [trade("BTCUSDT", i, "1", START_MS + i * 500) for i in range(1, 7)]
    path = write_recording(tmp_path / "r.gz", frames)
    async with Harness(make_settings(), replay_files=[path], speed=20.0) as h:
        await h.finished()
    return [x for x in h.health if x.component == "feed:replay"]


async def test_status_reads_replay_20x_while_playing_then_replay_done_with_nothing_stale(tmp_path):
    records = await replay_health(tmp_path)
    assert [(x.state, x.detail) for x in records] == [("live", "replay 20×"), ("done", "replay done")]
    st = DeskModel(starting_balance=10_000.0)
    st.on_market_data(md("BTCUSDT", START_MS))
    st.on_health(records[0])
    playing = bar(st, START_MS + 1000)
    assert "replay 20×" in playing and "feed live" not in playing
    assert "2024-08-08 23:54:17" in playing  # the replay's date and time, not today's, not 00:00:00
    st.on_health(records[-1])
    done = bar(st, START_MS + 3000)
    assert "replay done" in done and "STALE" not in done and "down" not in done
    assert st.stale_symbols(START_MS + 3000, 10.0) == set()  # the Prices pane flags nothing
    assert not any("Feed" in n.title and "down" in n.title for n in st.notices)


def test_the_clock_waits_for_the_first_frame_of_a_replay():
    st = DeskModel(starting_balance=10_000.0)
    st.on_health(m.Health(component="feed:replay", state="live", detail="replay 20×", ts=0))
    text = bar(st, 0)
    assert "00:00:00" not in text and "--:--:--" in text


def test_a_quiet_symbol_in_a_replay_still_reads_stale():
    st = DeskModel(starting_balance=10_000.0)
    st.on_health(
        m.Health(
            component="feed:replay",
            state="stale",
            detail="no message for 10 s of event time: ETHUSDT",
            symbols=["ETHUSDT"],
            ts=START_MS,
        )
    )
    text = bar(st, START_MS)
    assert "feed stale" in text and "replay 20×" not in text


def test_a_live_desk_keeps_its_time_of_day_clock():
    st = DeskModel(starting_balance=10_000.0)
    st.on_health(m.Health(component="feed:public-1", state="live", ts=START_MS))
    text = bar(st, START_MS)
    assert "feed live" in text and text.rstrip().endswith("23:54:16") and "2024" not in text


def test_json_of_the_records_is_the_wire_shape():
    # The attached desk decodes these from the bus: the detail survives the trip (the × is not mangled).
    h = m.Health(component="feed:replay", state="live", detail="replay 20×", ts=START_MS)
    assert json.loads(m.encode(h))["detail"] == "replay 20×"


def test_at_80_columns_a_halted_replay_keeps_its_clock_on_the_bar_and_drops_the_lag_first():
    st = DeskModel(starting_balance=10_000.0)
    st.on_market_data(md("BTCUSDT", START_MS))
    st.on_health(m.Health(component="feed:replay", state="live", detail="replay 5×", ts=START_MS))
    halted = m.HaltState(halted=True, halted_at=START_MS, halted_by="desk")
    st.on_health(m.Health(component=m.ROUTER_COMPONENT, state="halted", halt=halted, ts=START_MS))
    text = bar(st, START_MS + 1000)
    assert "HALTED" in text and text.rstrip().endswith("2024-08-08 23:54:17")  # the date and time, whole
    assert len(text) <= 80 and "lag" not in text and "│ embedded │" in text  # the backend's name stays
    st.on_health(m.Health(component=m.ROUTER_COMPONENT, state="running", ts=START_MS + 2000))
    calm = bar(st, START_MS + 2000)  # room again: the lag is back
    assert "HALTED" not in calm and "lag md0" in calm and calm.rstrip().endswith("2024-08-08 23:54:18")
