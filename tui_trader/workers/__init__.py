"""Workers: thin async shells connecting the pure cores to the bus. Looked up by name, imported lazily."""

from __future__ import annotations

import importlib

from tui_trader.workers.base import Worker, WorkerContext

# name → "module:Class"; the runtime and `tui-trader worker NAME` build workers from this table.
WORKERS: dict[str, str] = {
    "collector": "tui_trader.workers.collector:CollectorWorker",
    "indicator": "tui_trader.workers.indicator:IndicatorWorker",
    "router": "tui_trader.workers.router:RouterWorker",
    "executor": "tui_trader.workers.executor:ExecutorWorker",
    # Not in PIPELINE: the runtime adds it when notification URLs are set (workers/notifier.py).
    "notifier": "tui_trader.workers.notifier:NotifierWorker",
}
PIPELINE: tuple[str, ...] = ("collector", "indicator", "router", "executor")


def worker_class(name: str) -> type[Worker]:
    module, _, cls = WORKERS[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def build(name: str, ctx: WorkerContext) -> Worker:
    return worker_class(name)(ctx)


__all__ = ["PIPELINE", "WORKERS", "Worker", "WorkerContext", "build", "worker_class"]
