"""The garbage collector, told once that start-up is over.

CPython's collector walks every tracked object of a generation when it collects it, and the oldest
generation holds everything that survived start-up: modules, classes, ccxt's tables, numpy, the desk's
widgets. A full collection during a run walks all of them again, though none of them will ever become
garbage. `settle_after_startup` collects once (the start-up garbage is freed, not kept) and moves every
object left into the permanent generation (`gc.freeze`): later collections walk only what the run made.
"""

from __future__ import annotations

import gc

_settled = False


def settle_after_startup() -> bool:
    """Collect, then freeze what is alive: once per process (a second pipeline in the same process, a test
    suite's many, changes nothing). Returns whether this call did it."""
    global _settled
    if _settled:
        return False
    _settled = True
    gc.collect()
    gc.freeze()
    return True
