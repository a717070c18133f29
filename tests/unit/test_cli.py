"""The command line as a user meets it: help everywhere, clear exits, one-line errors."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time

import pytest

from tui_trader import logs
from tui_trader.cli import main

SUBCOMMANDS = ["headless", "worker", "ui", "record", "bench", "doctor"]


def cli(*args: str, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tui_trader", *args], capture_output=True, text=True,
                          timeout=timeout, **kw)


@pytest.mark.parametrize("command", [[]] + [[c] for c in SUBCOMMANDS])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0
    assert "usage: tui-trader" in capsys.readouterr().out


def test_doctor_fails_when_live_trading_has_no_keys(tmp_path):
    conf = tmp_path / "s.toml"
    conf.write_text("[trading]\npaper_trading = false\n")
    run = cli("doctor", "--config", str(conf))
    assert run.returncode == 1
    assert "[FAIL] API keys: not set" in run.stdout and "live mode needs them" in run.stdout


def test_unreachable_fluvio_is_one_clear_line_and_a_failure(tmp_path):
    conf = tmp_path / "s.toml"
    conf.write_text('[bus]\nbackend = "fluvio"\nfluvio_endpoint = "127.0.0.1:9"\nconnect_timeout_s = 5\n')
    run = cli("headless", "--config", str(conf), "--duration", "1")
    assert run.returncode == 1
    err = run.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1
    assert "127.0.0.1:9" in err and 'bus.backend = "embedded"' in err
    doctor = cli("doctor", "--config", str(conf))
    assert doctor.returncode == 1 and "[FAIL] bus: cannot reach the Fluvio cluster at 127.0.0.1:9" in doctor.stdout


def test_sigterm_ends_headless_within_two_seconds(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "tui_trader", "headless", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        # Wait until the pipeline runs: the collector logs its first connection attempt (there is no
        # exchange to reach here, so it keeps retrying until stopped).
        log_file = logs.paths.log_file()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (log_file.exists() and "connecting" in log_file.read_text()):
            time.sleep(0.05)
        assert "connecting" in log_file.read_text()
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
        assert time.monotonic() - sent < 2.0
    finally:
        proc.kill() if proc.poll() is None else None
    # No exchange to reach: the run stopped cleanly, but processed nothing, and says so (exit 3).
    assert proc.returncode == 3, err
    assert json.loads(out)["problems"][0]["code"] == "nothing_processed"
    assert "Task was destroyed" not in err and "Traceback" not in err


def test_log_lines_never_carry_a_secret(tmp_path):
    log_file = logs.setup(tmp_path / "x.log")
    logs.REDACT.add("sk-very-secret-value")
    try:
        logging.getLogger("test").warning("auth failed with key %s", "sk-very-secret-value")
        try:
            raise ValueError("signature sk-very-secret-value rejected")
        except ValueError:
            logging.getLogger("test").exception("boom")
        for h in logging.getLogger().handlers:
            h.flush()
        text = log_file.read_text()
        assert "sk-very-secret-value" not in text
        assert "auth failed with key ***" in text and "ValueError: signature *** rejected" in text
    finally:
        logs.REDACT.secrets.clear()
        for h in list(logging.getLogger().handlers):
            logging.getLogger().removeHandler(h)
            h.close()


@pytest.mark.parametrize("command", [["worker", "router"], ["ui", "--attach"]])
def test_commands_that_spread_the_desk_need_fluvio_and_say_so(command, tmp_path):
    run = cli(*command, "--config", os.path.join(os.path.dirname(__file__), "..", "..", "settings.toml"))
    assert run.returncode == 1
    assert "Traceback" not in run.stderr and 'set bus.backend = "fluvio"' in run.stderr
