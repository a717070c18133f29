"""The settings screen: every section of settings.toml as a form, each field with its documentation.

An invalid value is marked where it was typed, with the validation message, and the form cannot be saved
until it is fixed. Saving writes settings.toml through the settings module (atomic, previous file kept as
.bak); the desk then applies the live fields at once and says which ones wait for a restart. API keys are
not settings and never appear here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, Select, Static, Switch

from tui_trader.settings import Settings
from tui_trader.ui.screens.confirm import ConfirmScreen
from tui_trader.ui.settings_form import DESK_LIVE, Draft, FieldSpec, applies_live, to_text
from tui_trader.ui.widgets.base import LiveText, View
from tui_trader.ui.widgets.status import HaltBanner, StatusBar


def widget_id(key: str) -> str:
    return "input-" + key.replace(".", "-")


class FieldRow(Vertical):
    """One setting: name and input on a line, the documentation under it, the error (if any) under that."""

    def __init__(self, spec: FieldSpec, value: Any, live: bool) -> None:
        super().__init__(classes="field", id="field-" + spec.key.replace(".", "-"))
        self.spec = spec
        self.value = value
        self.live = live

    def compose(self) -> ComposeResult:
        spec = self.spec
        with Horizontal(classes="field-line"):
            yield Label(spec.name, classes="field-name")
            wid = widget_id(spec.key)
            if spec.kind == "bool":
                yield Switch(value=bool(self.value), id=wid)
            elif spec.kind == "choice":
                yield Select([(c, c) for c in spec.choices], value=str(self.value), allow_blank=False, id=wid,
                             compact=True)
            else:
                yield Input(value=to_text(self.value, spec), id=wid, classes="field-input", compact=True)
        when = "applies live" if self.live else "applies after restart"
        yield Static(f"{spec.doc} ({when})", classes="field-hint", markup=False)
        yield Static("", classes="field-error", markup=False)

    def show_error(self, message: str | None) -> None:
        self.set_class(bool(message), "-invalid")
        self.query_one(".field-error", Static).update(f"✗ {message}" if message else "")
        widget = self.query_one(f"#{widget_id(self.spec.key)}")
        widget.set_class(bool(message), "-invalid")


class SettingsScreen(Screen):
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="settings-save", priority=True),
        Binding("escape", "close", "Back", id="settings-close"),
    ]

    def __init__(self, saved: Settings, path: Path, known_themes: list[str],
                 live_patterns: frozenset[str] = DESK_LIVE) -> None:
        super().__init__(id="settings")
        self.path = path
        self.known_themes = known_themes
        self.live_patterns = live_patterns
        self.draft = Draft(saved, extra_check=self._extra_check)

    def _extra_check(self, key: str, value: Any) -> str | None:
        if key == "ui.theme" and value not in self.known_themes:
            return f"no theme named {value!r} (available: {', '.join(self.known_themes)})"
        return None

    def compose(self) -> ComposeResult:
        yield StatusBar(id="settings-status")
        yield HaltBanner(id="settings-halt")
        yield Static(f"Settings · {self.path} · API keys are not settings: they come from the environment or "
                     "the secrets file", id="settings-title", markup=False)
        with VerticalScroll(id="settings-form"):
            section = None
            for key, spec in self.draft.specs.items():
                if spec.section != section:
                    section = spec.section
                    yield Static(f"[{section}]", classes="section-title", markup=False)
                yield FieldRow(spec, self.draft.values[key], applies_live(key, self.live_patterns))
        with Horizontal(id="settings-buttons"):
            yield LiveText(id="settings-message")
            yield Button("Save (ctrl+s)", id="save", variant="primary")
            yield Button("Back (esc)", id="back")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query(".field-input, Switch, Select").first().focus()

    def render_view(self, view: View, replay: str = "") -> None:
        self.query_one(StatusBar).show(view, replay)
        self.query_one(HaltBanner).show(view)

    # --- editing --------------------------------------------------------------------------------------

    def _row(self, key: str) -> FieldRow:
        return self.query_one("#field-" + key.replace(".", "-"), FieldRow)

    @staticmethod
    def _key_of(widget_id_: str | None) -> str | None:
        if not widget_id_ or not widget_id_.startswith("input-"):
            return None
        section, _, name = widget_id_[len("input-"):].partition("-")
        return f"{section}.{name}"

    def on_input_changed(self, event: Input.Changed) -> None:
        key = self._key_of(event.input.id)
        if key is not None:
            self.draft.set_text(key, event.value)
            self._show_errors()

    def on_switch_changed(self, event: Switch.Changed) -> None:
        key = self._key_of(event.switch.id)
        if key is not None:
            self.draft.set_value(key, event.value)
            self._show_errors()

    def on_select_changed(self, event: Select.Changed) -> None:
        key = self._key_of(event.select.id)
        if key is not None and event.value is not Select.NULL:
            self.draft.set_value(key, event.value)
            self._show_errors()

    def _show_errors(self) -> None:
        for row in self.query(FieldRow):
            row.show_error(self.draft.errors.get(row.spec.key))
        n = len(self.draft.errors)
        changed = len(self.draft.changed())
        message = self.query_one("#settings-message", LiveText)
        if n:
            message.set(f"{n} invalid value{'s' if n > 1 else ''}: fix to save")
        elif changed:
            message.set(f"{changed} change{'s' if changed > 1 else ''} not saved")
        else:
            message.set("")

    # --- saving ---------------------------------------------------------------------------------------

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "save":
            self.action_save()
        else:
            self.action_close()

    def action_save(self) -> None:
        new = self.draft.validate()
        self._show_errors()
        if new is None:
            first = next(iter(self.draft.errors))
            self.notify(f"Not saved: {len(self.draft.errors)} invalid value(s); first: {first}: "
                        f"{self.draft.errors[first]}", severity="error", title="Settings")
            self.query_one("#" + widget_id(first)).focus()
            return
        if not self.draft.changed():
            self.notify("Nothing changed.", title="Settings")
            return
        self.app.save_settings(new, self.path)  # type: ignore[attr-defined]
        self.draft = Draft(new, extra_check=self._extra_check)
        self._show_errors()

    def action_close(self) -> None:
        if not self.draft.changed():
            self.dismiss()
            return

        def answer(discard: bool | None) -> None:
            if discard:
                self.dismiss()

        self.app.push_screen(ConfirmScreen("Unsaved changes", "Leave the settings without saving your changes?",
                                           yes="Discard", no="Keep editing"), answer)
