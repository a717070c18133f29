"""Hostile input: each module is one input class; its cases are the tests. At the end of a run that includes
this folder, a table says per class how many cases were tried and how many were handled cleanly (passed).

    pytest tests/hostile -q -p no:cacheprovider
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import pytest

_tried: Counter[str] = Counter()
_clean: Counter[str] = Counter()


def _input_class(item_module) -> str | None:
    return getattr(item_module, "INPUT_CLASS", None)


def pytest_runtest_logreport(report):
    if report.when != "call" and not (report.when == "setup" and report.outcome != "passed"):
        return
    cls = _classes.get(report.nodeid.split("::")[0])
    if cls is None or report.skipped:
        return
    _tried[cls] += 1
    if report.passed:
        _clean[cls] += 1


_classes: dict[str, str] = {}


def pytest_collection_modifyitems(items):
    for item in items:
        cls = _input_class(item.module)
        if cls is not None:
            _classes[item.nodeid.split("::")[0]] = cls


def pytest_terminal_summary(terminalreporter):
    if not _tried:
        return
    tr = terminalreporter
    tr.section("hostile input")
    tr.write_line("| input class | cases tried | handled cleanly |")
    tr.write_line("|---|---|---|")
    for cls in sorted(_tried):
        tr.write_line(f"| {cls} | {_tried[cls]} | {_clean[cls]} ({100 * _clean[cls] // _tried[cls]} %) |")
    total, clean = sum(_tried.values()), sum(_clean.values())
    tr.write_line(f"| all | {total} | {clean} ({100 * clean // total} %) |")


# --- helpers shared by the cases -------------------------------------------------------------------------


# Children run outside the checkout: `python -m`/`-c` put the working directory first on sys.path, which would
# shadow PYTHONPATH (how these cases are run against an older copy of the package to see them fail there).
NEUTRAL_CWD = tempfile.gettempdir()


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """`tui-trader ARGS` in a child process with the test's isolated XDG dirs."""
    return subprocess.run(
        [sys.executable, "-m", "tui_trader", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=NEUTRAL_CWD,
    )


def one_line_error(run: subprocess.CompletedProcess) -> str:
    """The child's stderr, checked to be one line and no traceback."""
    err = run.stderr.strip()
    assert "Traceback" not in err, err
    assert len(err.splitlines()) == 1, err
    return err


@pytest.fixture
def capture_slice(btc_capture, tmp_path) -> Path:
    """The first 3000 lines of the real BTC capture, gzipped."""
    dest = tmp_path / "btc-3000.gz"
    with gzip.open(btc_capture, "rt") as fh, gzip.open(dest, "wt") as out:
        for i, line in enumerate(fh):
            if i == 3000:
                break
            out.write(line)
    return dest
