"""The status bar (mode, bus and lag, feed, workers, PAUSED / HALTED, clock), the HALTED banner and the
watchdog's ALARM banner.

The mode badge shows what the executor reports it acts in, never what was asked for: "switching…" while a
switch waits for its answer, and the reason beside it when the executor (or the desk) refused one.
LIVE is meant to be impossible to miss: a white-on-red badge, and the whole bar turns red (CSS class
`-live`). The HALTED banner stays until the kill switch is re-armed; the ALARM banner until the watchdog
says all is well again.
"""

from __future__ import annotations

import re
import time
from dataclasses import replace

from rich.text import Text

from tui_trader import messages as m
from tui_trader.ui import format as fmt
from tui_trader.ui.widgets.live_text import LiveText
from tui_trader.ui.widgets.view import View

LAG_LABELS = ((m.MARKET_DATA, "md"), (m.SIGNALS, "sig"), (m.ORDERS, "ord"), (m.ORDER_STATUS, "st"))
# Theme-independent on purpose: LIVE and HALTED look the same in every theme. In live mode the whole bar
# is red (CSS), so the LIVE badge is inverted and HALTED is yellow on red to stand out from the bar.
ALARM = "bold #ffffff on #c00000"
LIVE_BADGE = "bold #c00000 on #ffffff"
HALTED_BADGE = "bold #ffff00 on #c00000"
# The feed and the supervisor end a down record's detail with the wait before the next try, counted from
# the record's time: "...; reconnecting in 5.4 s" (feeds/connection.py), "...; restart in 2.0 s" (runtime.py).
_RETRY = re.compile(r"; (?:reconnecting|restart) in (\d+(?:\.\d+)?) s$")


def reason_and_retry(h: m.Health, now_ms: int) -> tuple[str, str]:
    """A Health detail split into its reason and the retry counted down to `now_ms` ("retry in 3.1 s")."""
    found = _RETRY.search(h.detail)
    if found is None:
        return h.detail, ""
    left = max(0.0, float(found.group(1)) - max(0, now_ms - h.ts) / 1000)
    return h.detail[: found.start()], f"retry {'now' if left < 0.05 else f'in {left:.1f} s'}"


def with_retry(h: m.Health, now_ms: int) -> str:
    """A Health detail with its retry counted down to `now_ms`: "cannot resolve x, retry in 3.1 s"."""
    reason, retry = reason_and_retry(h, now_ms)
    return f"{reason}, {retry}" if retry else reason


def short_reason(h: m.Health, now_ms: int, room: int) -> str:
    """The reason cut to `room` characters, the retry always kept: on a narrow bar it is what the trader
    waits for."""
    reason, retry = reason_and_retry(h, now_ms)
    room = max(8, room - len(retry) - 2)
    if len(reason) > room and reason.endswith(")") and " (" in reason:
        reason = reason[: reason.rindex(" (")]  # the system's wording ("[Errno -3] …") goes first; the log has it
    reason = reason if len(reason) <= room else reason[: room - 1] + "…"
    return f"{reason}, {retry}" if retry else reason


def feed_problem(view: View) -> m.Health | None:
    """The Health record of the worst feed connection when it is down or stale, or of the feed's gaps when
    trades were lost (None when all are live)."""
    worst = view.state.feed_state()
    for h in view.state.health.values():
        feed = m.split_component(h.component)[0] == m.FEED
        if feed and h.state == worst and worst in ("down", "stale", "gap") and h.detail:
            return h
    return None


NARROWEST_W = 80  # the smallest terminal the desk is made for


def status_text(view: View, replay: str = "") -> Text:
    """The status bar. On a narrow terminal, when the bar would not fit in 80 columns, the per-topic lag goes
    first, then the backend's name: the badges (PAUSED, HALTED, …) and the clock must stay on it."""
    for backend in (2, 1):
        bar = _status_text(view, replay, backend)
        if not view.narrow or bar.cell_len <= NARROWEST_W:
            return bar
    return _status_text(view, replay, 0)


def _status_text(view: View, replay: str, backend: int) -> Text:
    """`backend`: 2 its name and its per-topic lag, 1 its name only, 0 neither."""
    st = view.state
    c = view.colours
    if st.mode == "live":  # on the red bar, muted text must stay readable
        c = replace(c, muted="#ffd6d6", buy="#ffffff", warn="#ffff00", sell="#ffff00")
    sep = (" │ ", c.muted)
    out = Text(no_wrap=True, overflow="ellipsis")
    if st.mode_requested:
        out.append(f" {st.mode.upper()}→{st.mode_requested.upper()} switching… ", style=f"bold reverse {c.warn}")
    elif st.mode == "live":
        out.append(" ● LIVE ", style=LIVE_BADGE)
    else:
        out.append(" PAPER ", style=f"bold reverse {c.primary}")
    if st.mode_refusal and not st.mode_requested:
        out.append(" live refused: " if not view.narrow else " refused: ", style=f"bold {c.warn}")
        room = 24 if view.narrow else 60  # the rest of the bar must stay readable; the notice has it all
        out.append(st.mode_refusal[:room] + ("…" if len(st.mode_refusal) > room else ""), style=c.warn)
    problem = feed_problem(view)
    reason = short_reason(problem, view.now_ms, 50 if view.narrow else 90) if problem is not None else ""
    if backend and not (view.narrow and reason):  # on 80 columns a down feed's reason matters more than the backlog
        out.append(*sep)
        out.append(view.backend, style="bold")
    if backend > 1 and not (view.narrow and reason):
        # Labelled at every width: "md1 sig0" alone read as nothing in particular.
        out.append(" backlog" if not view.narrow else " lag", style=c.muted)
        for topic, label in LAG_LABELS:
            lag = view.lag.get(topic, 0)
            out.append(f" {label}", style=c.muted)
            out.append(f"{'' if view.narrow else ' '}{lag}", style=f"bold {c.warn}" if lag > 1000 else "")
    out.append(*sep)
    feed = st.feed_state()
    playing = replay_text(view, replay)
    if playing and feed in ("live", "replay done"):  # a replay playing or over: that is the feed's news
        out.append(playing, style=c.buy if playing != "replay done" else c.muted)
    else:
        out.append("feed ", style=c.muted)
        out.append(
            feed,
            style={"live": c.buy, "down": f"bold {c.sell}", "stale": f"bold {c.warn}", "gap": f"bold {c.warn}"}.get(
                feed, c.warn
            ),
        )
        publish = publish_lag(view) if not view.narrow else ""  # on 80 columns the clock must stay on the bar
        if publish and not reason:
            out.append(f" lag p99 {publish}", style=c.muted)
        if reason:
            out.append(": " + reason, style=c.warn)
        if playing:
            out.append(f" {playing}", style=c.muted)
    troubled = {name: state for name, state in st.worker_states().items() if state in ("restarting", "failed")}
    if troubled:
        out.append(*sep)
        parts = []
        for name, state in troubled.items():
            h = st.health.get(m.worker_component(name))
            detail = short_reason(h, view.now_ms, 60) if h is not None and state == "restarting" else ""
            parts.append(f"{name} {state}" + (f": {detail}" if detail and len(troubled) == 1 else ""))
        out.append(", ".join(parts), style=f"bold {c.sell}")
    if view.throttled_hz is not None:  # say so: the panes move more slowly than the pipeline
        out.append(*sep)
        out.append(f"desk {view.throttled_hz:.1f} Hz", style=c.warn)
    if st.paused and not st.halted:  # halted implies paused
        out.append(*sep)
        out.append(" PAUSED ", style=f"bold reverse {c.warn}")
    if st.router_state == "daily_loss_limit" and not st.halted:
        out.append(*sep)
        out.append(" LOSS LIMIT ", style=f"bold reverse {c.warn}")
    if st.halted:
        out.append(*sep)
        out.append(" HALTED ", style=HALTED_BADGE)
    out.append(*sep)
    out.append(clock_text(view.now_ms, bool(playing)), style="bold")
    return out


def publish_lag(view: View) -> str:
    """The live collector's receipt → publish lag (p99 of its latest records), "0.4 ms"; "" when not known."""
    h = view.state.health.get("collector")
    p99 = h.counters.get("lag_p99_us") if h is not None else None
    return "" if p99 is None else f"{p99 / 1000:.1f} ms"


def replay_text(view: View, replay: str = "") -> str:
    """ "replay 20×" while a replay plays, "replay done" after it, "" live. The collector's `feed:replay`
    record says so (state "live" with that detail, then "done"), which an attached desk hears too."""
    st = view.state
    h = st.health.get(m.REPLAY_FEED)
    if st.replay_done or (h is not None and h.state == "done"):
        return "replay done"
    if h is not None and h.detail.startswith("replay "):
        return h.detail
    return replay or ("replay" if h is not None else "")


def clock_text(now_ms: int, replaying: bool) -> str:
    """UTC time; a replay's with its date (it is not today), and none before its first frame sets it."""
    if now_ms <= 0:
        return "--:--:--"
    if replaying:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now_ms / 1000))
    return fmt.clock(now_ms)


def halt_text(view: View) -> Text:
    st = view.state
    when = f" {fmt.clock(st.halted_at)}" if st.halted_at else ""
    detail = f" · {st.halt_detail}" if st.halt_detail else ""
    middle = " · no new entries, positions flattened" if not view.narrow else ""
    return Text(
        f"■ HALTED{when}{detail}{middle} · {view.rearm_key} re-arms ■",
        style=ALARM,
        justify="center",
        no_wrap=True,
        overflow="ellipsis",
    )


def alarm_text(view: View) -> Text:
    st = view.state
    symbols = f" {', '.join(st.alarm_symbols)}" if st.alarm_symbols else ""
    return Text(
        f"▲ WATCHDOG ALARM {fmt.clock(st.alarm_ts)}{symbols} · {st.alarm} ▲",
        style=ALARM,
        justify="center",
        no_wrap=True,
        overflow="ellipsis",
    )


class StatusBar(LiveText):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, fixed=True)

    def show(self, view: View, replay: str = "") -> None:
        self.set_class(view.state.mode == "live", "-live")
        self.set(status_text(view, replay))


class HaltBanner(LiveText):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, fixed=True)

    def show(self, view: View) -> None:
        if self.display != view.state.halted:
            self.display = view.state.halted
        if view.state.halted:
            self.set(halt_text(view))


class AlarmBanner(LiveText):
    """The watchdog's alarm (a naked position, the venue and the book differ, an outcome unknown)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, fixed=True)

    def show(self, view: View) -> None:
        on = bool(view.state.alarm)
        if self.display != on:
            self.display = on
        if on:
            self.set(alarm_text(view))
