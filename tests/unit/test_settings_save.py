"""Saving settings keeps the trader's file: comments, order, layout, permission bits; only changed values move."""

from __future__ import annotations

import os
import stat

from tui_trader import settings as s

COMMENTED = """\
# My desk. Tuned on 2026-11-30: keep leverage low until the stop distances are re-tested.

[trading]
symbols = [ "BTCUSDT",  "ETHUSDT" ]   # ETH added for the weekend
leverage   = 3          # was 5; see the note above
risk_per_trade = 0.01

# Bars: 1m is what I watch; tick is for the offline demo.
[indicators]
bar = '1m'

[ui]
refresh_hz = 10.0  # SSH from the train: slower is kinder
"""


def test_a_save_keeps_a_commented_file_byte_identical_apart_from_the_changed_value(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text(COMMENTED)
    loaded, _ = s.load(path)

    s.save(s.replace_field(loaded, "trading", "leverage", 4), path)

    assert path.read_text() == COMMENTED.replace("leverage   = 3 ", "leverage   = 4 ")
    assert s.load(path)[0].trading.leverage == 4  # the strict loader still reads it


def test_saving_unchanged_settings_leaves_the_file_as_it_was(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text(COMMENTED)
    s.save(s.load(path)[0], path)
    assert path.read_text() == COMMENTED
    assert (tmp_path / "settings.toml.bak").read_text() == COMMENTED


def test_a_value_the_file_left_to_its_default_is_added_to_its_section_and_a_new_section_at_the_end(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text(COMMENTED)
    loaded, _ = s.load(path)
    new = s.replace_field(
        s.replace_field(loaded, "trading", "stop_loss_pct", 0.04),
        "risk",
        "max_open_positions",
        loaded.risk.max_open_positions + 1,
    )

    s.save(new, path)

    text = path.read_text()
    assert text.startswith(
        COMMENTED.split("# Bars")[0]
        .rstrip("\n")
        .replace("risk_per_trade = 0.01", "risk_per_trade = 0.01\nstop_loss_pct = 0.04")
    )
    assert "# Bars: 1m is what I watch" in text and "# SSH from the train" in text
    assert text.rstrip().endswith(f"[risk]\nmax_open_positions = {loaded.risk.max_open_positions + 1}")
    assert s.load(path)[0] == new


def test_a_choice_field_keeps_its_quoting_style_only_where_unchanged(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text(COMMENTED)
    s.save(s.replace_field(s.load(path)[0], "indicators", "bar", "tick"), path)
    assert path.read_text() == COMMENTED.replace("bar = '1m'", 'bar = "tick"')


def test_a_save_keeps_the_file_mode(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text(COMMENTED)
    os.chmod(path, 0o640)
    s.save(s.replace_field(s.load(path)[0], "trading", "leverage", 2), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_a_save_through_a_symlink_writes_the_file_it_points_to(tmp_path):
    real = tmp_path / "dotfiles" / "settings.toml"
    real.parent.mkdir()
    real.write_text(COMMENTED)
    link = tmp_path / "settings.toml"
    link.symlink_to(real)
    s.save(s.replace_field(s.load(link)[0], "trading", "leverage", 2), link)
    assert link.is_symlink()
    assert s.load(real)[0].trading.leverage == 2


def test_a_new_file_holds_every_section_and_loads(tmp_path):
    path = tmp_path / "new" / "settings.toml"
    s.save(s.Settings(), path)
    assert s.load(path)[0] == s.Settings()
    assert stat.S_IMODE(path.stat().st_mode) & 0o600 == 0o600
