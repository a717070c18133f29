"""The small state that must survive a restart: whether the kill switch halted trading.

Kept in the journal (key "desk", written in one durable transaction) and read once at start. A value that
cannot be parsed is taken as HALTED: after a kill, coming back trading because the record was damaged is
the one failure to rule out.
"""

from __future__ import annotations

import logging

import msgspec

log = logging.getLogger(__name__)


class DeskState(msgspec.Struct, frozen=True, kw_only=True):
    halted: bool = False
    halted_at: int | None = None  # ms on the desk's clock when the kill switch was pulled
    halted_by: str = ""  # origin of the kill (desk, a remote UI, …)
    detail: str = ""


JOURNAL_KEY = "desk"


def load_from(journal) -> DeskState:
    raw = journal.get_state(JOURNAL_KEY)
    if raw is None:
        return DeskState()
    try:
        return msgspec.convert(raw, DeskState)
    except msgspec.ValidationError as err:
        log.error("desk state in %s is unreadable (%s): starting HALTED; re-arm once checked", journal.path, err)
        return DeskState(halted=True, detail="desk state in the journal unreadable")


def save_to(journal, state: DeskState) -> None:
    journal.set_state(JOURNAL_KEY, msgspec.to_builtins(state))
