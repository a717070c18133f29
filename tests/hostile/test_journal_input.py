"""Hostile journals: a folder, an unwritable place, a file that is not SQLite, damaged, truncated, of a newer
schema, undecodable records, or a journal another process holds. Each is one JournalError that names the
file and what to do; a damaged file is left exactly as it was; the files are created owner-only."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tui_trader import journal as j
from tui_trader import settings as s
from tui_trader.errors import JournalError

from .conftest import NEUTRAL_CWD, cli, one_line_error
from .journal_kit import make_journal, read_everything

INPUT_CLASS = "journal files"

HOLD = """
import sys
from tui_trader.journal import Journal
jr = Journal(sys.argv[1])
print("held", flush=True)
sys.stdin.read()
"""


class Holder:
    """Another process that opens a journal and keeps it open until stopped."""

    def __init__(self, path: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=NEUTRAL_CWD,
        )
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        assert line.strip() == "held", self.proc.stderr.read()  # type: ignore[union-attr]

    def stop(self, sig: int | None = None) -> None:
        if sig is not None:
            self.proc.send_signal(sig)
        else:
            self.proc.stdin.close()  # type: ignore[union-attr]
        self.proc.wait(10)
        for stream in (self.proc.stdout, self.proc.stderr, self.proc.stdin):
            if stream is not None and not stream.closed:
                stream.close()


def refused(path: Path, *needles: str) -> str:
    with pytest.raises(JournalError) as err:
        j.Journal(path)
    text = str(err.value)
    assert len(text.splitlines()) == 1 and str(path) in text, text
    for needle in needles:
        assert needle in text, text
    return text


def test_a_folder_as_the_journal_is_one_line(tmp_path):
    (tmp_path / "journal.sqlite3").mkdir()
    refused(tmp_path / "journal.sqlite3", "folder")


def test_a_journal_path_under_a_file_is_one_line(tmp_path):
    (tmp_path / "not-a-dir").write_text("")
    with pytest.raises(JournalError, match="cannot create the journal's folder"):
        j.Journal(tmp_path / "not-a-dir" / "journal.sqlite3")


def test_a_file_that_is_not_sqlite_is_kept_and_named(tmp_path):
    path = tmp_path / "journal.sqlite3"
    path.write_bytes(b"this was a text file all along\n" * 100)
    before = path.read_bytes()
    refused(path, "not an SQLite file", "move it aside", f"mv {path} {path}.damaged")
    assert path.read_bytes() == before  # never silently replaced


def test_a_corrupt_header_is_one_line_and_the_file_is_kept(tmp_path):
    path = tmp_path / "journal.sqlite3"
    data = bytearray(make_journal(path))
    data[16:24] = b"\xff" * 8  # page size and format bytes
    path.write_bytes(bytes(data))
    refused(path, "move it aside")
    assert path.read_bytes() == bytes(data)


def test_a_truncated_journal_is_one_line_and_kept(tmp_path):
    path = tmp_path / "journal.sqlite3"
    data = make_journal(path)
    path.write_bytes(data[: len(data) // 2])
    refused(path, "damaged", "move it aside")
    assert path.read_bytes() == data[: len(data) // 2]


def test_a_journal_damaged_mid_file_is_found_at_open_not_in_the_executor(tmp_path):
    path = tmp_path / "journal.sqlite3"
    data = bytearray(make_journal(path))
    middle = len(data) // 2
    data[middle : middle + 4096] = b"\x07" * 4096
    path.write_bytes(bytes(data))
    refused(path, "damaged")


def test_an_undecodable_record_is_one_line_when_read(tmp_path):
    path = tmp_path / "journal.sqlite3"
    make_journal(path, commands=3)
    db = sqlite3.connect(path)
    db.execute("UPDATE commands SET body = X'7B226964223A' WHERE id = 'cmd-1'")  # '{"id":' cut short
    db.execute("UPDATE state SET value = 'not json' WHERE key = 'desk'")
    db.commit()
    db.close()
    jr = j.Journal(path)
    try:
        with pytest.raises(JournalError, match="a stored record cannot be read"):
            jr.commands()
        with pytest.raises(JournalError, match="a stored record cannot be read"):
            jr.get_state("desk")
    finally:
        jr.close()


@pytest.mark.parametrize("version", [j.SCHEMA_VERSION + 1, 10_000, -5])
def test_a_journal_of_another_schema_is_one_line(tmp_path, version):
    path = tmp_path / "journal.sqlite3"
    j.Journal(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {version}")
    db.commit()
    db.close()
    text = refused(path)
    assert ("newer than this desk understands" in text) if version > 0 else ("damaged" in text)


def test_a_second_process_on_the_same_journal_is_refused_naming_the_holder(tmp_path):
    path = tmp_path / "journal.sqlite3"
    holder = Holder(path)
    try:
        text = refused(path, "in use by another process", f"pid {holder.proc.pid}", "journal.path")
        assert "-c" in text  # the holder's command line
    finally:
        holder.stop()
    j.Journal(path).close()  # free again once the holder has gone


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    path = tmp_path / "journal.sqlite3"
    holder = Holder(path)
    holder.stop(signal.SIGKILL)
    j.Journal(path).close()


def test_headless_on_a_journal_held_by_another_process_exits_1_in_one_line(tmp_path, capture_slice):
    path = tmp_path / "journal.sqlite3"
    conf = tmp_path / "settings.toml"
    conf.write_text(f'[journal]\npath = "{path}"\n')
    holder = Holder(path)
    try:
        run = cli("headless", "--config", str(conf), "--replay", str(capture_slice), "--speed", "max")
    finally:
        holder.stop()
    assert run.returncode == 1
    assert one_line_error(run).startswith(f"Journal: {path} is in use by another process (pid {holder.proc.pid}")


def test_headless_on_a_damaged_journal_exits_1_in_one_line_and_keeps_it(tmp_path, capture_slice):
    path = tmp_path / "journal.sqlite3"
    path.write_bytes(b"\x00garbage" * 1000)
    conf = tmp_path / "settings.toml"
    conf.write_text(f'[journal]\npath = "{path}"\n')
    run = cli("headless", "--config", str(conf), "--replay", str(capture_slice), "--speed", "max")
    assert run.returncode == 1
    assert "move it aside" in one_line_error(run)
    assert path.read_bytes() == b"\x00garbage" * 1000


def test_a_foreign_sqlite_lock_is_one_line_after_the_busy_timeout(tmp_path, monkeypatch):
    path = tmp_path / "journal.sqlite3"
    j.Journal(path).close()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("PRAGMA journal_mode=DELETE")  # a program that takes the whole file (not WAL)
    other.execute("BEGIN EXCLUSIVE")
    monkeypatch.setattr(j, "BUSY_TIMEOUT_MS", 200)
    try:
        refused(path, "locked by another program")
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_one_process_shares_its_journal_between_its_workers(tmp_path):
    """The router and executor of one pipeline share one Journal; the desk reads the halted flag beside it."""
    path = tmp_path / "journal.sqlite3"
    first, second = j.Journal(path), j.Journal(path)
    second.set_state("desk", {"halted": True})
    assert first.get_state("desk") == {"halted": True}
    first.close()
    holder_blocked = subprocess.run(
        [sys.executable, "-c", HOLD, str(path)], capture_output=True, text=True, input="", timeout=30, cwd=NEUTRAL_CWD
    )
    assert "in use by another process" in holder_blocked.stderr  # still held: `second` is open
    second.close()
    Holder(path).stop()  # released once the last one closed


def test_a_router_worker_process_has_its_own_journal_beside_the_executors(tmp_path):
    settings = s.parse({"journal": {"path": str(tmp_path / "journal.sqlite3")}})
    executor, router = j.journal_path(settings, "executor"), j.journal_path(settings, "router")
    assert executor == tmp_path / "journal.sqlite3" and router == tmp_path / "journal.router.sqlite3"
    assert j.journal_path(settings) == executor
    holder = Holder(executor)  # `tui-trader worker executor` on this machine
    try:
        j.Journal(router).close()  # `tui-trader worker router` beside it is not refused
    finally:
        holder.stop()


def test_journal_wal_shm_and_lock_files_are_owner_only(tmp_path):
    path = tmp_path / "journal.sqlite3"
    jr = j.Journal(path)
    jr.set_state("desk", {"halted": False})
    try:
        for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}.lock")):
            assert oct(p.stat().st_mode & 0o777) == "0o600", p
    finally:
        jr.close()


def test_a_read_only_open_reads_while_the_desk_holds_the_journal(tmp_path):
    path = tmp_path / "journal.sqlite3"
    make_journal(path, commands=5)
    holder = Holder(path)
    try:
        reader = j.Journal(path, read_only=True)
        read_everything(reader)
        assert len(reader.commands()) == 5
        reader.close()
    finally:
        holder.stop()
