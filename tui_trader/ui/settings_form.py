"""The settings form's logic, without Textual: which fields there are, how their text becomes a value, how a
draft is validated, and which changes apply to the running desk at once.

Every field comes from the settings Structs (msgspec.inspect) with its documentation from
`settings.field_docs()`, so a field added to settings.py appears in the form by itself. Validation goes
through `settings.replace_field`, the same code that checks settings.toml when it loads, so the form can
never save a file the desk would refuse to start with.

Applies live: the desk applies `ui.*` and `keys.*` itself; the workers take the fields they declare in
`live_settings` from the Control the desk publishes on save (tui_trader/live_settings.py). Every other field
keeps its running value until a restart, although the file already has the new one, and the form says so
beside the field.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from tui_trader import live_settings
from tui_trader import settings as settings_mod
from tui_trader.errors import SettingsError
from tui_trader.settings import Settings
from tui_trader.workers import WORKERS, worker_class

Kind = Literal["bool", "choice", "int", "float", "str", "list"]

# What the desk itself applies at once (theme, refresh rate, key bindings). Sections listed with "*" apply whole.
DESK_LIVE = frozenset({"ui.*", "keys.*"})


def applies_live(key: str, patterns: frozenset[str] = DESK_LIVE) -> bool:
    return live_settings.applies_live(key, patterns)


def live_patterns() -> frozenset[str]:
    """Fields a save applies at once: the desk's own, and those any pipeline worker declares it reads live
    (wherever the workers run, the desk cannot know which of them run: it names what they can take)."""
    return DESK_LIVE | live_settings.patterns_of(worker_class(name) for name in WORKERS)


@dataclass(frozen=True)
class FieldSpec:
    section: str
    name: str
    doc: str
    kind: Kind
    choices: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.section}.{self.name}"


# Fields whose type is a pattern, not a Literal, but whose useful values are few: offered as a Select (the
# value a file already holds stays among the choices even when it is not one of these).
SUGGESTED: dict[str, tuple[str, ...]] = {
    "indicators.bar": ("tick", "1s", "5s", "15s", "30s", "1m", "3m", "5m", "15m", "30m", "1h", "4h"),
}


def field_specs() -> list[FieldSpec]:
    """Every field of every section, in settings.toml's order."""
    docs = settings_mod.field_docs()
    out = []
    settings_info = msgspec.inspect.type_info(Settings)
    assert isinstance(settings_info, msgspec.inspect.StructType)
    for sec in settings_info.fields:
        assert isinstance(sec.type, msgspec.inspect.StructType)  # every field of Settings is a section Struct
        section_info = msgspec.inspect.type_info(sec.type.cls)
        assert isinstance(section_info, msgspec.inspect.StructType)
        for f in section_info.fields:
            kind, choices = _kind(f.type)
            if f"{sec.name}.{f.name}" in SUGGESTED:
                kind, choices = "choice", SUGGESTED[f"{sec.name}.{f.name}"]
            out.append(FieldSpec(sec.name, f.name, docs[sec.name][f.name], kind, choices))
    return out


def with_choices(spec: FieldSpec, choices: tuple[str, ...]) -> FieldSpec:
    """A text field offered as a Select of `choices` known only at run time (ui.theme: the loaded themes)."""
    return FieldSpec(spec.section, spec.name, spec.doc, "choice", choices)


def choice_options(spec: FieldSpec, value: Any) -> list[tuple[str, str]]:
    """(label, value) pairs for a choice field's Select: its choices, plus the current value if it is not one
    of them (a bar of "2m" written by hand), so opening the form never changes a value by itself."""
    values = list(spec.choices)
    if str(value) not in values:
        values.append(str(value))
    return [(v if v else "(default)", v) for v in values]


def _kind(t: Any) -> tuple[Kind, tuple[str, ...]]:
    i = msgspec.inspect
    while isinstance(t, i.Metadata):  # Annotated[..., Meta(...)]: the type is inside
        t = t.type
    if isinstance(t, i.BoolType):
        return "bool", ()
    if isinstance(t, i.LiteralType):
        return "choice", tuple(str(v) for v in t.values)
    if isinstance(t, i.IntType):
        return "int", ()
    if isinstance(t, i.FloatType):
        return "float", ()
    if isinstance(t, i.ListType):
        return "list", ()
    return "str", ()


def to_text(value: Any, spec: FieldSpec) -> str:
    if spec.kind == "list":
        return ", ".join(str(v) for v in value)
    if spec.kind == "bool":
        return "true" if value else "false"
    return str(value)


def from_text(text: str, spec: FieldSpec) -> Any:
    """The typed value of a field's text, or ValueError saying what was expected."""
    text = text.strip()
    if spec.kind == "int":
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"expected a whole number (got {text!r})") from None
    if spec.kind == "float":
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"expected a number (got {text!r})") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"expected a finite number (got {text!r})")
        return value
    if spec.kind == "list":
        return [part for part in re.split(r"[,\s]+", text) if part]
    if spec.kind == "bool":
        if text.lower() in ("true", "yes", "on", "1"):
            return True
        if text.lower() in ("false", "no", "off", "0"):
            return False
        raise ValueError(f"expected true or false (got {text!r})")
    return text


def clean_message(err: SettingsError, key: str) -> str:
    """The validation message without the file and key prefix (it is shown beside the field)."""
    text = err.message
    text = re.sub(r"^settings: ", "", text)
    text = re.sub(rf"^`{re.escape(key)}`: ", "", text)
    return text.replace("`", "")


class Draft:
    """The form's values against the saved settings: conversion and validation errors per field."""

    def __init__(self, saved: Settings, extra_check: Callable[[str, Any], str | None] | None = None) -> None:
        self.saved = saved
        self.specs = {s.key: s for s in field_specs()}
        saved_dict = settings_mod.to_dict(saved)
        self.values: dict[str, Any] = {k: saved_dict[s.section][s.name] for k, s in self.specs.items()}
        self._saved_values = dict(self.values)
        self.texts: dict[str, str] = {}  # text of fields whose text did not convert
        self.errors: dict[str, str] = {}
        self.extra_check = extra_check
        self.result: Settings | None = saved

    def set_text(self, key: str, text: str) -> None:
        spec = self.specs[key]
        try:
            self.values[key] = from_text(text, spec)
            self.texts.pop(key, None)
        except ValueError as err:
            self.texts[key] = str(err)
        self.validate()

    def set_value(self, key: str, value: Any) -> None:
        self.values[key] = value
        self.texts.pop(key, None)
        self.validate()

    def changed(self) -> list[str]:
        return [k for k, v in self.values.items() if v != self._saved_values[k] or k in self.texts]

    def validate(self) -> Settings | None:
        """Recompute every field's error; returns the new Settings when the whole draft is valid."""
        errors = dict(self.texts)
        base = self.saved
        pending = [k for k in self.changed() if k not in errors]
        # Two passes: a pair of fields checked against each other (sma_fast < sma_slow) may only be valid
        # once both new values are in.
        for _ in range(2):
            failed: dict[str, str] = {}
            for key in pending:
                spec = self.specs[key]
                try:
                    base = settings_mod.replace_field(base, spec.section, spec.name, self.values[key])
                except SettingsError as err:
                    failed[key] = clean_message(err, key)
            pending = list(failed)
            if not failed:
                break
        errors.update(failed)
        if self.extra_check is not None:
            for key in self.changed():
                if key not in errors:
                    problem = self.extra_check(key, self.values[key])
                    if problem:
                        errors[key] = problem
        self.errors = errors
        self.result = None if errors else base
        return self.result
