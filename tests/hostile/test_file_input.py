"""Hostile files given to headless, record and the log: each fails with one line naming the file and what is
wrong, and a run that read nothing usable exits non-zero (3) with the reason in its JSON summary."""

from __future__ import annotations

import gzip
import json
import os
import zlib
from pathlib import Path

import pytest

from tui_trader.errors import FeedError
from tui_trader.feeds.replay import check_readable

from .conftest import cli, one_line_error

INPUT_CLASS = "replay, tap, record and log files"


def _empty(p: Path) -> None:
    p.write_bytes(b"")


def _empty_gzip(p: Path) -> None:
    p.write_bytes(gzip.compress(b""))


def _random_gz(p: Path) -> None:
    p.write_bytes(bytes(b ^ 0x5A for b in os.urandom(8192)).replace(b"\x1f\x8b", b"xx"))


def _random_with_gzip_magic(p: Path) -> None:
    p.write_bytes(b"\x1f\x8b" + os.urandom(8192))


def _text(p: Path) -> None:
    p.write_text("this is not a recording\n" * 50)


def _folder(p: Path) -> None:
    p.mkdir()


def _gzip_of_garbage_lines(p: Path) -> None:
    p.write_bytes(gzip.compress(b"not-a-time {\"a\":1}\n" * 100))


UNREADABLE = {
    "empty file": (_empty, "is empty"),
    "empty gzip": (_empty_gzip, "gzip file with nothing in it"),
    "random bytes named .gz": (_random_gz, "holds no frame"),
    "random bytes with the gzip magic": (_random_with_gzip_magic, "not a readable gzip file"),
    "a text file": (_text, "holds no frame"),
    "a folder": (_folder, "folder"),
    "a gzip of lines without a receive time": (_gzip_of_garbage_lines, "holds no frame"),
}


@pytest.mark.parametrize("case", list(UNREADABLE))
def test_an_unreadable_recording_is_refused_before_the_run(tmp_path, case):
    make, reason = UNREADABLE[case]
    path = tmp_path / "rec.gz"
    make(path)
    with pytest.raises(FeedError) as err:
        check_readable([str(path)])
    assert reason in str(err.value) and str(path) in str(err.value)


@pytest.mark.parametrize("case", ["empty file", "empty gzip", "random bytes named .gz", "a folder"])
def test_headless_on_an_unreadable_recording_exits_3_and_says_why(tmp_path, case):
    make, reason = UNREADABLE[case]
    path = tmp_path / "rec.gz"
    make(path)
    run = cli("headless", "--replay", str(path), "--speed", "max", "--json")
    assert run.returncode == 3
    assert reason in one_line_error(run)
    summary = json.loads(run.stdout)
    assert summary["exit_code"] == 3 and summary["problems"][0]["code"] == "input_unreadable"


def test_a_missing_recording_among_good_ones_is_named(tmp_path, capture_slice):
    with pytest.raises(FeedError, match=r"missing\.gz"):
        check_readable([str(capture_slice), str(tmp_path / "missing.gz")])


def test_a_recording_with_no_frame_of_a_traded_symbol_is_nothing_processed(tmp_path, capture_slice):
    other = tmp_path / "xrp.gz"
    with gzip.open(capture_slice, "rt") as fh, gzip.open(other, "wt") as out:
        out.write(fh.read().replace("btcusdt", "xrpusdt").replace("BTCUSDT", "XRPUSDT"))
    run = cli("headless", "--replay", str(other), "--speed", "max", "--json")
    assert run.returncode == 3, run.stderr
    summary = json.loads(run.stdout)
    assert [p["code"] for p in summary["problems"]] == ["nothing_processed"]
    assert summary["messages_read"] == 3000
    assert "nothing_processed" in run.stderr


def test_a_recording_corrupt_part_way_plays_up_to_the_damage_and_exits_3(tmp_path, capture_slice):
    raw = gzip.decompress(capture_slice.read_bytes())
    comp = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    data = bytearray(comp.compress(raw) + comp.flush())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)  # zeros inside the deflate stream
    damaged = tmp_path / "damaged.gz"
    damaged.write_bytes(bytes(data))
    run = cli("headless", "--replay", str(damaged), "--speed", "max", "--json")
    summary = json.loads(run.stdout)
    assert run.returncode == 3, run.stderr
    assert "input_damaged" in [p["code"] for p in summary["problems"]]
    assert 0 < summary["messages_read"] < 3000


def test_a_good_recording_exits_0_with_no_problems(capture_slice):
    run = cli("headless", "--replay", str(capture_slice), "--speed", "max", "--json")
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["problems"] == [] and summary["exit_code"] == 0


def test_a_tap_path_that_is_a_file_is_one_line(tmp_path, capture_slice):
    tap = tmp_path / "tap"
    tap.write_text("")
    run = cli("headless", "--replay", str(capture_slice), "--speed", "max", "--tap", str(tap))
    assert run.returncode == 1
    assert one_line_error(run).startswith("Tap: ") and str(tap) in run.stderr


def test_a_tap_file_that_cannot_be_written_is_one_line(tmp_path, capture_slice):
    tap = tmp_path / "tap"
    (tap / "trading-signals.jsonl").mkdir(parents=True)
    run = cli("headless", "--replay", str(capture_slice), "--speed", "max", "--tap", str(tap))
    assert run.returncode == 1
    assert "trading-signals.jsonl" in one_line_error(run)


def test_record_into_a_folder_is_one_line(tmp_path):
    out = tmp_path / "out.gz"
    out.mkdir()
    run = cli("record", "--out", str(out), "--duration", "1")
    assert run.returncode == 1
    assert one_line_error(run).startswith("Feed: cannot write recording")


def test_an_unwritable_log_location_is_one_line(tmp_path, capture_slice):
    blocker = tmp_path / "state"
    blocker.write_text("a file where the log folder should be")
    run = cli("headless", "--replay", str(capture_slice), "--speed", "max", env={"XDG_STATE_HOME": str(blocker)})
    assert run.returncode == 1
    assert one_line_error(run).startswith("Log: cannot write the log file")


def test_log_files_are_created_owner_only(tmp_path):
    import logging

    from tui_trader import logs

    file = tmp_path / "logs" / "desk.log"
    logs.setup(file)
    try:
        logging.getLogger("hostile").warning("one line")
        logging.getLogger().handlers[0].doRollover()  # type: ignore[attr-defined]
        logging.getLogger("hostile").warning("after the rotation")
        assert oct(file.stat().st_mode & 0o777) == "0o600"
        assert oct(Path(f"{file}.1").stat().st_mode & 0o777) == "0o600"
    finally:
        for h in list(logging.getLogger().handlers):
            logging.getLogger().removeHandler(h)
            h.close()
