"""Writing recordings: `<recv_time_ns> <raw frame>` per line, gzip when the name ends in `.gz`.

Frames are written byte for byte as received (the replay feeds them to the same parser as live), so a
recorded session replays as it was. The gzip stream is flushed every `flush_every_s` so that a recording
cut short by a crash or a kill still replays up to its last flush.
"""

from __future__ import annotations

import gzip
import time
from pathlib import Path
from typing import BinaryIO

from tui_trader.errors import FeedError


class RecordingWriter:
    def __init__(self, path: str | Path, flush_every_s: float = 2.0) -> None:
        self.path = Path(path)
        self.flush_every_s = flush_every_s
        self.frames = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            raw = self.path.open("wb")
        except OSError as err:
            raise FeedError(f"cannot write recording {str(self.path)!r}: {err.strerror or err}") from None
        self._raw = raw
        # Level 5: about as small as 9 on this data, several times faster to write.
        self._out: BinaryIO = (
            gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=5) if self.path.suffix == ".gz" else raw  # type: ignore[assignment]
        )
        self._next_flush = time.monotonic() + flush_every_s

    def write(self, recv_ns: int, frame: bytes | str) -> None:
        if isinstance(frame, str):
            frame = frame.encode()
        if b"\n" in frame:  # one frame a line; a line break in JSON is whitespace between tokens
            frame = frame.replace(b"\r", b" ").replace(b"\n", b" ")
        self._out.write(b"%d %s\n" % (recv_ns, frame))
        self.frames += 1
        now = time.monotonic()
        if now >= self._next_flush:
            self._next_flush = now + self.flush_every_s
            self.flush()

    def flush(self) -> None:
        self._out.flush()
        if self._out is not self._raw:
            self._raw.flush()

    def close(self) -> None:
        if self._raw.closed:
            return
        self._out.close()
        if self._out is not self._raw:
            self._raw.close()

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
