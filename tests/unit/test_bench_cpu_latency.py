"""A paced bench also reports each signal's latency in the event loop's CPU time (what a quiet machine shows)."""

from __future__ import annotations

from tui_trader import bench


def test_paced_run_reports_a_cpu_latency_per_signal():
    result = bench.run(None, 2, 4000, 20_000.0, False)
    wall, cpu = result["receipt_to_signal"], result["receipt_to_signal_cpu"]
    assert cpu["count"] == wall["count"] == result["signals"] > 0
    assert 0 <= cpu["p50_ms"] <= cpu["max_ms"]


def test_free_run_takes_no_cpu_clock_per_record():
    result = bench.run(None, 2, 4000, None, False)
    assert "receipt_to_signal_cpu" not in result
    assert result["receipt_to_signal"]["count"] == result["signals"] > 0
