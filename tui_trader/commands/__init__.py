"""One module per CLI subcommand; each exposes `run(args) -> int` (the exit code)."""

from __future__ import annotations

import argparse
from pathlib import Path

from tui_trader import settings as settings_mod
from tui_trader.errors import BusError, SettingsError
from tui_trader.settings import Settings


def load_settings(args: argparse.Namespace) -> tuple[Settings, Path | None]:
    """The settings file (`--config`), then every `--set section.key=value` of the command line on top."""
    settings, path = settings_mod.load(getattr(args, "config", None))
    return apply_overrides(settings, getattr(args, "overrides", None) or []), path


def apply_overrides(settings: Settings, items: list[str]) -> Settings:
    """`section.key=value` pairs (the value in TOML syntax; a bare word is a string), validated like the file:
    a bad one fails the run with one line naming the item and the key, before anything starts."""
    import tomllib

    if not items:
        return settings
    data = settings_mod.to_dict(settings)
    for item in items:
        key, sep, raw = item.partition("=")
        section, dot, name = key.strip().partition(".")
        name = name.strip()
        if not sep or not dot or not section or not name:
            raise SettingsError(f"--set {item!r}: expected section.key=value (e.g. indicators.bar=tick)")
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw.strip()  # a bare word: `--set indicators.bar=5s`
        if section not in data:
            raise SettingsError(f"--set {item!r}: no settings section {section!r} (sections: {', '.join(data)})")
        if name not in data[section]:
            raise SettingsError(f"--set {item!r}: no setting {name!r} in [{section}]")
        data[section][name] = value
    return settings_mod.parse(data, "--set")


def require_shared_bus(settings: Settings, what: str, instead: str) -> None:
    """Commands that spread the desk over processes need Fluvio: say so in one line otherwise."""
    if settings.bus.backend != "fluvio":
        raise BusError(
            f'{what} needs a shared bus: set bus.backend = "fluvio" (the embedded bus lives inside one '
            f"process; run {instead} instead)"
        )
