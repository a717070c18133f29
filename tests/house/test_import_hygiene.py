"""The headless pipeline never loads the desk's toolkit: a server running `tui-trader headless` or `worker`
imports no Textual, Rich or plotext (they cost start-up time and memory there, and may not be installed).

Each check runs in a fresh interpreter, since this test process has long imported Textual for other tests."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

DESK_TOOLKITS = ("textual", "rich", "plotext", "textual_plotext")

# Prints the desk toolkit modules loaded after running `body` (a snippet of Python), as a JSON list.
PROBE = """
import json, sys
{body}
toolkits = {toolkits!r}
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in toolkits)))
"""

HEADLESS_IMPORTS = """
import importlib, pkgutil
import tui_trader.cli, tui_trader.session, tui_trader.runtime
import tui_trader.bus, tui_trader.workers
for pkg in (tui_trader.bus, tui_trader.workers):
    for info in pkgutil.iter_modules(pkg.__path__):
        importlib.import_module(f"{pkg.__name__}.{info.name}")
for name in ("headless", "worker", "record", "doctor", "backtest", "trades", "report"):
    importlib.import_module(f"tui_trader.commands.{name}")
"""


def toolkits_loaded(body: str, cwd: Path | None = None) -> list[str]:
    # Outside the checkout: `python -c` puts the working directory first on sys.path.
    run = subprocess.run(
        [sys.executable, "-c", PROBE.format(body=body, toolkits=DESK_TOOLKITS)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd or tempfile.gettempdir(),
        env=os.environ.copy(),
    )
    assert run.returncode == 0, run.stderr
    loaded: list[str] = json.loads(run.stdout.strip().splitlines()[-1])
    return loaded


def test_the_headless_pipeline_imports_and_runs_without_the_desk_toolkit(btc_capture, tmp_path):
    """Every headless module imported, then the whole `tui-trader headless --replay` path run (1000 real
    frames through every worker): one interpreter for both, since each start costs seconds on a busy machine."""
    recording = tmp_path / "btc-1000.gz"
    with gzip.open(btc_capture, "rt") as fh, gzip.open(recording, "wt") as out:
        for i, line in enumerate(fh):
            if i == 1000:
                break
            out.write(line)
    body = HEADLESS_IMPORTS + (
        "from tui_trader import cli\n"
        f"code = cli.main(['headless', '--replay', {str(recording)!r}, '--json'])\n"
        "assert code == 0, code\n"
    )
    assert toolkits_loaded(body, cwd=tmp_path) == []


def test_the_probe_sees_a_loaded_toolkit():
    """The check above is not vacuous: a loaded toolkit is seen."""
    loaded = toolkits_loaded("import textual.app")
    assert "textual" in loaded
    assert "rich" in loaded
