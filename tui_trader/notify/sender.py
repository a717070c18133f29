"""The sender shell: notices go into a bounded queue and one thread hands them to apprise.

apprise is synchronous (an HTTP request per URL, a TLS handshake, an SMTP session), so it never runs on
the event loop: `submit` only puts the notice in the queue and returns at once; when the queue is full the
new notice is dropped and counted (trading is never held up by a slow or dead webhook). Each request has
`timeout_s` for connecting and for reading, so one dead service delays the notices behind it by at most
that much per URL.

A failure is logged once when sending starts failing and once when it works again, not per notice; the
counts (queued, sent, failed, dropped) and the failing state are read by the worker for its Health record.
apprise's own log lines may quote the URL (tokens included), so its logger is cut off from ours and only
its last message is kept, scrubbed, as the reason of a failure.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tui_trader.notify.rules import Notice
from tui_trader.notify.urls import Scrubber, label

log = logging.getLogger(__name__)


class Target(Protocol):
    def notify(self, body: str, title: str = "", notify_type: str = "info", **kwargs: Any) -> bool: ...


@dataclass
class Counts:
    queued: int = 0
    sent: int = 0
    failed: int = 0
    dropped: int = 0
    invalid_urls: int = 0


class _LastMessage(logging.Handler):
    """Keeps apprise's last warning or error of this thread: the reason a send failed."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.local = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.local.text = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string in a library's log call is no reason to stop sending
            self.local.text = str(record.msg)


_apprise_log = _LastMessage()


SENDER_THREAD = "notify-sender"
# The HTTP library under apprise logs each request's host, port and path at debug level: a webhook's path is
# its token. Records of the sender's thread are dropped there (other users of these loggers keep theirs).
HTTP_LOGGERS = ("urllib3.connectionpool", "urllib3.connection", "urllib3.util.retry", "urllib3.response")


def _not_from_sender(record: logging.LogRecord) -> bool:
    return record.threadName != SENDER_THREAD


def _quiet_apprise() -> None:
    logger = logging.getLogger("apprise")
    logger.propagate = False  # its lines may hold a URL with its token: never into our log file
    if _apprise_log not in logger.handlers:
        logger.addHandler(_apprise_log)
    logger.setLevel(logging.WARNING)
    for name in HTTP_LOGGERS:
        http = logging.getLogger(name)
        if _not_from_sender not in http.filters:
            http.addFilter(_not_from_sender)


def build_targets(urls: Sequence[str], timeout_s: float) -> tuple[list[tuple[str, Target]], list[str]]:
    """apprise plugins for the URLs (with our timeouts), and the labels of the URLs apprise cannot use."""
    import apprise  # imported here: only a desk that sends notices pays for loading its plugins

    _quiet_apprise()
    targets: list[tuple[str, Target]] = []
    invalid: list[str] = []
    for i, url in enumerate(urls):
        try:
            plugin = apprise.Apprise.instantiate(url)
        except Exception:  # noqa: BLE001 - a malformed URL may raise inside a plugin's parser
            plugin = None
        if plugin is None:
            invalid.append(label(i, url))
            continue
        for attr in ("socket_connect_timeout", "socket_read_timeout"):
            if hasattr(plugin, attr):
                setattr(plugin, attr, timeout_s)
        targets.append((label(i, url), plugin))
    return targets, invalid


_STOP = object()


class Sender:
    """`build` (when given) makes the targets on the sender's own thread before the first send: loading
    apprise and its plugins takes seconds on a busy machine, and never on the event loop. Notices submitted
    meanwhile wait in the queue."""

    def __init__(
        self,
        targets: Sequence[tuple[str, Target]],
        scrub: Scrubber,
        queue_size: int,
        invalid: Sequence[str] = (),
        build: Callable[[], tuple[list[tuple[str, Target]], list[str]]] | None = None,
    ) -> None:
        self.targets = list(targets)
        self.scrub = scrub
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self.counts = Counts(invalid_urls=len(invalid))
        self.invalid = list(invalid)
        self._build = build
        self.ready = threading.Event()  # the targets are known
        if build is None:
            self.ready.set()
        self._lock = threading.Lock()
        self.failing = ""  # why the last send failed; "" while sends succeed
        self.failures_started = 0  # times sending went from working to failing (each logged once)
        self._thread: threading.Thread | None = None
        self.last_send_s = 0.0

    def start(self) -> None:
        if self.invalid:
            log.error("notify: apprise cannot use %s; check the URL syntax", ", ".join(self.invalid))
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name=SENDER_THREAD, daemon=True)
            self._thread.start()

    def _make_targets(self) -> None:
        build, self._build = self._build, None
        if build is None:
            return
        try:
            targets, invalid = build()
        except Exception as err:  # noqa: BLE001 - apprise missing or broken: said once, nothing sent
            targets, invalid = [], []
            log.error(
                "notify: cannot load apprise (%s); nothing will be sent", self.scrub(f"{type(err).__name__}: {err}")
            )
        with self._lock:
            self.targets, self.invalid = list(targets), list(invalid)
            self.counts.invalid_urls = len(invalid)
        if invalid:
            log.error("notify: apprise cannot use %s; check the URL syntax", ", ".join(invalid))
        self.ready.set()

    def submit(self, notice: Notice) -> bool:
        """Queue a notice without waiting; False (and counted) when the queue is full."""
        try:
            self.queue.put_nowait(notice)
        except queue.Full:
            with self._lock:
                self.counts.dropped += 1
            return False
        with self._lock:
            self.counts.queued += 1
        return True

    def snapshot(self) -> tuple[Counts, str]:
        with self._lock:
            c = self.counts
            return Counts(c.queued, c.sent, c.failed, c.dropped, c.invalid_urls), self.failing

    def close(self, wait_s: float = 0.0) -> None:
        """Stop the thread after the notices already queued (waiting at most `wait_s`; it is a daemon)."""
        thread = self._thread
        if thread is None:
            return
        deadline = time.monotonic() + wait_s
        while True:
            try:
                self.queue.put(_STOP, timeout=max(0.0, deadline - time.monotonic()) or 0.001)
                break
            except queue.Full:
                if time.monotonic() >= deadline:
                    # Still full of notices a dead service holds up: drop them rather than wait.
                    self._discard_queued()
        thread.join(max(0.0, deadline - time.monotonic()))
        self._thread = None

    def _discard_queued(self) -> None:
        while True:
            try:
                self.queue.get_nowait()
            except queue.Empty:
                return
            with self._lock:
                self.counts.dropped += 1

    # --- the thread ---------------------------------------------------------------------------------------

    def _loop(self) -> None:
        self._make_targets()
        while True:
            item = self.queue.get()
            if item is _STOP:
                return
            self._send(item)

    def _send(self, n: Notice) -> None:
        started = time.perf_counter()
        problems = []
        for name, target in self.targets:
            _apprise_log.local.text = ""
            try:
                ok = bool(target.notify(body=n.body, title=n.title, notify_type=n.level))
                reason = _apprise_log.local.text
            except Exception as err:  # noqa: BLE001 - a plugin bug must not end the thread
                ok, reason = False, f"{type(err).__name__}: {err}"
            if not ok:
                problems.append(f"{name}: {self.scrub(reason) or 'not sent'}")
        self.last_send_s = time.perf_counter() - started
        with self._lock:
            if problems:
                self.counts.failed += 1
                was = self.failing
                self.failing = "; ".join(problems)[:300]
                if not was:
                    self.failures_started += 1
            else:
                self.counts.sent += 1
                was = self.failing
                self.failing = ""
        if problems and not was:
            log.warning("notify: sending failed (%s); said once, until a send works again", self.failing)
        elif not problems and was:
            log.info("notify: sending works again")
