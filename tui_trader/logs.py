"""Logging to a file under the XDG state dir (never the terminal while the desk runs), secrets redacted; the
latest lines also stay in memory (`TAIL`) for the desk's Log pane."""

from __future__ import annotations

import io
import logging
import logging.handlers
import os
import threading
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from tui_trader import paths
from tui_trader.errors import LogError

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RedactSecrets(logging.Filter):
    """Replaces every known secret value in a log record's final text with `***`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s and len(s) >= 4]

    def add(self, *secrets: str) -> None:
        self.secrets.extend(s for s in secrets if s and len(s) >= 4)

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            text = record.getMessage()
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            exc = record.exc_text or ""
            for secret in self.secrets:
                text = text.replace(secret, "***")
                exc = exc.replace(secret, "***")
            record.msg, record.args = text, None
            record.exc_text = exc or None
        return True


REDACT = RedactSecrets()


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating log whose files (the current one and each new one after a rotation) are created 0600: logs
    name symbols, sizes, balances and order ids, which are the trader's business only."""

    def _open(self) -> io.TextIOWrapper:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, FILE_MODE)
        return os.fdopen(fd, "a", encoding=self.encoding, errors=self.errors)


FILE_MODE = 0o600


class Line(NamedTuple):
    seq: int  # grows by one a line: the pane asks for what is new since the last one it drew
    created: float  # epoch seconds
    level: int
    name: str
    text: str  # message, and the traceback's last line when there is one (the file has the whole of it)


class LogTail(logging.Handler):
    """The last `size` log lines in memory, so the desk can show its log without reading the file back.

    Records pass the redaction filter first, like the file's. Any thread may log: the lock covers the deque."""

    def __init__(self, size: int = 2000) -> None:
        super().__init__(logging.DEBUG)
        self.lines: deque[Line] = deque(maxlen=size)
        self.seq = 0
        self._guard = threading.Lock()
        self.addFilter(REDACT)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                err = record.exc_info[1]
                text += f" ({type(err).__name__}: {err})"
                for secret in REDACT.secrets:
                    text = text.replace(secret, "***")
            with self._guard:
                self.seq += 1
                self.lines.append(Line(self.seq, record.created, record.levelno, record.name, text))
        except Exception:  # noqa: BLE001 - a log line must never break the code that logs it
            self.handleError(record)

    def since(self, seq: int, level: int = logging.DEBUG) -> list[Line]:
        with self._guard:
            return [line for line in self.lines if line.seq > seq and line.level >= level]


TAIL = LogTail()


def attach_tail() -> LogTail:
    """Keep the latest log lines for the desk (idempotent; `setup` calls it)."""
    root = logging.getLogger()
    if TAIL not in root.handlers:
        root.addHandler(TAIL)
    return TAIL


def setup(file: Path | None = None, level: int = logging.INFO, to_stderr: bool = False) -> Path:
    """Send the desk's logs to `file` (default: XDG state dir). Returns the log file path.

    Raises LogError with one line naming the file when it cannot be created or written."""
    file = file or paths.log_file()
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        if file.is_dir():
            raise LogError(f"log file {file} is a folder")
        handler = PrivateRotatingFileHandler(file, maxBytes=20_000_000, backupCount=3, encoding="utf-8")
    except OSError as exc:
        raise LogError(
            f"cannot write the log file {file}: {exc.strerror or exc} (point XDG_STATE_HOME at a writable folder)"
        ) from None
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    handler.setFormatter(logging.Formatter(_FORMAT))
    handler.addFilter(REDACT)
    root.addHandler(handler)
    if to_stderr:
        err = logging.StreamHandler()
        err.setFormatter(logging.Formatter(_FORMAT))
        err.addFilter(REDACT)
        root.addHandler(err)
    root.addHandler(TAIL)
    root.setLevel(level)
    return file
