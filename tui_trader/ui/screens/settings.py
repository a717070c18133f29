"""The settings screen: every section of settings.toml as a form, each field with its documentation.

One section at a time behind tabs (left/right on the tabs, or ctrl+pageup/pagedown anywhere), each built
the first time it is shown: sixty fields at once took seconds to open on a small machine.

An invalid value is marked where it was typed, with the validation message, and the form cannot be saved
until it is fixed. Saving writes settings.toml through the settings module (atomic, previous file kept as
.bak); the desk then applies the live fields at once and says which ones wait for a restart. API keys are
not settings and never appear here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Button, ContentSwitcher, Footer, Input, Label, Select, Static, Switch, Tab, Tabs

from tui_trader.settings import Settings
from tui_trader.ui import keys
from tui_trader.ui.screens.confirm import ConfirmScreen
from tui_trader.ui.screens.timed import TimedScreen
from tui_trader.ui.settings_form import (
    DESK_LIVE,
    Draft,
    FieldSpec,
    applies_live,
    choice_options,
    to_text,
    with_choices,
)
from tui_trader.ui.widgets.live_text import LiveText
from tui_trader.ui.widgets.status import AlarmBanner, HaltBanner, StatusBar
from tui_trader.ui.widgets.view import View

KEYS_NOTE = "API keys are never settings: environment or secrets file"


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
                yield Select(
                    choice_options(spec, self.value), value=str(self.value), allow_blank=False, id=wid, compact=True
                )
            else:
                yield Input(value=to_text(self.value, spec), id=wid, classes="field-input", compact=True)
        when = "applies live" if self.live else "applies after restart"
        yield Static(f"{spec.doc} ({when})", classes="field-hint", markup=False)
        yield LiveText(classes="field-error")

    def show_error(self, message: str | None) -> None:
        self.set_class(bool(message), "-invalid")
        self.query_one(".field-error", LiveText).set(f"✗ {message}" if message else "")
        widget = self.query_one(f"#{widget_id(self.spec.key)}")
        widget.set_class(bool(message), "-bad")  # not "-invalid": Input manages that class itself


class SettingsScreen(TimedScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(keys.default("settings_save"), "save", "Save", id="settings_save", priority=True),
        Binding(keys.default("settings_close"), "close", "Back", id="settings_close"),
        Binding(keys.default("settings_next"), "next_section(1)", "Next", id="settings_next", priority=True),
        Binding(keys.default("settings_previous"), "next_section(-1)", "Prev", id="settings_previous", priority=True),
    ]

    def __init__(
        self, saved: Settings, path: Path, known_themes: list[str], live_patterns: frozenset[str] = DESK_LIVE
    ) -> None:
        super().__init__(id="settings")
        self.path = path
        self.known_themes = known_themes
        self.live_patterns = live_patterns
        self.draft = Draft(saved, extra_check=self._extra_check)
        self._shown_errors: dict[str, str] = {}

    def _extra_check(self, key: str, value: Any) -> str | None:
        if key == "ui.theme" and value not in self.known_themes:
            return f"no theme named {value!r} (available: {', '.join(self.known_themes)})"
        check = getattr(self.app, "check_keys", None)
        if key.startswith("keys.") and check is not None:
            # The same check as at start: a key a text field edits with, or one another binding of the same
            # screen has, is refused where it is typed.
            wanted = {k.split(".", 1)[1]: v for k, v in self.draft.values.items() if k.startswith("keys.")}
            prefix = f"{key} = "
            for problem in check(wanted)[1]:
                if problem.startswith(prefix):
                    return problem.split(" refused: ", 1)[1].rsplit(";", 1)[0]
        return None

    def compose(self) -> ComposeResult:
        yield StatusBar(id="settings-status")
        yield HaltBanner(id="settings-halt")
        yield AlarmBanner(id="settings-alarm")
        yield Static(f"Settings · {self.path}", id="settings-title", markup=False)
        yield Tabs(*(Tab(name, id=f"tab-{name}") for name in self.sections), id="settings-tabs")
        yield ContentSwitcher(id="settings-form")
        with Horizontal(id="settings-buttons"):
            yield LiveText(KEYS_NOTE, id="settings-message")
            yield Button("Save", id="save", variant="primary", compact=True)
            yield Button("Back", id="back", compact=True)
        yield Footer(compact=True)

    @property
    def sections(self) -> list[str]:
        return list(dict.fromkeys(spec.section for spec in self.draft.specs.values()))

    async def on_mount(self) -> None:
        await self.show_section(self.sections[0], focus=True)

    async def show_section(self, section: str, focus: bool = False) -> None:
        """Show one section's fields, building them the first time."""
        switcher = self.query_one(ContentSwitcher)
        pane_id = f"section-{section}"
        if not switcher.query(f"#{pane_id}"):
            rows = [
                FieldRow(self._spec(spec), self.draft.values[key], applies_live(key, self.live_patterns))
                for key, spec in self.draft.specs.items()
                if spec.section == section
            ]
            await switcher.mount(VerticalScroll(*rows, id=pane_id, classes="settings-section"))
            for row in rows:  # errors of this section found before it was shown
                row.show_error(self.draft.errors.get(row.spec.key))
        switcher.current = pane_id
        tabs = self.query_one(Tabs)
        if tabs.active != f"tab-{section}":
            tabs.active = f"tab-{section}"
        if focus:
            self.query_one(f"#{pane_id}").query(".field-input, Switch, Select").first().focus()

    def _spec(self, spec: FieldSpec) -> FieldSpec:
        if spec.key == "ui.theme" and self.known_themes:
            return with_choices(spec, tuple(self.known_themes))
        return spec

    async def on_tabs_tab_activated(self, event: Tabs.TabActivated) -> None:
        if event.tabs.id != "settings-tabs" or event.tab is None or not event.tab.id:
            return
        # Only the tab that is active now: after two quick switches the first switch's event arrives when
        # the second tab is active, and following it would switch back, post another event, and so on for
        # ever (the screen froze when two sections were shown one right after the other).
        if event.tab.id != event.tabs.active:
            return
        await self.show_section(event.tab.id.removeprefix("tab-"))

    async def action_next_section(self, step: int) -> None:
        names = self.sections
        current = (self.query_one(Tabs).active or "").removeprefix("tab-")
        i = names.index(current) if current in names else 0
        await self.show_section(names[(i + step) % len(names)], focus=True)

    async def focus_field(self, key: str) -> Widget:
        """Show the field's section and put the keyboard on it."""
        await self.show_section(key.split(".", 1)[0])
        widget = self.query_one("#" + widget_id(key))
        widget.focus()
        return widget

    def render_view(self, view: View, replay: str = "") -> None:
        self.query_one(StatusBar).show(view, replay)
        self.query_one(HaltBanner).show(view)
        self.query_one(AlarmBanner).show(view)

    # --- editing --------------------------------------------------------------------------------------

    @staticmethod
    def _key_of(widget_id_: str | None) -> str | None:
        if not widget_id_ or not widget_id_.startswith("input-"):
            return None
        section, _, name = widget_id_[len("input-") :].partition("-")
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
        errors = self.draft.errors
        # Only rows whose message changed are touched (a keystroke should not redraw every field); rows of
        # sections not built yet get theirs when shown.
        for key in set(errors) | set(self._shown_errors):
            if errors.get(key) != self._shown_errors.get(key):
                rows = self.query("#field-" + key.replace(".", "-"))
                if rows:
                    rows.first(FieldRow).show_error(errors.get(key))
        self._shown_errors = dict(errors)
        n = len(self.draft.errors)
        changed = len(self.draft.changed())
        message = self.query_one("#settings-message", LiveText)
        if n:
            message.set(f"{n} invalid value{'s' if n > 1 else ''}: fix to save")
        elif changed:
            message.set(f"{changed} change{'s' if changed > 1 else ''} not saved")
        else:
            message.set(KEYS_NOTE)

    # --- saving ---------------------------------------------------------------------------------------

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "save":
            await self.action_save()
        else:
            self.action_close()

    async def action_save(self) -> None:
        new = self.draft.validate()
        self._show_errors()
        if new is None:
            first = next(iter(self.draft.errors))
            self.notify(
                f"Not saved: {len(self.draft.errors)} invalid value(s); first: {first}: {self.draft.errors[first]}",
                severity="error",
                title="Settings",
            )
            await self.focus_field(first)
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

        self.app.push_screen(
            ConfirmScreen(
                "Unsaved changes", "Leave the settings without saving your changes?", yes="Discard", no="Keep editing"
            ),
            answer,
        )
