"""A finished backtest as a `Report`: the shared report maths plus the run's own facts (gaps, intrabar
ambiguities, where the instrument rules came from, the settings that mattered)."""

from __future__ import annotations

from typing import Any

from tui_trader.backtest.engine import Run
from tui_trader.backtest.loaders import Gap, bar_text
from tui_trader.results.export import iso
from tui_trader.results.report import Report, build_report


def report_of(run: Run, gaps: list[Gap], origin: dict[str, str], warnings: list[str]) -> Report:
    c = run.counts
    s = run.settings
    t = s.trading
    extra: dict[str, Any] = {
        "bar": bar_text(run.bar_ms),
        "symbols": {
            sym: {
                "bars": len(b),
                "source": b.source,
                "rules": origin.get(sym, ""),
                "tick": run.rules[sym].tick,
                "step": run.rules[sym].step,
                "min_notional": run.rules[sym].min_notional,
            }
            for sym, b in sorted(run.data.items())
        },
        "entry": run.options.entry,
        "funding_rate_8h": run.options.funding_rate_8h,
        "signals": c.signals,
        "orders": c.commands,
        "both_in_bar": c.both_in_bar,
        "gap_stops": c.gap_stops,
        "next_open_missed": c.next_open_missed,
        "denials": dict(sorted(c.denials.items())),
        "rejects": dict(sorted(c.rejects.items())),
        "gaps": [
            {"symbol": g.symbol, "from": iso(g.after_ms + run.bar_ms), "to": iso(g.next_ms), "missing_bars": g.missing}
            for g in gaps
        ],
        "settings": {
            "risk_per_trade": t.risk_per_trade,
            "leverage": t.leverage,
            "stop_loss_pct": t.stop_loss_pct,
            "take_profit_pct": t.take_profit_pct,
            "max_position_size": t.max_position_size,
            "min_signal_strength": t.min_signal_strength,
            "taker_fee": s.paper.taker_fee,
            "slippage_bps": s.paper.slippage_bps,
            "on_opposite": s.risk.on_opposite,
            "cooldown_s": s.risk.cooldown_s,
        },
        "warnings": list(warnings),
    }
    trips = run.trips.closed
    return build_report(
        trips,
        run.equity_ts,
        run.equity,
        starting_equity=s.paper.starting_balance,
        start_ts=run.start_ts,
        end_ts=run.end_ts,
        bars=c.bars,
        open_since=[o.entry_ts for o in run.trips.open.values()],
        extra=extra,
    )
