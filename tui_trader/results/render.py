"""The report as a terminal table (plain text: the same bytes on every run, readable in a pipe or a log)."""

from __future__ import annotations

from collections.abc import Sequence

from tui_trader.results.export import iso
from tui_trader.results.report import Breakdown, Report
from tui_trader.results.trips import Trip

REASON_NAMES = {
    "signal": "opposite signal",
    "stop_loss": "stop-loss",
    "take_profit": "take-profit",
    "flatten": "flatten",
    "kill": "kill",
    "liquidation": "liquidation",
    "protection_failed": "protection failed",
    "end_of_data": "end of data",
}


def duration(ms: int) -> str:
    minutes = ms // 60_000
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h {mins:02d}m"
    if hours:
        return f"{hours}h {mins:02d}m"
    if minutes:
        return f"{mins}m"
    return f"{ms / 1000:.0f}s"


def _num(value: float | None, fmt: str = "{:,.2f}") -> str:
    return "n/a" if value is None else fmt.format(value)


def _table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(r: Sequence[str]) -> str:
        return "  ".join(
            str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )

    return [title, line(header), "  ".join("-" * w for w in widths), *[line(r) for r in rows]]


def _breakdown_rows(items: dict[str, Breakdown], names: dict[str, str] | None = None) -> list[list[str]]:
    return [
        [
            (names or {}).get(k, k),
            str(b.trades),
            f"{b.win_rate_pct:.1f}%",
            f"{b.net_pnl:,.2f}",
            f"{b.fees:,.2f}",
            f"{b.avg_trade:,.2f}",
        ]
        for k, b in items.items()
    ]


def funding_text(paid: float) -> str:
    """Funding as a trader reads it: what it cost ("paid") or brought ("received"), never a bare sign."""
    return f"{'paid' if paid > 0 else 'received'} {abs(paid):,.2f} USDT"


def render_report(r: Report) -> str:
    dd = r.max_drawdown
    dd_when = f"{iso(dd.peak_ts)} → {iso(dd.trough_ts)}" if dd.peak_ts is not None and dd.trough_ts is not None else ""
    recovered = "" if dd.peak_ts is None else ("" if dd.recovered_ts is not None else ", not recovered")
    summary = [
        ("period", f"{iso(r.start_ts)} → {iso(r.end_ts)} ({duration(r.end_ts - r.start_ts)})"),
        *([("bars", f"{r.bars:,}")] if r.bars else []),
        ("trades", f"{r.trades} ({r.wins} won, {r.losses} lost)"),
        ("win rate", f"{r.win_rate_pct:.1f}%"),
        ("net PnL", f"{r.net_pnl:,.2f} USDT ({r.return_pct:+.2f}%)"),
        ("equity", f"{r.starting_equity:,.2f} → {r.final_equity:,.2f} USDT"),
        ("gross PnL / fees", f"{r.gross_pnl:,.2f} / {r.fees:,.2f} USDT"),
        # Its own figure, apart from fees: net = gross − fees − funding paid (+ funding received).
        *([("funding", funding_text(r.funding))] if r.funding else []),
        ("profit factor", _num(r.profit_factor)),
        ("expectancy", f"{r.expectancy:,.2f} USDT per trade"),
        ("max drawdown", f"{dd.amount:,.2f} USDT ({dd.pct:.2f}%), {duration(dd.duration_ms)}{recovered}"),
        ("drawdown from → to", dd_when or "none"),
        ("Sharpe / Sortino", f"{_num(r.sharpe)} / {_num(r.sortino)} (daily, annualised)"),
        ("exposure", f"{r.exposure_pct:.1f}% of the time"),
        ("avg / best / worst", f"{r.avg_trade:,.2f} / {r.best_trade:,.2f} / {r.worst_trade:,.2f} USDT"),
        ("avg hold", duration(r.avg_hold_ms)),
    ]
    for key, label in (("both_in_bar", "SL and TP in one bar"), ("gaps", "gaps in the data")):
        if key in r.extra:
            value = r.extra[key]
            summary.append((label, str(len(value) if isinstance(value, list) else value)))
    width = max(len(k) for k, _ in summary)
    lines = ["Results", *[f"  {k.ljust(width)}  {v}" for k, v in summary], ""]
    header = ("", "trades", "win", "net", "fees", "avg")
    if r.by_symbol:
        lines += [*_table("Per symbol", header, _breakdown_rows(r.by_symbol)), ""]
    if r.by_reason:
        lines += [*_table("Per exit reason", header, _breakdown_rows(r.by_reason, REASON_NAMES)), ""]
    for warning in r.extra.get("warnings", []):
        lines.append(f"warning: {warning}")
    return "\n".join(lines).rstrip() + "\n"


def render_trades(trips: Sequence[Trip]) -> str:
    # A funding column (paid +, received −) only when some trip paid or received funding.
    funded = any(t.funding for t in trips)
    rows = [
        [
            t.symbol,
            t.side,
            f"{t.quantity:g}",
            iso(t.entry_ts),
            f"{t.entry_price:,.2f}",
            iso(t.exit_ts),
            f"{t.exit_price:,.2f}",
            f"{t.pnl:,.2f}",
            f"{t.fees:,.2f}",
            *([f"{t.funding:,.2f}"] if funded else []),
            f"{t.net:,.2f}",
            REASON_NAMES.get(t.reason, t.reason),
        ]
        for t in trips
    ]
    header = (
        "symbol",
        "side",
        "qty",
        "entry",
        "price",
        "exit",
        "price",
        "pnl",
        "fees",
        *(("funding",) if funded else ()),
        "net",
        "reason",
    )
    lines = _table(f"{len(trips)} trades", header, rows)
    total = sum(t.net for t in trips)
    funding = f", funding {funding_text(sum(t.funding for t in trips))}" if funded else ""
    lines.append(
        f"net {total:,.2f} USDT (pnl {sum(t.pnl for t in trips):,.2f}, fees {sum(t.fees for t in trips):,.2f}{funding})"
    )
    return "\n".join(lines) + "\n"
