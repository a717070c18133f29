"""The command line as a user meets it: help everywhere, clear exits, one-line errors."""

from __future__ import annotations

import itertools
import json
import logging
import os
import signal
import subprocess
import sys
import time

import pytest
from kit import closed_port

from tui_trader import logs
from tui_trader.cli import main

SUBCOMMANDS = ["headless", "worker", "ui", "record", "bench", "doctor"]
# The doctor's feed and exchange checks aimed at a closed loopback port: refused at once, where the public
# hosts would take the internet (or a resolver's timeouts) and say nothing these tests look at. `--timeout 1`
# for the same reason: the feed check retries refused connections until its timeout.
CLOSED_VENUE = '[feed]\nws_base_url = "ws://127.0.0.1:9"\n[exchange]\napi_base_url = "http://127.0.0.1:9"\n'


def cli(*args: str, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tui_trader", *args], capture_output=True, text=True, timeout=timeout, **kw
    )


@pytest.mark.parametrize("command", [[]] + [[c] for c in SUBCOMMANDS])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0
    assert "usage: tui-trader" in capsys.readouterr().out


def test_doctor_fails_when_live_trading_has_no_keys(tmp_path):
    conf = tmp_path / "s.toml"
    conf.write_text("[trading]\npaper_trading = false\n" + CLOSED_VENUE)
    run = cli("doctor", "--config", str(conf), "--timeout", "1")
    assert run.returncode == 1
    assert "[FAIL] API keys: not set" in run.stdout and "live mode needs them" in run.stdout


def test_unreachable_fluvio_is_one_clear_line_and_a_failure(tmp_path):
    conf = tmp_path / "s.toml"
    conf.write_text(
        '[bus]\nbackend = "fluvio"\nfluvio_endpoint = "127.0.0.1:9"\nconnect_timeout_s = 5\n' + CLOSED_VENUE
    )
    run = cli("headless", "--config", str(conf), "--duration", "1")
    assert run.returncode == 1
    err = run.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1
    assert "127.0.0.1:9" in err and 'bus.backend = "embedded"' in err
    doctor = cli("doctor", "--config", str(conf), "--timeout", "1")
    assert doctor.returncode == 1 and "[FAIL] bus: cannot reach the Fluvio cluster at 127.0.0.1:9" in doctor.stdout


def test_sigterm_ends_headless_within_two_seconds(tmp_path):
    # The feed points at a local port where nothing listens: the collector keeps retrying, never off-box.
    feed = f"feed.ws_base_url=ws://127.0.0.1:{closed_port()}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui_trader", "headless", "--json", "--set", feed],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        # Wait until the pipeline runs: the collector logs its first connection attempt.
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


# --- --set section.key=value ---


@pytest.fixture
def short_capture(btc_capture, tmp_path):
    """The first 6000 lines of the real BTC capture (about 1,400 trades: two minutes of market)."""
    import gzip

    out = tmp_path / "btc_head.gz"
    with gzip.open(btc_capture, "rb") as src, gzip.open(out, "wb") as dst:
        for line in itertools.islice(src, 6000):
            dst.write(line)
    return out


def _signals(run: subprocess.CompletedProcess) -> int:
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)["workers"]["indicator"]["published"]


def test_set_overrides_a_setting_for_one_run(short_capture, tmp_path):
    # With the default 1m bars two minutes of market never reach the 50 points the indicators need; with
    # tick bars every trade is a point, so the same file gives signals.
    base = ["headless", "--replay", str(short_capture), "--speed", "max", "--json"]
    assert _signals(cli(*base, cwd=tmp_path)) == 0
    assert _signals(cli(*base, "--set", "indicators.bar=tick", cwd=tmp_path)) > 0
    # Before the subcommand too, and quoted TOML values as in the file.
    assert _signals(cli("--set", 'indicators.bar="tick"', *base, cwd=tmp_path)) > 0


def test_set_before_and_after_the_subcommand_add_up():
    from tui_trader.cli import build_parser

    args = build_parser().parse_args(["--set", "trading.leverage=3", "headless", "--set", "indicators.bar=tick"])
    args.overrides = [*args.top_overrides, *args.overrides]  # as main() does
    from tui_trader.commands import apply_overrides
    from tui_trader.settings import Settings

    s = apply_overrides(Settings(), args.overrides)
    assert (s.trading.leverage, s.indicators.bar) == (3, "tick")


@pytest.mark.parametrize(
    "item, says",
    [
        ("indicators.bar=tik", "`indicators.bar`"),
        ("trading.leverage=abc", "`trading.leverage`"),
        ("risk.price_band_pct=-1", "risk.price_band_pct"),
        ("trading.levrage=3", "no setting 'levrage' in [trading]"),
        ("tradng.leverage=3", "no settings section 'tradng'"),
        ("indicators.bar", "expected section.key=value"),
    ],
)
def test_a_bad_set_is_one_line_naming_the_key_and_nothing_runs(item, says, tmp_path):
    run = cli("headless", "--set", item, "--replay", "nothing-here.gz", "--speed", "max", cwd=tmp_path)
    assert run.returncode == 1
    err = run.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("Settings: --set") and says in err


def test_doctor_checks_the_settings_with_their_overrides(tmp_path):
    run = cli("doctor", "--set", "indicators.bar=tik", cwd=tmp_path)
    assert run.returncode == 1
    assert run.stdout.splitlines()[0].startswith("[FAIL] settings: --set") and "indicators.bar" in run.stdout


def test_the_desk_runs_with_set_but_its_settings_screen_saves_the_files_values(tmp_path, monkeypatch):
    from tui_trader import settings as settings_mod
    from tui_trader.ui import app as desk_app

    conf = tmp_path / "settings.toml"
    conf.write_text('# my desk\n[indicators]\nbar = "1m"  # one-minute bars\n')
    seen = {}
    monkeypatch.setattr(desk_app, "run_desk", lambda settings, **kw: seen.update(settings=settings, **kw) or 0)
    assert main(["--config", str(conf), "--set", "indicators.bar=tick"]) == 0
    assert seen["settings"].indicators.bar == "tick"  # the run uses the override
    saved = seen["saved_settings"]
    assert saved.indicators.bar == "1m"  # what the settings screen edits and saves
    # The trader changes one other value and saves: the override does not end up in the file.
    edited = settings_mod.replace_field(saved, "trading", "leverage", 3)
    text = settings_mod.dumps(edited, conf.read_text())
    assert 'bar = "1m"  # one-minute bars' in text and "tick" not in text and "leverage = 3" in text
