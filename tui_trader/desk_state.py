"""The small state that must survive a restart: whether the kill switch halted trading.

A JSON file (`paths.state_file()`), written atomically (temp file, fsync, rename) so a crash mid-write
leaves the previous state. Read once at start. A file that exists but cannot be read or parsed is taken as
HALTED: after a kill, coming back trading because a file was damaged is the one failure to rule out.
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
