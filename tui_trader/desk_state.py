"""The small state that must survive a restart: whether the kill switch halted trading.

Kept in the journal (key "desk", written in one durable transaction) and read once at start. A value that
cannot be parsed is taken as HALTED: after a kill, coming back trading because the record was damaged is
the one failure to rule out. `load`/`save` of a JSON file remain for tools that read the state without a
journal.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import msgspec

log = logging.getLogger(__name__)


class DeskState(msgspec.Struct, frozen=True, kw_only=True):
    halted: bool = False
    halted_at: int | None = None  # ms on the desk's clock when the kill switch was pulled
    halted_by: str = ""  # origin of the kill (desk, a remote UI, …)
    detail: str = ""


_decoder = msgspec.json.Decoder(DeskState)


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


def load(path: Path) -> DeskState:
    if not path.exists():
        return DeskState()
    try:
        return _decoder.decode(path.read_bytes())
    except (OSError, msgspec.DecodeError, msgspec.ValidationError) as err:
        log.error("desk state %s is unreadable (%s): starting HALTED; re-arm once checked", path, err)
        return DeskState(halted=True, detail=f"state file {path.name} unreadable")


def save(path: Path, state: DeskState) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(msgspec.json.format(msgspec.json.encode(state)) + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
