"""Settings: every validation rule names the file and key; saving is atomic and round-trips; secrets stay safe."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tui_trader import paths
from tui_trader import settings as s
from tui_trader.errors import SecretsError, SettingsError

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "settings.toml"
    p.write_text(text)
    return p


def test_repo_settings_file_is_the_documented_default():
    loaded, source = s.load(ROOT / "settings.toml")
    assert loaded == s.Settings()
    assert source == ROOT / "settings.toml"


def test_trading_keeps_the_seed_names_and_defaults():
    t = s.Settings().trading
    assert t.symbols == ["BTCUSDT", "ETHUSDT"]
    assert t.paper_trading is True
    assert (t.max_position_size, t.risk_per_trade, t.leverage) == (1000, 0.02, 10)
    assert (t.stop_loss_pct, t.take_profit_pct, t.min_signal_strength) == (0.03, 0.06, 0.65)


def test_every_section_of_design_exists_with_the_endpoint_overrides():
    assert s.SECTIONS == (
        "trading",
        "indicators",
        "risk",
        "feed",
        "exchange",
        "paper",
        "bus",
        "ui",
        "journal",
        "keys",
        "notify",
    )
    d = s.Settings()
    assert d.feed.ws_base_url == "" and d.feed.venue == ""  # the venue's own host; the venue of exchange.name
    assert d.exchange.api_base_url == ""
    assert d.journal.path == ""


def test_every_field_is_documented():
    docs = s.field_docs()
    assert set(docs) == set(s.SECTIONS)
    missing = [f"{sec}.{name}" for sec, fields in docs.items() for name, doc in fields.items() if not doc.strip()]
    assert missing == []


@pytest.mark.parametrize(
    "text, key, allowed",
    [
        ("[trading]\nleverage = 0", "trading.leverage", ">= 1"),
        ("[trading]\nleverage = 126", "trading.leverage", "<= 125"),
        ("[trading]\nstop_loss_pct = 0.0", "trading.stop_loss_pct", "> 0"),
        ("[trading]\nstop_loss_pct = 1.0", "trading.stop_loss_pct", "< 1"),
        ("[trading]\ntake_profit_pct = 1.5", "trading.take_profit_pct", "< 1"),
        ("[trading]\nrisk_per_trade = -0.1", "trading.risk_per_trade", "> 0"),
        ("[trading]\nmin_signal_strength = 1", "trading.min_signal_strength", "< 1"),
        ("[trading]\nmax_position_size = 0", "trading.max_position_size", "> 0"),
        ("[trading]\nsymbols = []", "trading.symbols", "length >= 1"),
        ('[trading]\nsymbols = ["btcusdt"]', "trading.symbols[0]", "upper-case symbol"),
        ('[trading]\nsymbols = [""]', "trading.symbols[0]", "length >= 1"),
        ('[trading]\nleverage = "10"', "trading.leverage", "expected int, got str"),
        ("[trading]\npaper_trading = 1", "trading.paper_trading", "expected bool"),
        ('[indicators]\nbar = "7x"', "indicators.bar", '"tick" or a time bar'),
        ('[indicators]\nemit = "sometimes"', "indicators.emit", "invalid enum value"),
        ('[risk]\non_opposite = "hedge"', "risk.on_opposite", "invalid enum value"),
        ('[bus]\nbackend = "kafka"', "bus.backend", "invalid enum value"),
        ("[ui]\nrefresh_hz = 30", "ui.refresh_hz", "<= 15"),
        ('[exchange]\nname = "kraken"', "exchange.name", "invalid enum value"),
    ],
)
def test_out_of_range_and_wrong_types_name_the_file_and_key(tmp_path, text, key, allowed):
    p = write(tmp_path, text)
    with pytest.raises(SettingsError) as err:
        s.load(p)
    msg = str(err.value)
    assert str(p) in msg and f"`{key}`" in msg and allowed in msg


def test_unknown_key_is_refused_with_the_allowed_keys(tmp_path):
    p = write(tmp_path, "[trading]\nlevrage = 5")
    with pytest.raises(SettingsError, match=r"unknown key `trading.levrage` \(allowed here: symbols, .*leverage"):
        s.load(p)


def test_unknown_section_is_refused(tmp_path):
    p = write(tmp_path, "[tradng]\nleverage = 5")
    with pytest.raises(SettingsError, match=r"unknown key `tradng`.*trading, indicators"):
        s.load(p)


def test_related_fields_are_checked(tmp_path):
    with pytest.raises(SettingsError, match=r"sma_fast.*must be below.*sma_slow"):
        s.load(write(tmp_path, "[indicators]\nsma_fast = 60"))
    with pytest.raises(SettingsError, match="lists a symbol twice"):
        s.load(write(tmp_path, '[trading]\nsymbols = ["BTCUSDT", "BTCUSDT"]'))
    with pytest.raises(SettingsError, match=r"feed\.ws_base_url.*ws:// or wss://"):
        s.load(write(tmp_path, '[feed]\nws_base_url = "http://x"'))
    with pytest.raises(SettingsError, match=r"exchange\.api_base_url.*http:// or https://"):
        s.load(write(tmp_path, '[exchange]\napi_base_url = "ftp://x"'))


def test_broken_toml_is_one_line_naming_the_file(tmp_path):
    p = write(tmp_path, "[trading\nleverage = 5")
    with pytest.raises(SettingsError, match=f"{p}: not valid TOML"):
        s.load(p)


def test_missing_config_file_is_reported(tmp_path):
    with pytest.raises(SettingsError, match="no such settings file"):
        s.load(tmp_path / "nope.toml")


def test_partial_file_fills_in_defaults(tmp_path):
    loaded, _ = s.load(write(tmp_path, "[trading]\nleverage = 5"))
    assert loaded.trading.leverage == 5
    assert loaded.trading.symbols == ["BTCUSDT", "ETHUSDT"]
    assert loaded.risk == s.RiskSettings()


def test_lookup_prefers_the_user_copy_then_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert s.load()[1] is None  # nothing anywhere: built-in defaults
    write(tmp_path, "[trading]\nleverage = 3")
    assert s.load()[0].trading.leverage == 3
    user = paths.user_settings_file()
    user.parent.mkdir(parents=True)
    user.write_text("[trading]\nleverage = 4")
    assert s.load()[0].trading.leverage == 4
    assert s.load(tmp_path / "settings.toml")[0].trading.leverage == 3  # --config wins


def test_save_round_trips_and_keeps_a_backup(tmp_path):
    target = tmp_path / "settings.toml"
    first = s.replace_field(s.Settings(), "trading", "leverage", 7)
    s.save(first, target)
    assert s.load(target)[0] == first
    assert not (tmp_path / "settings.toml.bak").exists()
    second = s.replace_field(first, "risk", "on_opposite", "reverse")
    s.save(second, target)
    assert s.load(target)[0] == second
    assert s.load(tmp_path / "settings.toml.bak")[0] == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["settings.toml", "settings.toml.bak"]


def test_save_is_atomic_when_writing_fails(tmp_path, monkeypatch):
    target = tmp_path / "settings.toml"
    s.save(s.Settings(), target)
    before = target.read_bytes()

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        s.save(s.replace_field(s.Settings(), "trading", "leverage", 3), target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["settings.toml"]  # no temp file left


def test_saved_file_is_plain_toml_with_every_section(tmp_path):
    target = s.save(s.Settings(), tmp_path / "out.toml")
    assert set(tomllib.loads(target.read_text())) == set(s.SECTIONS)


def test_replace_field_validates_like_a_file():
    with pytest.raises(SettingsError, match=r"trading\.leverage.*<= 125"):
        s.replace_field(s.Settings(), "trading", "leverage", 500)


def test_secrets_come_from_the_environment_first(tmp_path):
    env = {"TUI_TRADER_API_KEY": "key-1234", "TUI_TRADER_API_SECRET": "secret-5678"}
    sec = s.load_secrets(s.Settings(), env)
    assert sec.present and sec.api_key == "key-1234"
    assert "key-1234" not in repr(sec) and "secret-5678" not in str(sec)


def test_secrets_file_must_be_private(tmp_path):
    f = tmp_path / "secrets.toml"
    f.write_text('api_key = "abcd1234"\napi_secret = "efgh5678"\n')
    conf = s.replace_field(s.Settings(), "exchange", "secrets_file", str(f))
    f.chmod(0o644)
    with pytest.raises(SecretsError, match=r"permissions 0644 .*chmod 600"):
        s.load_secrets(conf, {})
    f.chmod(0o600)
    sec = s.load_secrets(conf, {})
    assert sec.present and sec.api_secret == "efgh5678"


def test_broken_secrets_file_never_echoes_its_content(tmp_path):
    f = tmp_path / "secrets.toml"
    f.write_text('api_key = "abcd1234"\nsurprise = "topsecretvalue"\n')
    f.chmod(0o600)
    conf = s.replace_field(s.Settings(), "exchange", "secrets_file", str(f))
    with pytest.raises(SecretsError) as err:
        s.load_secrets(conf, {})
    assert "topsecretvalue" not in str(err.value) and "abcd1234" not in str(err.value)


def test_no_secrets_anywhere_means_not_present():
    assert not s.load_secrets(s.Settings(), {}).present


def test_a_hand_broken_settings_file_gives_one_line_not_a_traceback(tmp_path):
    p = write(tmp_path, "[trading]\nleverage = 500\n")
    run = subprocess.run(
        [sys.executable, "-m", "tui_trader", "--config", str(p), "doctor"], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 1
    out = (run.stdout + run.stderr).strip()
    assert "Traceback" not in out
    assert len(out.splitlines()) == 1 and "trading.leverage" in out and "<= 125" in out


def test_readme_settings_table_is_current():
    readme = (ROOT / "README.md").read_text()
    assert s.markdown_table() in readme, "regenerate it: python -m tui_trader.settings"
