"""Themes: the shipped ones load, a broken file is reported and skipped, ui.theme picks, switching works."""

from __future__ import annotations

import logging

from desk_helpers import SMALL, ready
from kit import until

from tui_trader import paths
from tui_trader import settings as settings_mod
from tui_trader.ui.themes import load_themes, parse_theme
from tui_trader.ui.widgets.status import StatusBar

SHIPPED = paths.project_root() / "themes"


def test_the_shipped_themes_cover_dark_light_and_high_contrast():
    loaded = load_themes([SHIPPED])
    assert loaded.problems == []
    themes = loaded.themes
    assert themes["desk-dark"].dark and not themes["desk-light"].dark
    contrast = themes["desk-contrast"]
    assert (contrast.background, contrast.foreground, contrast.text_alpha) == ("#000000", "#ffffff", 1.0)


def test_a_broken_theme_is_reported_in_the_log_and_skipped(tmp_path, caplog):
    (tmp_path / "good.toml").write_text('name = "good"\nprimary = "#123456"\n')
    (tmp_path / "bad-colour.toml").write_text('name = "bad-colour"\nprimary = "not a colour"\n')
    (tmp_path / "bad-key.toml").write_text('name = "bad-key"\nprimary = "#123456"\nprimay = "#000000"\n')
    (tmp_path / "bad-toml.toml").write_text('name = "bad-toml\nprimary = \n')
    with caplog.at_level(logging.WARNING, logger="tui_trader.ui.themes"):
        loaded = load_themes([SHIPPED, tmp_path])
    assert "good" in loaded.themes and "desk-dark" in loaded.themes
    assert not {"bad-colour", "bad-key", "bad-toml"} & set(loaded.themes)
    problems = "\n".join(loaded.problems)
    assert "bad-colour.toml: primary = 'not a colour' is not a colour" in problems
    assert "bad-key.toml" in problems and "primay" in problems
    assert "bad-toml.toml: not valid TOML" in problems
    assert sum("theme skipped" in r.getMessage() for r in caplog.records) == 3


def test_a_user_theme_replaces_a_shipped_one_of_the_same_name(tmp_path):
    (tmp_path / "mine.toml").write_text('name = "desk-dark"\nprimary = "#ff00ff"\n')
    assert load_themes([SHIPPED, tmp_path]).themes["desk-dark"].primary == "#ff00ff"


def test_a_theme_names_its_problem_in_one_line():
    try:
        parse_theme('name = "Bad Name"\nprimary = "#000000"\n', "x.toml")
    except ValueError as err:
        assert "name" in str(err) and "\n" not in str(err)
    else:
        raise AssertionError("an invalid theme name was accepted")


async def test_ui_theme_picks_the_theme_and_a_broken_file_is_notified(desk, isolated_home):
    user_themes = isolated_home / "xdg_config_home" / "tui-trader" / "themes"
    user_themes.mkdir(parents=True)
    (user_themes / "broken.toml").write_text('name = "broken"\nprimary = 12\n')
    settings = settings_mod.replace_field(settings_mod.Settings(), "ui", "theme", "desk-light")
    app = desk(settings)
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        assert app.theme == "desk-light"
        await until(
            lambda: any("broken.toml" in n.message for n in app._notifications),
            "the broken theme to be reported",
        )


async def test_an_unknown_ui_theme_falls_back_and_says_so(desk):
    settings = settings_mod.replace_field(settings_mod.Settings(), "ui", "theme", "no-such-theme")
    app = desk(settings)
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        assert app.theme == "desk-dark"
        await until(
            lambda: any("no theme named 'no-such-theme'" in n.message for n in app._notifications),
            "the fallback to be reported",
        )


async def test_switching_theme_recolours_the_panes(desk):
    app = desk()
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot)
        await app.refresh_desk()
        before = app.colours()
        bar_before = app.screen.query_one(StatusBar).styles.background
        await pilot.press("t")
        await until(lambda: app.theme == "desk-contrast", "the next theme")
        await app.refresh_desk()
        assert app.colours() != before
        assert app.colours().buy.lower() == "#00ff00"
        await until(
            lambda: app.screen.query_one(StatusBar).styles.background != bar_before,
            "the status bar to take the new theme's colours",
        )
