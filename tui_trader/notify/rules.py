"""Which bus message becomes which notice, and when it is sent only once.

Pure: messages and the clock's time in, `Notice`s out. The mapping (who publishes what):
- fills: OrderStatus status "filled" of an entry / close / flatten / kill (executor); stop-loss and
  take-profit hits: status "filled" with purpose "stop_loss" / "take_profit" (the protective order itself).
- kill: Control "kill" (desk key, or any origin). A halt: Health "router" entering "daily_loss_limit";
  Health "worker:<name>" entering "failed" (the supervisor gave up after a crash loop and paused trading);
  Health "feed:<conn>" entering "stale".
- feed gap: Health "feed:gaps" (the collector) entering "gap" — trades were lost, the router takes no entries
  on those symbols — and again when more symbols join it; "whole" after a gap is sent as the all-clear.
- feed down: Health "feed:<conn>" not live ("connecting" / "down", the detail says why and when it retries)
  for `feed_down_after_s` on the clock, checked on every record and on the worker's tick; "back" when it is
  live again. The replay feed's "down" is the end of the file, not an outage.
- naked position: Health "watchdog" entering "alarm" (again when the symbols concerned change), and the
  all-clear when it returns to "ok".
- reconciliation: Health "reconcile" entering "waiting" (re-announced every few seconds: sent once).
- daily summary: the UTC day of the clock rolls over.

Once rules: a state notice goes out when a component enters that state, not while it stays there; a fill
once per order id (a status seen again after a restart is not sent twice). Rate: fills and stop-loss /
take-profit hits beyond `max_per_minute` in a minute of the clock are dropped and counted, and the next one
sent says how many were left out; the rare notices (kill, halts, alarms) are never rate limited.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from datetime import UTC, datetime
from typing import Literal

import msgspec

from tui_trader import messages as m
from tui_trader import reconcile as rc
from tui_trader.notify.daily import DAY_MS, DailyFold, DayFigures
from tui_trader.settings import NotifySettings

# apprise's notify types: the colour or icon a service shows.
Level = Literal["info", "success", "warning", "failure"]
Kind = Literal[
    "fill",
    "stop_loss",
    "take_profit",
    "kill",
    "halt",
    "feed_down",
    "feed_back",
    "feed_gap",
    "naked",
    "reconcile",
    "daily_summary",
]
RATE_LIMITED: frozenset[str] = frozenset({"fill", "stop_loss", "take_profit"})
MINUTE_MS = 60_000
SEEN_ORDERS = 10_000  # fill ids remembered for the once rule (oldest forgotten first)
FEED_GAPS = m.feed_component("gaps")  # the collector's Health on lost trades (state "gap" | "whole")


class Notice(msgspec.Struct, frozen=True, kw_only=True):
    kind: Kind
    level: Level
    title: str
    body: str
    ts: int


def _utc(ms: int, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime(fmt)


def _num(x: float) -> str:
    return f"{x:,.2f}" if abs(x) >= 1000 else f"{x:.6g}"


class NotifyRules:
    def __init__(self, settings: NotifySettings, *, replay: bool = False) -> None:
        self.s = settings
        self.prefix = f"{settings.title} {'replay' if replay else ''}".rstrip()
        self.states: dict[str, str] = {}  # component → last state seen
        self.watch_symbols: tuple[str, ...] = ()
        self.gap_symbols: tuple[str, ...] = ()  # the symbols of the feed gap last sent
        self.feed_out: dict[str, tuple[int, str]] = {}  # feed component → (not live since, last detail)
        self.feed_told: set[str] = set()  # feeds whose outage was sent (a "back" follows)
        self.seen: OrderedDict[str, None] = OrderedDict()
        self.sent_at: deque[int] = deque()
        self.suppressed = 0  # rate-limited since the last fill notice sent
        self.rate_limited = 0  # in all
        self.daily = DailyFold()

    # --- inputs -------------------------------------------------------------------------------------------

    def on_status(self, st: m.OrderStatus, now_ms: int) -> list[Notice]:
        out = self.on_tick(now_ms)
        if st.status != "filled":
            return out
        key = f"{st.order_id}:{st.purpose}"
        if key in self.seen:
            return out
        self.seen[key] = None
        if len(self.seen) > SEEN_ORDERS:
            self.seen.popitem(last=False)
        self.daily.on_fill(st)
        if st.purpose in ("stop_loss", "take_profit"):
            if self.s.stop_loss_take_profit:
                self._rated(out, self._protective(st), now_ms)
        elif self.s.fills:
            self._rated(out, self._fill(st), now_ms)
        return out

    def on_control(self, c: m.Control, now_ms: int) -> list[Notice]:
        out = self.on_tick(now_ms)
        if c.command == "kill" and self.s.kill:
            why = f": {c.arg}" if c.arg else ""
            out.append(
                self._notice(
                    "kill",
                    "failure",
                    "KILL switch pulled",
                    f"by {c.origin}{why}. Entries halted, positions closed at market, "
                    "orders canceled; nothing new until re-armed.",
                    c.ts,
                )
            )
        return out

    def on_account(self, a: m.Account, now_ms: int) -> list[Notice]:
        self.daily.on_account(a)
        return self.on_tick(now_ms)

    def on_health(self, h: m.Health, now_ms: int) -> list[Notice]:
        out = self.on_tick(now_ms)
        comp, state = h.component, h.state
        before = self.states.get(comp)
        self.states[comp] = state
        entered = state != before
        kind, name = m.split_component(comp)
        if comp == FEED_GAPS:
            self._gap(out, h, before)
        elif kind == m.FEED:
            self._feed(out, h, entered, now_ms)
        elif comp == m.ROUTER_COMPONENT:
            if entered and state == "daily_loss_limit" and self.s.halts:
                out.append(self._notice("halt", "failure", "HALT: daily loss limit", h.detail, h.ts))
        elif kind == m.WORKER:
            if entered and state == "failed" and self.s.halts:
                out.append(self._notice("halt", "failure", f"HALT: {name} worker given up", h.detail, h.ts))
        elif comp == m.WATCHDOG_COMPONENT:
            self._watchdog(out, h, before)
        elif comp == m.RECONCILE_COMPONENT and entered and state == "waiting" and self.s.reconcile_waiting:
            out.append(
                self._notice(
                    "reconcile", "warning", "Reconciliation waiting for the desk", _reconcile_text(h.question), h.ts
                )
            )
        return out

    def on_tick(self, now_ms: int) -> list[Notice]:
        """What the passing of time alone sends: a feed down for long enough, the day's summary."""
        out: list[Notice] = []
        ended = self.daily.roll(now_ms)
        if ended is not None and self.s.daily_summary:
            out.append(self._summary(ended, now_ms))
        if self.s.feed_down:
            limit = self.s.feed_down_after_s * 1000
            for comp, (since, detail) in self.feed_out.items():
                if comp not in self.feed_told and now_ms - since >= limit:
                    self.feed_told.add(comp)
                    out.append(
                        self._notice(
                            "feed_down",
                            "failure",
                            f"Feed {m.split_component(comp)[1]} down",
                            f"not live for {(now_ms - since) / 1000:.0f} s (since {_utc(since, '%H:%M:%S')} UTC): "
                            f"{detail or 'no reason given'}",
                            now_ms,
                        )
                    )
        return out

    # --- kinds --------------------------------------------------------------------------------------------

    def _feed(self, out: list[Notice], h: m.Health, entered: bool, now_ms: int) -> None:
        comp, state = h.component, h.state
        conn = m.split_component(comp)[1]
        if state == "live":
            self.feed_out.pop(comp, None)
            if comp in self.feed_told:
                self.feed_told.discard(comp)
                out.append(self._notice("feed_back", "success", f"Feed {conn} live again", h.detail, h.ts))
            return
        if state == "stale":
            if entered and self.s.halts:
                out.append(
                    self._notice(
                        "halt", "warning", f"Feed {conn} stale", f"{h.detail}. No entries on a stale price.", h.ts
                    )
                )
            return
        if state in ("down", "connecting") and comp != m.REPLAY_FEED:
            since = self.feed_out.get(comp, (h.ts, ""))[0]
            self.feed_out[comp] = (since, h.detail)
            out.extend(self.on_tick(now_ms))

    def _gap(self, out: list[Notice], h: m.Health, before: str | None) -> None:
        symbols = tuple(sorted(h.symbols))
        if self.s.halts:
            if h.state == "gap" and (before != "gap" or not set(symbols) <= set(self.gap_symbols)):
                title = f"Feed gap: {', '.join(symbols) or 'trades lost'}"
                out.append(self._notice("feed_gap", "warning", title, h.detail, h.ts))
            elif h.state == "whole" and before == "gap":
                body = "no trade missing any more; entries allowed again"
                out.append(self._notice("feed_gap", "success", "Feed whole again", body, h.ts))
        self.gap_symbols = symbols if h.state == "gap" else ()

    def _watchdog(self, out: list[Notice], h: m.Health, before: str | None) -> None:
        if not self.s.naked_position:
            return
        symbols = tuple(sorted(h.symbols))
        if h.state == "alarm" and (before != "alarm" or symbols != self.watch_symbols):
            out.append(
                self._notice("naked", "failure", f"ALARM: {', '.join(symbols) or 'position'} at risk", h.detail, h.ts)
            )
        elif h.state == "ok" and before == "alarm":
            out.append(
                self._notice(
                    "naked",
                    "success",
                    "Watchdog: all clear",
                    "every position has its stop-loss and take-profit resting again",
                    h.ts,
                )
            )
        self.watch_symbols = symbols if h.state == "alarm" else ()

    def _fill(self, st: m.OrderStatus) -> Notice:
        what = "Entry" if st.purpose == "entry" else st.purpose.capitalize()
        body = f"{st.side} {st.filled_qty:g} {st.symbol} @ {_num(st.avg_price)}, fee {st.fee:.4g} ({st.mode})"
        if st.purpose == "entry":
            prot = []
            if st.stop_loss_price is not None:
                prot.append(f"stop-loss {_num(st.stop_loss_price)}")
            if st.take_profit_price is not None:
                prot.append(f"take-profit {_num(st.take_profit_price)}")
            body += "; " + (", ".join(prot) if prot else "no protective prices reported")
        return self._notice("fill", "info", f"{what} filled: {st.symbol} {st.side}", body, st.ts)

    def _protective(self, st: m.OrderStatus) -> Notice:
        name = "Stop-loss" if st.purpose == "stop_loss" else "Take-profit"
        level: Level = "warning" if st.purpose == "stop_loss" else "success"
        body = f"{st.side} {st.filled_qty:g} {st.symbol} @ {_num(st.avg_price)}, fee {st.fee:.4g} ({st.mode})"
        kind: Kind = "stop_loss" if st.purpose == "stop_loss" else "take_profit"
        return self._notice(kind, level, f"{name} hit: {st.symbol}", body, st.ts)

    def _summary(self, d: DayFigures, now_ms: int) -> Notice:
        start = d.day * DAY_MS
        since = (
            "" if d.since_ms - start < MINUTE_MS else f" (from {_utc(d.since_ms, '%H:%M')} UTC, when counting began)"
        )
        lines = [
            (
                f"{_utc(start, '%Y-%m-%d')}{since}: {d.fills} fill{'s' * (d.fills != 1)}, "
                f"{d.closed_trades} closed trade{'s' * (d.closed_trades != 1)}"
            ),
            f"realised {d.realised:+.2f} USDT, fees {d.fees:.2f} USDT, net {d.realised - d.fees:+.2f} USDT",
        ]
        if d.by_symbol:
            lines.append(", ".join(f"{s} {v:+.2f}" for s, v in sorted(d.by_symbol.items())))
        if d.unknown_entries:
            lines.append(f"{d.unknown_entries} close(s) of positions opened before counting began are not in realised")
        return self._notice(
            "daily_summary", "info", f"Daily summary {_utc(start, '%Y-%m-%d')}", "\n".join(lines), now_ms
        )

    # --- helpers ------------------------------------------------------------------------------------------

    def _notice(self, kind: Kind, level: Level, title: str, body: str, ts: int) -> Notice:
        return Notice(kind=kind, level=level, title=f"{self.prefix}: {title}", body=body, ts=ts)

    def _rated(self, out: list[Notice], n: Notice, now_ms: int) -> None:
        window = self.sent_at
        while window and now_ms - window[0] >= MINUTE_MS:
            window.popleft()
        if len(window) >= self.s.max_per_minute:
            self.suppressed += 1
            self.rate_limited += 1
            return
        window.append(now_ms)
        if self.suppressed:
            n = msgspec.structs.replace(
                n,
                body=f"{n.body}\n(+{self.suppressed} earlier fill notice"
                f"{'s' * (self.suppressed != 1)} left out: notify.max_per_minute)",
            )
            self.suppressed = 0
        out.append(n)


def _reconcile_text(req: m.ReconcileQuestion | None) -> str:
    if req is None:
        return "Live trading waits until the desk answers the reconciliation question."
    n = len(req.differences)
    lines = [
        (
            f"Live start on {req.exchange}: {n} difference{'s' * (n != 1)} between the journal and the "
            "exchange; nothing trades until the desk answers."
        )
    ]
    lines += [f"{d.symbol}: {d.kind.replace('_', ' ')} ({rc.describe(d)})" for d in req.differences[:10]]
    return "\n".join(lines)
