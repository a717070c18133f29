"""Reading recordings back, and pacing them by event time (pure: the caller sleeps and publishes).

The recording format: gzip or plain text, one frame a line,
`<recv_time_ns> <raw exchange JSON>`, exactly as the real captures in `../shared/data/binance_usdm_ws/`.
Also read: cryptofeed's sample format (`<recv_unix_seconds_float>: <raw JSON>`, first line the
subscription URL). Gzip is recognised by its magic bytes, not the file name.

Lines that carry no frame (the URL header, lines whose timestamp does not parse) are counted under
`skipped`; a gzip file cut short (a recording killed mid-write) plays up to the cut and is counted as
"truncated", a corrupt one up to the damage ("corrupt"). Frames without a `"stream"` (REST snapshots) reach the parser, which counts them as
ignored, so one place decides what a frame is.
"""

from __future__ import annotations

import heapq
import logging
import queue
import re
import threading
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from tui_trader.errors import FeedError

log = logging.getLogger(__name__)

GZIP_MAGIC = b"\x1f\x8b"
CHUNK_BYTES = 1 << 20
# Longer than any frame a venue sends (the live client refuses frames over 4 MiB). A longer line is skipped
# ("line too long") without ever being held whole: a file of one endless line costs no memory.
MAX_LINE_BYTES = 8 << 20
GZIP_WBITS = 16 + zlib.MAX_WBITS
GUNZIP_AHEAD = 4  # decompressed chunks inflated ahead of the reader (at most this many MiB held)


def open_recording(path: str | Path) -> tuple[BinaryIO, bool]:
    """Open a recording for reading: (raw file, is_gzip). Raises FeedError with one clear line."""
    p = Path(path)
    if p.is_dir():
        raise FeedError(f"cannot read recording {str(p)!r}: it is a folder, not a recording file")
    try:
        fh = p.open("rb")
    except OSError as err:
        raise FeedError(f"cannot read recording {str(p)!r}: {err.strerror or err}") from None
    try:
        magic = fh.read(2)
        fh.seek(0)
    except OSError as err:
        fh.close()
        raise FeedError(f"cannot read recording {str(p)!r}: {err.strerror or err}") from None
    return fh, magic == GZIP_MAGIC


# How much of a recording the check before a replay reads: enough for a header line and many frames, little
# enough that checking a large file costs nothing.
PROBE_BYTES = 256 * 1024


def check_readable(paths: list[str]) -> None:
    """Fail early, with the file's name and what is wrong, unless every recording opens and its beginning
    holds a frame: an empty file, a gzip holding nothing, random bytes or a folder would otherwise "replay"
    nothing and end as if it had succeeded."""
    for path in paths:
        _probe(path)


def _probe(path: str) -> None:
    fh, gz = open_recording(path)
    name = repr(str(path))
    with fh:
        try:
            head = fh.read(PROBE_BYTES)
            whole = len(head) < PROBE_BYTES or not fh.read(1)
        except OSError as err:
            raise FeedError(f"cannot read recording {name}: {err.strerror or err}") from None
    if not head:
        raise FeedError(f"recording {name} is empty")
    data = head
    if gz:
        data, ended = _gunzip_head(head, name)
        if not data and (ended or whole):
            raise FeedError(f"recording {name} is a gzip file with nothing in it")
        whole = whole and ended
    lines = data.split(b"\n")
    if not whole:
        lines.pop()  # may be cut by the probe window
    if any(_is_frame(line) for line in lines):
        return
    what = "holds no frame" if whole else f"holds no frame in its first {len(data)} bytes"
    raise FeedError(
        f"recording {name} {what} (each line should be `<recv_time_ns> <raw exchange JSON>`): not a recording?"
    )


def _gunzip_head(head: bytes, name: str) -> tuple[bytes, bool]:
    """What the first bytes of a gzip file decompress to (members in turn), and whether its data ended."""
    out = []
    data = head
    try:
        while data:
            d = zlib.decompressobj(GZIP_WBITS)
            out.append(d.decompress(data, PROBE_BYTES))
            if not d.eof:
                return b"".join(out), False
            data = d.unused_data
    except zlib.error as err:
        if not out or not any(out):
            raise FeedError(f"recording {name} is not a readable gzip file ({err})") from None
    return b"".join(out), True


def _is_frame(line: bytes) -> bool:
    """The same test as the reader's: a receive time, a space, a non-empty frame."""
    head, _, frame = line.partition(b" ")
    try:
        if head[-1:] == b":":
            _seconds_to_ns(head[:-1])
        else:
            int(head)
    except ValueError:
        return False
    return bool(frame.strip())


class RecordingReader:
    """Iterates `(recv_time_ns, raw_frame)` over one recording; `skip` lines already played are passed over.

    `lines` is how many lines have been consumed, skipped ones included (the resume position); it is kept in
    `progress[slot]`, a list the caller may hand in so that it holds the position without a look per frame."""

    def __init__(
        self,
        path: str | Path,
        skip: int = 0,
        progress: list[int] | None = None,
        slot: int = 0,
        ahead: int = GUNZIP_AHEAD,
    ) -> None:
        self.path = str(path)
        self.skip = skip
        self.ahead = ahead  # gzip: chunks inflated ahead on a thread (0: inflated as they are read, no thread)
        self.progress = progress if progress is not None else [0]
        self.slot = slot
        self.progress[slot] = 0
        self.skipped: dict[str, int] = {}
        self._cut = False  # the file ends mid-line: its last partial line is not a frame

    @property
    def lines(self) -> int:
        return self.progress[self.slot]

    def _skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        fh, gz = open_recording(self.path)
        if not gz:
            return self._frames(fh, iter(lambda: fh.read(CHUNK_BYTES), b""))
        return self._frames(fh, self._gunzip(fh) if self.ahead > 0 else self._inflate(fh))

    def _gunzip(self, fh: BinaryIO) -> Iterator[bytes]:
        """Decompressed chunks, inflated on a thread of their own a few chunks ahead: zlib lets go of the GIL
        while it inflates, so on a second core the decompression (about half of reading a capture) costs the
        replay no time. The chunks and their order are the same as inflated here; an error reading the file
        is raised here, where the reader asked for the chunk."""
        ahead: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=self.ahead)
        stop = threading.Event()

        def hand(item: bytes | BaseException | None) -> bool:
            while not stop.is_set():
                try:
                    ahead.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def inflate() -> None:
            try:
                for out in self._inflate(fh):
                    if not hand(out):
                        return
            except Exception as err:  # noqa: BLE001 - handed to the reader, which raises it
                hand(err)
                return
            hand(None)

        worker = threading.Thread(target=inflate, name=f"gunzip:{Path(self.path).name}", daemon=True)
        worker.start()
        try:
            while (item := ahead.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            worker.join()

    def _inflate(self, fh: BinaryIO) -> Iterator[bytes]:
        """Decompressed chunks. zlib directly rather than GzipFile: a file cut mid-write gives up everything
        before the cut instead of an exception, concatenated gzip members play in turn, and it is faster."""
        d = zlib.decompressobj(GZIP_WBITS)
        try:
            while data := fh.read(CHUNK_BYTES):
                while data:
                    # At most one chunk of output per call: a gzip bomb streams through, it never balloons.
                    out = d.decompress(data, CHUNK_BYTES)
                    if out:
                        yield out
                    data = d.unconsumed_tail
                    if d.eof and d.unused_data:  # the next gzip member
                        data = d.unused_data
                        d = zlib.decompressobj(GZIP_WBITS)
            tail = d.flush()
            if tail:
                yield tail
            if not d.eof:
                self._cut = True
                self._skip("truncated")
                log.warning("recording %s ends mid-stream (cut while being written?); played what it holds", self.path)
        except zlib.error as err:
            self._cut = True
            self._skip("corrupt")
            log.warning("recording %s is corrupt after line %d: %s", self.path, self.lines, err)

    def _frames(self, fh: BinaryIO, chunks: Iterator[bytes]) -> Iterator[tuple[int, bytes]]:
        progress, slot = self.progress, self.slot
        try:
            skip = self.skip
            lineno = 0
            rest = b""
            discarding = False  # inside a line over MAX_LINE_BYTES: drop up to its newline
            # Big reads split into lines: several times fewer Python-level calls than readline per line. The
            # loop below is the replay's hottest: one partition and one int() per line, nothing else unless
            # the line is odd (a header, a cryptofeed time, a CR before the newline).
            while True:
                chunk = next(chunks, b"")
                if not chunk:
                    data = rest
                    lines = [rest] if rest and not self._cut and not discarding else []
                else:
                    data = rest + chunk
                    lines = data.split(b"\n")
                    rest = lines.pop()
                    if discarding:
                        if lines:
                            lines.pop(0)  # the end of the over-long line
                            discarding = False
                        else:
                            rest = b""
                if lineno < skip:  # lines played before a restart
                    passed = min(len(lines), skip - lineno)
                    lineno += passed
                    progress[slot] = lineno
                    del lines[:passed]
                crlf = b"\r" in data  # a CR before the newline: looked for per line only where there is one
                for line in lines:
                    lineno += 1
                    progress[slot] = lineno
                    head, _, frame = line.partition(b" ")
                    try:
                        recv_ns = int(head)
                    except ValueError:
                        odd = self._odd_head(head, line)
                        if odd is None:
                            continue
                        recv_ns = odd
                    if crlf and frame[-1:] == b"\r":
                        frame = frame[:-1]
                    if not frame:
                        self._skip("unreadable line")
                        continue
                    yield recv_ns, frame
                if len(rest) > MAX_LINE_BYTES:
                    rest = b""
                    discarding = True
                    lineno += 1
                    if lineno > skip:
                        progress[slot] = lineno
                        self._skip("line too long")
                if not chunk:
                    break
            progress[slot] = lineno
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()  # a gunzip thread stops before its file is closed
            fh.close()

    def _odd_head(self, head: bytes, line: bytes) -> int | None:
        """A line whose head is not an integer: cryptofeed's "<seconds.fraction>:" time, or no frame at all
        (counted; None)."""
        if head[-1:] == b":":
            try:
                return _seconds_to_ns(head[:-1])
            except ValueError:
                pass
        if line.strip():
            self._skip("header" if head.startswith((b"ws://", b"wss://", b"http")) else "unreadable line")
        return None


# A frame's event time without decoding it (the parser decodes it once, later): Binance's `"E":<ms>`, OKX's
# `"ts":"<ms>"` and Bybit's `"ts":<ms>` (their envelope time comes before any payload time).
_EVENT_TIME = re.compile(rb'"(?:E|ts)"\s*:\s*"?(\d{1,15})\b')


def event_ms_of(frame: bytes, recv_ns: int) -> int:
    """The frame's event time in ms, or its receive time where it carries none."""
    found = _EVENT_TIME.search(frame)
    return int(found.group(1)) if found else recv_ns // 1_000_000


class MergedRecordings:
    """Several recordings as one stream of `(recv_time_ns, raw_frame)` in event-time order: files of the same
    day interleave, consecutive days follow each other. Streaming (a k-way merge holding one frame per file).

    Each file is keyed on the largest event time it has shown so far (frames of different streams arrive
    slightly out of order within a file, and a merge needs each input in order); its own order is kept as
    it is. Ties go to the file named first, so the order is the same on every run. `lines[i]` is how many
    lines of file i are done (what has been handed out), the position to resume from with `skip`.
    """

    def __init__(self, paths: Sequence[str | Path], skip: Sequence[int] = ()) -> None:
        self.paths = [str(p) for p in paths]
        self.lines = [skip[i] if i < len(skip) else 0 for i in range(len(self.paths))]
        if len(self.paths) == 1:  # nothing to merge: the reader keeps `lines` current itself
            self.readers = [RecordingReader(self.paths[0], skip=self.lines[0], progress=self.lines)]
        else:
            # A gunzip thread per file for a few files (a day's symbols); many files (days merged) inflate as
            # they are read, so the chunks held ahead stay a few MiB in all.
            ahead = GUNZIP_AHEAD // len(self.paths)
            self.readers = [
                RecordingReader(p, skip=n, ahead=ahead) for p, n in zip(self.paths, self.lines, strict=True)
            ]

    @property
    def skipped(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.readers:
            for reason, n in r.skipped.items():
                out[reason] = out.get(reason, 0) + n
        return out

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        if len(self.readers) == 1:  # nothing to merge: the reader's own frames, no look at the event time
            return iter(self.readers[0])
        return self._merged()

    def _merged(self) -> Iterator[tuple[int, bytes]]:
        streams = [iter(r) for r in self.readers]
        latest = [0] * len(streams)
        heap: list[tuple[int, int, int, int, bytes]] = []

        def pull(i: int) -> None:
            item = next(streams[i], None)
            reader = self.readers[i]
            if item is None:
                self.lines[i] = reader.lines  # trailing lines without a frame are done too
                return
            recv_ns, frame = item
            key = latest[i] = max(event_ms_of(frame, recv_ns), latest[i])
            heapq.heappush(heap, (key, i, reader.lines, recv_ns, frame))

        try:
            for i in range(len(streams)):
                pull(i)
            while heap:
                _, i, lineno, recv_ns, frame = heapq.heappop(heap)
                self.lines[i] = lineno
                yield recv_ns, frame
                pull(i)
        finally:
            for stream in streams:
                close = getattr(stream, "close", None)
                if close is not None:
                    close()


def _seconds_to_ns(text: bytes) -> int:
    # Exact decimal conversion: float seconds would lose the sub-microsecond digits.
    whole, _, frac = text.partition(b".")
    if not whole.isdigit() or (frac and not frac.isdigit()):
        raise ValueError(text)
    return int(whole) * 1_000_000_000 + int((frac + b"000000000")[:9] or b"0")


class Pacer:
    """How long to wait before publishing a frame so a replay runs at `speed` × real time.

    Paced on the largest event time seen (frames of different streams arrive slightly out of event-time
    order; the replay clock never goes back either). Targets are absolute from the start, so sleeping
    late never accumulates drift. Several files are merged by event time before pacing (MergedRecordings), so
    one pacer runs through them all; `restart()` starts afresh (the first frame after it plays at once).
    """

    MIN_SLEEP_S = 0.001  # shorter waits are not worth a trip through the event loop
    MAX_GAP_MS = 300_000  # event time missing for longer than this is a hole between files, not a quiet market

    def __init__(self, speed: float) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.speed = speed
        self._start_event: int | None = None
        self._start_wall = 0.0
        self._latest = 0

    def restart(self) -> None:
        self._start_event = None

    def delay(self, event_ms: int, now_s: float) -> float:
        """Seconds to wait (0 when due) for a frame with `event_ms`, given the monotonic time `now_s`."""
        if self._start_event is None:
            self._start_event = self._latest = event_ms
            self._start_wall = now_s
            return 0.0
        if event_ms - self._latest > self.MAX_GAP_MS:
            # A hole between recordings (merged files of days apart): played through at once, not waited
            # out at `speed` (a day at 20x is more than an hour of an idle screen).
            self._start_event = self._latest = event_ms
            self._start_wall = now_s
            return 0.0
        if event_ms > self._latest:
            self._latest = event_ms
        due = self._start_wall + (self._latest - self._start_event) / 1000.0 / self.speed
        wait = due - now_s
        return wait if wait >= self.MIN_SLEEP_S else 0.0
