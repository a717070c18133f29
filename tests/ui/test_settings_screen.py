"""The settings screen: the form from the field docs, each kind of bad value refused in place, the save
round-trip through the settings module, live fields applied at once, secrets never shown or written."""

from __future__ import annotations

from desk_helpers import SMALL, ready, records
from kit import until
from textual.widgets import Input, Select, Switch

from tui_trader import messages as m
from tui_trader import settings as settings_mod
from tui_trader.ui.screens.confirm import ConfirmScreen
from tui_trader.ui.screens.main import MainScreen
from tui_trader.ui.screens.settings import FieldRow, SettingsScreen


async def open_settings(pilot) -> SettingsScreen:
    await ready(pilot)
    await pilot.press("s")
    screen = pilot.app.screen
    assert isinstance(screen, SettingsScreen)
    return screen


async def type_into(pilot, screen: SettingsScreen, key: str, text: str) -> None:
    """Focus a field, clear it and type `text` as a trader would."""
    field = await screen.focus_field(key)
    assert isinstance(field, Input)
    await pilot.pause()
    field.action_end()
    await pilot.press(*["backspace"] * len(field.value))
    if text:
        await pilot.press(*text)
    await pilot.pause()


async def put(pilot, screen: SettingsScreen, key: str, text: str) -> None:
    """Replace a field's text in one go (what a paste does): the same Input.Changed as typing, faster."""
    field = await screen.focus_field(key)
    assert isinstance(field, Input)
    field.value = text
    await pilot.pause()


def error_of(screen: SettingsScreen, key: str) -> str:
    row = screen.query_one("#field-" + key.replace(".", "-"), FieldRow)
    return str(row.query_one(".field-error").render()) if row.has_class("-invalid") else ""


async def test_the_form_has_every_field_with_its_documentation(desk):
    app = desk()
    async with app.run_test(size=SMALL) as pilot:
        screen = await open_settings(pilot)
        docs = settings_mod.field_docs()
        for section in docs:  # every section, shown in turn
            await screen.show_section(section)
        rows = {row.spec.key: row for row in screen.query(FieldRow)}
        assert set(rows) == {f"{s}.{f}" for s, fields in docs.items() for f in fields}
        hint = str(rows["risk.cooldown_s"].query_one(".field-hint").render())
        assert docs["risk"]["cooldown_s"] in hint
        # Widgets follow the types: a switch for booleans, a list of choices for Literal fields.
        assert isinstance(screen.query_one("#input-trading-paper_trading"), Switch)
        assert isinstance(screen.query_one("#input-risk-on_opposite"), Select)
        assert "applies live" in str(rows["ui.refresh_hz"].query_one(".field-hint").render())
        assert "applies after restart" in str(rows["feed.ws_base_url"].query_one(".field-hint").render())


BAD_VALUES = [
    ("trading.leverage", "ten", "expected a whole number"),
    ("trading.leverage", "200", "<= 125"),
    ("trading.risk_per_trade", "1.5", "< 1.0"),
    ("trading.stop_loss_pct", "lots", "expected a number"),
    ("risk.cooldown_s", "-1", ">= 0"),
    ("risk.stale_after_s", "nan", "finite"),
    ("trading.symbols", "btc-usdt", "upper-case symbol"),
    ("trading.symbols", "", "length >= 1"),
    ("indicators.sma_fast", "60", "must be below indicators.sma_slow"),
    ("feed.ws_base_url", "http://example.test", "must start with ws:// or wss://"),
    ("bus.topic_prefix", "Desk 2", "lower-case letters"),
    ("ui.refresh_hz", "60", "<= 15"),
]


async def test_each_kind_of_bad_value_is_marked_in_place_and_cannot_be_saved(desk, tmp_path):
    path = tmp_path / "settings.toml"
    app = desk(settings_path=path)
    async with app.run_test(size=SMALL) as pilot:
        screen = await open_settings(pilot)
        for key, text, message in BAD_VALUES:  # each kind in turn; earlier bad values stay in the form
            case = f"{key} = {text!r}"
            await put(pilot, screen, key, text)
            assert message in error_of(screen, key), case
            assert screen.query_one("#input-" + key.replace(".", "-")).has_class("-bad"), case
        # Nothing can be saved; saving takes the trader to the first invalid field, in its section.
        await screen.focus_field("journal.path")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not path.exists(), "an invalid form was saved"
        assert app.saved_settings == settings_mod.Settings()
        assert set(screen.draft.errors) == {key for key, _, _ in BAD_VALUES}
        first = next(iter(screen.draft.errors))
        assert app.focused is not None and app.focused.id == "input-" + first.replace(".", "-")
        # Fixing a value clears its mark.
        await put(pilot, screen, "trading.leverage", "20")
        assert error_of(screen, "trading.leverage") == ""
        assert not screen.query_one("#input-trading-leverage").has_class("-bad")


async def test_a_pair_checked_together_can_be_changed_in_either_order(desk):
    app = desk()
    async with app.run_test(size=SMALL) as pilot:
        screen = await open_settings(pilot)
        await put(pilot, screen, "indicators.sma_fast", "60")
        assert "must be below" in error_of(screen, "indicators.sma_fast")
        await put(pilot, screen, "indicators.sma_slow", "100")
        assert error_of(screen, "indicators.sma_fast") == "" and error_of(screen, "indicators.sma_slow") == ""


async def test_save_round_trip_applies_live_fields_and_defers_the_rest(desk, bus, tmp_path):
    path = tmp_path / "settings.toml"
    settings_mod.save(settings_mod.Settings(), path)
    before = path.read_text()
    app = desk(settings_path=path)
    async with app.run_test(size=SMALL) as pilot:
        screen = await open_settings(pilot)
        await screen.show_section("risk")
        assert "applies live" in str(screen.query_one("#field-risk-cooldown_s .field-hint").render())
        await type_into(pilot, screen, "risk.cooldown_s", "30")
        await put(pilot, screen, "ui.refresh_hz", "5")
        (await screen.focus_field("ui.theme")).value = "desk-contrast"  # a Select of the loaded themes
        await put(pilot, screen, "feed.stale_after_s", "20")
        (await screen.focus_field("risk.on_opposite")).value = "reverse"
        (await screen.focus_field("indicators.warmup")).value = False
        await pilot.pause()
        await pilot.press("ctrl+s")
        await until(lambda: app.saved_settings != settings_mod.Settings(), "the save")

        loaded, source = settings_mod.load(path)
        assert source == path
        assert loaded == app.saved_settings
        assert (loaded.risk.cooldown_s, loaded.ui.refresh_hz, loaded.feed.stale_after_s) == (30.0, 5.0, 20.0)
        assert (loaded.risk.on_opposite, loaded.indicators.warmup) == ("reverse", False)
        assert (tmp_path / "settings.toml.bak").read_text() == before, "the previous file is kept as .bak"

        # Live: the desk's refresh rate and theme, and what the running worker reads live; the feed waits
        # for a restart.
        assert app.settings.ui.refresh_hz == 5.0 and app.settings.risk.cooldown_s == 30.0
        assert app.theme == "desk-contrast" and loaded.ui.theme == "desk-contrast"
        assert app.settings.feed.stale_after_s == 10.0
        # The workers' live fields go out as one Control for them to take; the desk's own and the restart-only
        # ones do not.
        sent: list[m.Control] = []

        async def published() -> bool:
            sent[:] = [c for c in await records(bus, m.CONTROL) if c.command == "settings"]
            return bool(sent)

        await until(published, "the settings Control on trading-control")
        [control] = sent
        assert control.settings == m.SettingsChange(values={"risk.on_opposite": "reverse", "risk.cooldown_s": 30.0})
        note = " ".join(n.message for n in app._notifications)
        assert "Applies after restart: indicators.warmup, feed.stale_after_s" in note
        assert "Applied now: risk.on_opposite, risk.cooldown_s, ui.theme, ui.refresh_hz" in note


async def test_secrets_are_never_shown_or_written(desk, tmp_path, monkeypatch):
    monkeypatch.setenv("TUI_TRADER_API_KEY", "visible-key-123")
    monkeypatch.setenv("TUI_TRADER_API_SECRET", "visible-secret-456")
    path = tmp_path / "settings.toml"
    app = desk(settings_path=path)
    async with app.run_test(size=SMALL) as pilot:
        screen = await open_settings(pilot)
        texts = [w.value for w in screen.query(Input)] + [str(s.render()) for s in screen.query(".field-hint")]
        assert not any("visible-" in t for t in texts)
        await put(pilot, screen, "risk.cooldown_s", "45")
        await pilot.press("ctrl+s")
        await until(path.exists, "the save")
    text = path.read_text()
    assert "visible-" not in text and "api_key" not in text and "api_secret" not in text


async def test_leaving_with_unsaved_changes_asks(desk):
    app = desk()
    async with app.run_test(size=SMALL) as pilot:
        screen = await open_settings(pilot)
        await put(pilot, screen, "risk.cooldown_s", "45")
        await pilot.press("escape")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert app.screen is screen
        await pilot.press("escape", "y")
        assert isinstance(app.screen, MainScreen)
        assert app.saved_settings.risk.cooldown_s == 60.0
