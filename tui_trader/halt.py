"""The kill switch's state in the journal: the router writes it (one durable transaction) whenever the halt
changes and reads it once at start, so a desk killed and restarted comes back halted.

The state itself is `messages.HaltState`, the same value the router publishes in its Health record. A value
that cannot be parsed is taken as HALTED: after a kill, coming back trading because the record was damaged
is the one failure to rule out.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import msgspec

from tui_trader.messages import HaltState

if TYPE_CHECKING:
    from tui_trader.journal import Journal

log = logging.getLogger(__name__)

# The journal's key (named when the record was the desk's whole state; kept so older journals still read).
JOURNAL_KEY = "desk"


def load_from(journal: Journal) -> HaltState:
    raw = journal.get_state(JOURNAL_KEY)
    if raw is None:
        return HaltState()
    try:
        return msgspec.convert(raw, HaltState)
    except msgspec.ValidationError as err:
        log.error("halt state in %s is unreadable (%s): starting HALTED; re-arm once checked", journal.path, err)
        return HaltState(halted=True, detail="halt state in the journal unreadable")


def save_to(journal: Journal, state: HaltState) -> None:
    journal.set_state(JOURNAL_KEY, msgspec.to_builtins(state))
