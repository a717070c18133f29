"""Hostile settings and secrets files: every bad value or unreadable file is a SettingsError/SecretsError of
one line naming the file and the key or problem; nothing reaches the workers."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from tui_trader import settings as s
from tui_trader.errors import SecretsError, SettingsError

from .conftest import cli, one_line_error

INPUT_CLASS = "settings and secrets files"

# Every float field that had only a lower bound: `inf` passed, then overflowed in a worker.
LOWER_BOUND_ONLY = [
    "trading.max_position_size",
    "paper.starting_balance",
    "risk.stale_after_s",
    "risk.cooldown_s",
    "risk.order_timeout_s",
    "feed.stale_after_s",
    "feed.reconnect_max_s",
    "exchange.poll_s",
    "exchange.account_poll_s",
]


def write(tmp_path: Path, text: str | bytes, name: str = "settings.toml") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    return p


def refused(path: Path, *needles: str) -> str:
    with pytest.raises(SettingsError) as err:
        s.load(path)
    text = str(err.value)
    assert len(text.splitlines()) == 1 and str(path) in text
    for needle in needles:
        assert needle in text, text
    return text


@pytest.mark.parametrize("key", LOWER_BOUND_ONLY)
@pytest.mark.parametrize("value", ["inf", "+inf", "nan", "-nan", "1e300"])
def test_a_non_finite_or_absurd_number_is_refused_naming_the_key(tmp_path, key, value):
    section, name = key.split(".")
    refused(write(tmp_path, f"[{section}]\n{name} = {value}\n"), f"`{key}`")


def test_every_float_field_refuses_infinity(tmp_path):
    """Not only the listed ones: any float field, present or future, refuses inf."""
    for section, fields in s.to_dict(s.Settings()).items():
        for name, default in fields.items():
            if isinstance(default, float):
                refused(write(tmp_path, f"[{section}]\n{name} = inf\n"), f"`{section}.{name}`")


def test_a_huge_retention_is_refused(tmp_path):
    refused(write(tmp_path, "[bus]\nretention = 9223372036854775807\n"), "`bus.retention`")


def test_a_path_with_a_nul_character_is_refused(tmp_path):
    refused(write(tmp_path, '[journal]\npath = "a\\u0000b"\n'), "`journal.path`", "NUL")


def test_the_message_quotes_a_huge_value_briefly(tmp_path):
    text = refused(write(tmp_path, "[trading]\nleverage = " + "9" * 400 + "\n"), "`trading.leverage`")
    assert len(text) < 300


def test_a_settings_file_that_is_not_utf8_is_one_line(tmp_path):
    refused(write(tmp_path, b"[trading]\nsymbols = [\"BTC\xff\"]\n"), "not UTF-8")


def test_a_settings_path_that_is_a_folder_is_one_line(tmp_path):
    (tmp_path / "settings.toml").mkdir()
    refused(tmp_path / "settings.toml", "folder")


def test_a_huge_settings_file_is_refused_without_reading_it(tmp_path):
    big = tmp_path / "settings.toml"
    with open(big, "wb") as fh:
        fh.truncate(50 * 1024 * 1024)
    refused(big, "too large")


@pytest.mark.parametrize("raw", [b"", b"\n\n# only a comment\n"])
def test_an_empty_settings_file_means_the_defaults(tmp_path, raw):
    assert s.load(write(tmp_path, raw))[0] == s.Settings()


@pytest.mark.parametrize(
    "raw",
    [random.Random(13).randbytes(2000), b"\x00" * 100, b"[trading\n", b"= 1\n"],
    ids=["random bytes", "NULs", "open table", "no key"],
)
def test_random_bytes_as_settings_are_one_line(tmp_path, raw):
    with pytest.raises(SettingsError) as err:
        s.load(write(tmp_path, raw))
    assert len(str(err.value).splitlines()) == 1


def test_headless_with_inf_in_settings_exits_1_before_running(tmp_path):
    conf = write(tmp_path, "[feed]\nstale_after_s = inf\n")
    run = cli("headless", "--config", str(conf), "--speed", "max", "--json")
    assert run.returncode == 1
    assert one_line_error(run).startswith(f"Settings: {conf}: `feed.stale_after_s`")


# --- secrets ---------------------------------------------------------------------------------------------


def secrets_settings(path: Path) -> s.Settings:
    return s.parse({"exchange": {"secrets_file": str(path)}})


def secrets_refused(path: Path, *needles: str) -> None:
    with pytest.raises(SecretsError) as err:
        s.load_secrets(secrets_settings(path), env={})
    text = str(err.value)
    assert len(text.splitlines()) == 1 and str(path) in text
    for needle in needles:
        assert needle in text, text


def test_a_secrets_file_that_is_not_utf8_is_one_line(tmp_path):
    p = write(tmp_path, b'api_key = "\xff\xfe"\n', "secrets.toml")
    p.chmod(0o600)
    secrets_refused(p, "not UTF-8")


def test_a_secrets_path_that_is_a_folder_is_one_line(tmp_path):
    p = tmp_path / "secrets.toml"
    p.mkdir()
    secrets_refused(p, "folder")


def test_a_secrets_file_others_can_read_is_refused(tmp_path):
    p = write(tmp_path, 'api_key = "k"\napi_secret = "s"\n', "secrets.toml")
    p.chmod(0o644)
    secrets_refused(p, "chmod 600")


@pytest.mark.skipif(
    os.geteuid() == 0, reason="running as root: a chmod 000 file stays readable, so the refusal cannot happen"
)
def test_a_secrets_file_this_user_cannot_read_is_one_line(tmp_path):
    p = write(tmp_path, 'api_key = "k"\n', "secrets.toml")
    p.chmod(0o000)
    secrets_refused(p, "cannot read")


def test_a_secrets_file_of_random_bytes_never_shows_its_content(tmp_path):
    p = write(tmp_path, b"api_key = 'sekrit-value\n\x00\x01", "secrets.toml")
    p.chmod(0o600)
    with pytest.raises(SecretsError) as err:
        s.load_secrets(secrets_settings(p), env={})
    assert "sekrit" not in str(err.value)
