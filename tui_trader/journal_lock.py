"""One writer per journal file: an advisory lock on `<journal>.lock` that names the process holding it.

Two processes writing one journal answer each other's commands and re-publish each other's statuses, so a
second process is refused, with the holder's pid and command line in the message. Within one process
several `Journal` objects on one path (the router and executor share one; the desk reads the halted flag
at start) share the lock: it is counted per path, and released when the last one closes.

`fcntl.flock` locks belong to the open file, so the kernel drops the lock when the holder dies, even by
SIGKILL: a crashed desk never leaves a stale lock behind, and nothing has to guess whether a pid is alive.
The lock file stays in place between runs (deleting it would race with a process about to lock it).
"""

from __future__ import annotations

import fcntl
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tui_trader.errors import JournalError

FILE_MODE = 0o600


@dataclass
class _Held:
    fd: int
    count: int


_held: dict[str, _Held] = {}
_guard = threading.Lock()


def lock_path(journal: Path) -> Path:
    return journal.with_name(journal.name + ".lock")


def _me() -> str:
    try:
        with open("/proc/self/cmdline", "rb") as fh:
            cmd = fh.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        cmd = " ".join(sys.argv)
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    # One line, however the command was typed (`python -c` with a script of several lines).
    cmd = " ".join(cmd.split())
    return f"pid {os.getpid()} since {started}: {cmd[:300]}\n"


def _holder(fd: int) -> str:
    try:
        text = " ".join(os.pread(fd, 1000, 0).decode("utf-8", "replace").split())
    except OSError:
        text = ""
    return text or "a process that has not written its name yet"


def acquire(journal: Path) -> str:
    """Take (or share, within this process) the lock of `journal`; returns the key to `release` it.

    Raises JournalError naming the holder when another process has it, or naming the lock file when it
    cannot be created."""
    key = str(journal.resolve())
    with _guard:
        held = _held.get(key)
        if held is not None:
            held.count += 1
            return key
        path = lock_path(journal)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        except OSError as err:
            raise JournalError(f"cannot create the journal's lock file {path}: {err.strerror or err}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _holder(fd)
            os.close(fd)
            raise JournalError(
                f"{journal} is in use by another process ({holder}); stop it first, or give this run "
                "its own journal.path"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, _me().encode(), 0)
        _held[key] = _Held(fd, 1)
        return key


def release(key: str) -> None:
    with _guard:
        held = _held.get(key)
        if held is None:
            return
        held.count -= 1
        if held.count == 0:
            del _held[key]
            os.close(held.fd)  # closing drops the flock
