"""Trade history from the journal: the executor journals every order status (fills with their purpose, fee and
price), so the round trips of paper and live trading are rebuilt from it at any time, for any period.

A trip belongs to a period when it closed in it (`since` inclusive, `until` exclusive). The equity curve of a
journal period is the realised one: the starting equity plus each closed trip's net, at its exit time (the
journal keeps no per-minute marks). Funding settlements (journaled on their own, paper) are charged to the trip
open at their time, so a trip's net is its PnL − fees − funding paid (+ funding received). The starting equity is `paper.starting_balance` plus the net of the
trips closed before the period (paper), or the first trip's account base for live, which the journal does not
know: there it is the paper starting balance too, and the report says so.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from tui_trader import messages as m
from tui_trader.results.report import Report, build_report
from tui_trader.results.trips import Trip, TripBook

if TYPE_CHECKING:
    from tui_trader.settings import Settings

# A funding settlement: (funding time ms, mode, symbol, amount received + / paid −).
Funding = tuple[int, m.Mode, str, float]
_MODES: dict[str, m.Mode] = {"paper": "paper", "live": "live"}


def read_journal(settings: Settings) -> tuple[list[m.OrderStatus], list[Funding]]:
    """The journal's statuses and funding settlements, in the order written."""
    from tui_trader.journal import Journal, journal_path

    path = journal_path(settings)
    if not path.exists():
        from tui_trader.errors import TuiTraderError

        raise TuiTraderError(f"no journal at {path}: nothing has traded yet (or set journal.path)", "Trades")
    journal = Journal(path, read_only=True)
    try:
        # The journal stores the mode as text: typed here, where it is read (it only ever writes these two).
        funding = [(ts, _MODES[md], sym, amount) for ts, md, sym, amount in journal.funding() if md in _MODES]
        return journal.statuses(), funding
    finally:
        journal.close()


def trips_of(
    statuses: Iterable[m.OrderStatus], mode: m.Mode | None = None, funding: Iterable[Funding] = ()
) -> TripBook:
    """Round trips of `mode` (None: every mode); each funding settlement is charged to the trip open at its time
    (a settlement comes before a fill of the same time: the broker settles before it fills on that price)."""
    book = TripBook()
    due = sorted((f for f in funding if mode is None or f[1] == mode), key=lambda f: f[0])
    i = 0
    for st in statuses:
        if mode is not None and st.mode != mode:
            continue
        while i < len(due) and due[i][0] <= st.ts:
            _, md, symbol, amount = due[i]
            book.add_funding(md, symbol, -amount)  # the trip counts what it paid
            i += 1
        book.apply(st)
    for _, md, symbol, amount in due[i:]:
        book.add_funding(md, symbol, -amount)
    return book


def in_period(trips: Iterable[Trip], since: int | None, until: int | None) -> list[Trip]:
    return [t for t in trips if (since is None or t.exit_ts >= since) and (until is None or t.exit_ts < until)]


def period_report(
    book: TripBook, starting_balance: float, since: int | None, until: int | None, mode: m.Mode
) -> tuple[Report, list[Trip]]:
    trips = in_period(book.closed, since, until)
    before = sum(t.net for t in book.closed if since is not None and t.exit_ts < since)
    start_equity = starting_balance + before
    start = since if since is not None else min((t.entry_ts for t in trips), default=0)
    end = until if until is not None else max((t.exit_ts for t in trips), default=start)
    ordered = sorted(trips, key=lambda t: t.exit_ts)
    ts = np.array([start] + [t.exit_ts for t in ordered], dtype=np.int64)
    equity = start_equity + np.concatenate(([0.0], np.cumsum([t.net for t in ordered])))
    extra = {
        "mode": mode,
        "equity": "realised: starting equity plus each trip's net at its exit",
        "open_positions": sorted(sym for (md, sym) in book.open if md == mode),
    }
    if mode == "live":
        extra["warnings"] = [
            (
                "live: the starting equity is the paper starting balance (the journal keeps no "
                "exchange balance history); the return % is relative to it"
            )
        ]
    report = build_report(
        ordered,
        ts,
        equity,
        starting_equity=start_equity,
        start_ts=start,
        end_ts=max(end, start),
        open_since=[o.entry_ts for (md, _), o in book.open.items() if md == mode],
        extra=extra,
    )
    return report, ordered
