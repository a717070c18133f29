"""The journal: what must survive a crash, in one SQLite file (WAL, synchronous=FULL).

Holds every order command the executor accepted and whether it was executed, every order status (fills
included) with whether it was published, the paper funding settlements, and a small key/value state (the
router's halt state). Positions and equity are not stored: they are folded from the commands and statuses
(the router's book, reconciliation, the results). Writes are durable before their effect is published: the
executor journals a status, then publishes it, then marks it published; after a crash the unpublished ones go
out once.

Schema changes go through `MIGRATIONS` (PRAGMA user_version): each entry upgrades one version to the next.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from tui_trader import journal_lock, paths
from tui_trader import messages as m
from tui_trader.errors import JournalError

SCHEMA_VERSION = 3

MIGRATIONS: dict[int, str] = {
    # 0 → 1: the first schema.
    1: """
    CREATE TABLE commands (
        id TEXT PRIMARY KEY,
        symbol TEXT NOT NULL,
        purpose TEXT NOT NULL,
        body BLOB NOT NULL,
        ts INTEGER NOT NULL,
        executed INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE statuses (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        order_id TEXT NOT NULL,
        status TEXT NOT NULL,
        body BLOB NOT NULL,
        ts INTEGER NOT NULL,
        published INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX statuses_order ON statuses(order_id);
    CREATE INDEX statuses_unpublished ON statuses(published) WHERE published = 0;
    -- positions and equity: written by no version of the desk (positions are folded from the statuses);
    -- kept so the schema history stays as journals already on disk have it.
    CREATE TABLE positions (symbol TEXT PRIMARY KEY, body TEXT NOT NULL, ts INTEGER NOT NULL);
    CREATE TABLE equity (ts INTEGER NOT NULL, equity REAL NOT NULL, realized REAL NOT NULL, fees REAL NOT NULL);
    CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # 1 → 2: which command a status answered (to publish a command's outcome again when it is re-delivered),
    # and how many times a command was completed (executed): the crash tests hold it to one.
    2: """
    ALTER TABLE statuses ADD COLUMN command_id TEXT;
    CREATE INDEX statuses_command ON statuses(command_id);
    ALTER TABLE commands ADD COLUMN completions INTEGER NOT NULL DEFAULT 0;
    """,
    # 2 → 3: funding settlements (paper), kept apart from the fees that ride on fills: what each open
    # position received (+) or paid (−) at a funding time, so the results count it on its own.
    3: """
    CREATE TABLE funding (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        ts INTEGER NOT NULL,
        mode TEXT NOT NULL,
        symbol TEXT NOT NULL,
        amount REAL NOT NULL
    );
    """,
}

_status_decoder = msgspec.json.Decoder(m.OrderStatus)
_command_decoder = msgspec.json.Decoder(m.OrderCommand)


F = TypeVar("F", bound=Callable[..., Any])

SQLITE_MAGIC = b"SQLite format 3\x00"
# Another connection's write lock (`sqlite3` on the command line, a backup) delays a write by up to this long
# before it fails; without it the first contended write fails at once and crash-loops the executor.
BUSY_TIMEOUT_MS = 5000


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def move_aside_hint(path: Path) -> str:
    return (
        f"the journal is kept as it is: move it aside (mv {path} {path}.damaged, with its -wal and -shm "
        "files if present) to start a fresh one, or set journal.path to another file"
    )


def _reported(method: F) -> F:
    """A failure inside the journal (SQLite error, damaged page or record found after opening) leaves as one
    `JournalError` that says what and where, not as an SQLite or decoder traceback."""

    @functools.wraps(method)
    def wrapper(self: Journal, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as err:
            raise JournalError(self._explain(err)) from None
        except (msgspec.DecodeError, ValueError) as err:  # ValueError: json and UTF-8 decoding
            text = _short(" ".join(str(err).split()), 200)
            raise JournalError(
                f"{self.path}: a stored record cannot be read ({type(err).__name__}: {text}); "
                f"{move_aside_hint(self.path)}"
            ) from None

    return wrapper  # type: ignore[return-value]


class Journal:
    """One journal file. Safe to share between the workers of one process (calls are serialised).

    Opening fails with a one-line `JournalError` (never a traceback, never a silently replaced file) when the
    path is a folder or cannot be created, another process holds the journal, or the file is not a journal
    this desk can use (not SQLite, damaged, truncated, of a newer schema). The file and SQLite's -wal and
    -shm files beside it are created readable by their owner only (0600). `read_only=True` opens for
    reading (a report while the desk runs): no lock, no migration, nothing written.
    """

    def __init__(self, path: str | Path | None = None, *, read_only: bool = False) -> None:
        self.path = Path(path) if path else paths.journal_file()
        self.read_only = read_only
        self._lock = threading.Lock()
        self._lock_key: str | None = None
        memory = str(self.path) == ":memory:"
        try:
            if not memory:
                self._prepare()
            self._db = self._connect(memory)
        except BaseException:
            self._release()
            raise

    @classmethod
    def from_settings(cls, settings, role: str | None = None) -> Journal:
        return cls(journal_path(settings, role))

    # --- opening ------------------------------------------------------------------------------------------

    def _prepare(self) -> None:
        """Checks before SQLite touches the file: it would turn a folder into "unable to open", and a
        non-SQLite file into an error only at the first query."""
        path = self.path
        if path.is_dir():
            raise JournalError(f"{path} is a folder, not a journal file: set journal.path to a file")
        if path.exists() and not path.is_file():
            raise JournalError(f"{path} is not a regular file: set journal.path to a file")
        if self.read_only:
            if not path.exists():
                raise JournalError(f"{path}: no such journal")
            self._check_header()
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise JournalError(
                f"cannot create the journal's folder {path.parent}: {err.strerror or err} "
                "(set journal.path to a writable place)"
            ) from None
        self._lock_key = journal_lock.acquire(path)
        try:
            # Created here, owner-only, before SQLite creates it with the umask's mode; SQLite gives the
            # -wal and -shm files the mode of the database file.
            os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, journal_lock.FILE_MODE))
        except OSError as err:
            raise JournalError(
                f"cannot create or open journal {path}: {err.strerror or err} (set journal.path to a writable place)"
            ) from None
        self._check_header()

    def _check_header(self) -> None:
        try:
            with open(self.path, "rb") as fh:
                head = fh.read(len(SQLITE_MAGIC))
        except OSError as err:
            raise JournalError(f"cannot read journal {self.path}: {err.strerror or err}") from None
        if head and head != SQLITE_MAGIC:
            raise JournalError(f"{self.path} is not a journal (not an SQLite file); {move_aside_hint(self.path)}")

    def _connect(self, memory: bool) -> sqlite3.Connection:
        target = self.path if not self.read_only else f"file:{self.path}?mode=ro"
        db = sqlite3.connect(
            target, isolation_level=None, check_same_thread=False, uri=self.read_only, timeout=BUSY_TIMEOUT_MS / 1000
        )
        self._db = db
        try:
            db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            if not self.read_only:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=FULL")
            if not memory:
                self._check_integrity()
            self._migrate()
        except sqlite3.Error as err:
            db.close()
            raise JournalError(self._explain(err)) from None
        except ValueError as err:  # a damaged header can make SQLite hand back text that is not UTF-8
            db.close()
            raise JournalError(f"{self.path} is damaged ({type(err).__name__}); {move_aside_hint(self.path)}") from None
        except BaseException:
            db.close()
            raise
        return db

    def _explain(self, err: sqlite3.Error) -> str:
        text = _short(" ".join(str(err).split()), 200)
        if "locked" in text or "busy" in text:
            return (
                f"{self.path} is locked by another program (SQLite: {text}) for more than "
                f"{BUSY_TIMEOUT_MS / 1000:g} s; close it and start again"
            )
        if "readonly" in text or "read-only" in text:
            return f"{self.path} is not writable (read-only file or folder): fix its permissions or set journal.path"
        if "malformed" in text or "not a database" in text or "corrupt" in text:
            return f"{self.path} is damaged (SQLite: {text}); {move_aside_hint(self.path)}"
        if "unable to open" in text:
            return f"cannot open journal {self.path} (SQLite: {text}): check the path and its permissions"
        return f"{self.path}: cannot use the journal (SQLite: {text})"

    def _check_integrity(self) -> None:
        """A damaged or truncated file is found here, in one line, not later as an executor crash loop on the
        first query that reaches the damage. quick_check reads every page once (milliseconds for a journal
        of a few MB)."""
        rows = self._db.execute("PRAGMA quick_check(3)").fetchall()
        if rows != [("ok",)]:
            # SQLite's report spans lines ("*** in database main ***" then one line per problem): one line here.
            found = " ".join(str(r[0]) for r in rows).replace("*** in database main ***", "").split()
            problems = _short(" ".join(found), 200)
            raise JournalError(f"{self.path} is damaged ({problems}); {move_aside_hint(self.path)}")

    def _release(self) -> None:
        if self._lock_key is not None:
            journal_lock.release(self._lock_key)
            self._lock_key = None

    def _migrate(self) -> None:
        with self._lock:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version < 0:
                raise JournalError(f"{self.path} is damaged (schema version {version}); {move_aside_hint(self.path)}")
            if version > SCHEMA_VERSION:
                raise JournalError(
                    f"{self.path}: journal schema {version} is newer than this desk understands ({SCHEMA_VERSION}); "
                    "run the newer tui-trader that wrote it, or set journal.path to another file"
                )
            if self.read_only:
                if version < SCHEMA_VERSION:
                    raise JournalError(
                        f"{self.path}: journal schema {version} is older than this desk's "
                        f"({SCHEMA_VERSION}); open it once with the desk to upgrade it"
                    )
                return
            for target in range(version + 1, SCHEMA_VERSION + 1):
                # One script, one transaction: a failed migration leaves the previous version intact.
                try:
                    self._db.executescript(
                        f"BEGIN IMMEDIATE; {MIGRATIONS[target]}; PRAGMA user_version = {target}; COMMIT;"
                    )
                except BaseException:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise

    @property
    @_reported
    def schema_version(self) -> int:
        return self._db.execute("PRAGMA user_version").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
        self._release()

    # --- commands ---------------------------------------------------------------------------------

    @_reported
    def record_command(self, cmd: m.OrderCommand) -> bool:
        """Journal a command as received. False when this command id is already journaled."""
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO commands(id, symbol, purpose, body, ts) VALUES (?, ?, ?, ?, ?)",
                (cmd.id, cmd.symbol, cmd.purpose, m.encode(cmd), cmd.ts),
            )
            return cur.rowcount == 1

    @_reported
    def was_executed(self, command_id: str) -> bool:
        with self._lock:
            row = self._db.execute("SELECT executed FROM commands WHERE id = ?", (command_id,)).fetchone()
        return bool(row and row[0])

    @_reported
    def completions(self) -> dict[str, int]:
        """How many times each journaled command was executed (never more than once, by design)."""
        with self._lock:
            return dict(self._db.execute("SELECT id, completions FROM commands"))

    @_reported
    def commands(self) -> list[m.OrderCommand]:
        with self._lock:
            rows = self._db.execute("SELECT body FROM commands ORDER BY rowid").fetchall()
        return [_command_decoder.decode(r[0]) for r in rows]

    @_reported
    def complete(
        self, command_id: str | None, statuses: Iterable[m.OrderStatus], command: m.OrderCommand | None = None
    ) -> list[int]:
        """In one transaction: mark the command executed (if any) and journal its statuses as unpublished.
        With `command`, it is journaled in the same transaction if it is not yet (a paper command: nothing
        outside the process depends on it before its outcome, so one sync of the log serves both).

        Returns the statuses' sequence numbers, to mark them published once they are on the bus.
        """
        seqs = []
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if command is not None:
                    self._db.execute(
                        "INSERT OR IGNORE INTO commands(id, symbol, purpose, body, ts) VALUES (?, ?, ?, ?, ?)",
                        (command.id, command.symbol, command.purpose, m.encode(command), command.ts),
                    )
                if command_id is not None:
                    self._db.execute(
                        "UPDATE commands SET executed = 1, completions = completions + 1 WHERE id = ?", (command_id,)
                    )
                for st in statuses:
                    cur = self._db.execute(
                        "INSERT INTO statuses(order_id, status, body, ts, command_id) VALUES (?, ?, ?, ?, ?)",
                        (st.order_id, st.status, m.encode(st), st.ts, command_id),
                    )
                    assert cur.lastrowid is not None  # an INSERT into a rowid table always sets it
                    seqs.append(cur.lastrowid)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return seqs

    @_reported
    def mark_published(self, seqs: Iterable[int]) -> None:
        seqs = list(seqs)
        if not seqs:
            return
        with self._lock:
            if len(seqs) == 1:
                self._db.execute("UPDATE statuses SET published = 1 WHERE seq = ?", (seqs[0],))
                return
            # One transaction, so one sync of the log, for a command's statuses (an accept and its fill):
            # without it every UPDATE commits, and syncs, on its own.
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("UPDATE statuses SET published = 1 WHERE seq = ?", [(s,) for s in seqs])
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    @_reported
    def unpublished(self) -> list[tuple[int, m.OrderStatus]]:
        with self._lock:
            rows = self._db.execute("SELECT seq, body FROM statuses WHERE published = 0 ORDER BY seq").fetchall()
        return [(seq, _status_decoder.decode(body)) for seq, body in rows]

    @_reported
    def outcome(self, command_id: str) -> list[tuple[int, m.OrderStatus]]:
        """The statuses journaled when `command_id` was executed, with their sequence numbers."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, body FROM statuses WHERE command_id = ? ORDER BY seq", (command_id,)
            ).fetchall()
        return [(seq, _status_decoder.decode(body)) for seq, body in rows]

    @_reported
    def has_status(self, st: m.OrderStatus) -> bool:
        """Whether this event (order, status, cumulative quantity) is journaled already (a replay re-run)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT body FROM statuses WHERE order_id = ? AND status = ?", (st.order_id, st.status)
            ).fetchall()
        return any(_status_decoder.decode(r[0]).filled_qty == st.filled_qty for r in rows)

    @_reported
    def statuses(self) -> list[m.OrderStatus]:
        """Every journaled status in the order it was written (to rebuild positions)."""
        with self._lock:
            rows = self._db.execute("SELECT body FROM statuses ORDER BY seq").fetchall()
        return [_status_decoder.decode(r[0]) for r in rows]

    @_reported
    def record_funding(self, ts: int, mode: m.Mode, symbol: str, amount: float) -> None:
        """A funding settlement at `ts` (the funding time): `amount` received (+) or paid (−), USDT."""
        with self._lock:
            self._db.execute(
                "INSERT INTO funding(ts, mode, symbol, amount) VALUES (?, ?, ?, ?)", (ts, mode, symbol, amount)
            )

    @_reported
    def funding(self) -> list[tuple[int, str, str, float]]:
        """Every funding settlement (ts, mode, symbol, amount received + / paid −) in the order written."""
        with self._lock:
            return self._db.execute("SELECT ts, mode, symbol, amount FROM funding ORDER BY seq").fetchall()

    # --- state ----------------------------------------------------------------------

    @_reported
    def set_state(self, key: str, value: Any) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO state(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, json.dumps(value)),
            )

    @_reported
    def get_state(self, key: str, default: Any = None) -> Any:
        with self._lock:
            row = self._db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default


# Workers that journal when they run one per process (`tui-trader worker NAME`). The executor keeps the
# configured file (its executed commands are what prevents a second send, and `trades`/`report` read it); the
# router, which then journals its own commands and their fills to rebuild its book, gets a file of its own
# beside it: two processes never write one journal.
OWN_JOURNAL_ROLES = ("router",)


def journal_path(settings, role: str | None = None) -> Path:
    """The journal file of `settings` for a process running only the worker `role` (None: the whole pipeline)."""
    path = Path(settings.journal.path) if settings.journal.path else paths.journal_file()
    if role in OWN_JOURNAL_ROLES and str(path) != ":memory:":
        path = path.with_name(f"{path.stem}.{role}{path.suffix}")
    return path


def shared_journal(ctx) -> Journal:
    """The journal of this process's pipeline (`ctx.shared["journal"]`), opened from settings if absent."""
    journal = ctx.shared.get("journal")
    if journal is None:
        # "journal_role": set by `tui-trader worker NAME`, whose process runs that one worker.
        journal = ctx.shared["journal"] = Journal.from_settings(ctx.settings, ctx.shared.get("journal_role"))
    return journal
