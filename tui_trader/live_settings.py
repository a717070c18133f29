"""Settings that change while the pipeline runs: which fields a worker takes live, the change a desk sends
when it saves settings, and taking that change into running settings. Pure: no bus, no files.

A worker that reads `ctx.settings` each time it decides names the fields it takes live in a class attribute
`live_settings` (patterns: "risk.*" for a whole section, or one dotted key). The desk that saved the file
publishes the changed values as one Control (command "settings", `Control.settings`); the runtime of every
process running workers takes from it the fields its workers declare, so an attached desk changes remote
workers exactly as the in-process desk changes its own. Every other field keeps its running value until a
restart reads the file.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tui_trader import messages as m
from tui_trader import settings as settings_mod
from tui_trader.settings import Settings


def applies_live(key: str, patterns: Iterable[str]) -> bool:
    """Whether the dotted `key` is one of `patterns` ("section.*" covers a whole section)."""
    patterns = frozenset(patterns)
    return key in patterns or f"{key.split('.', 1)[0]}.*" in patterns


def patterns_of(workers: Iterable[Any]) -> frozenset[str]:
    """The fields the given workers (or worker classes) declare they read live."""
    out: set[str] = set()
    for w in workers:
        out.update(getattr(w, "live_settings", ()))
    return frozenset(out)


def changed_keys(old: Settings, new: Settings) -> list[str]:
    """Dotted keys whose value differs, in settings.toml's order."""
    a, b = settings_mod.to_dict(old), settings_mod.to_dict(new)
    return [f"{sec}.{name}" for sec in b for name in b[sec] if a[sec][name] != b[sec][name]]


def change_between(old: Settings, new: Settings, patterns: Iterable[str] | None = None) -> m.SettingsChange:
    """The values of `new` that differ from `old` (only those matching `patterns`, when given)."""
    fresh = settings_mod.to_dict(new)
    values: dict[str, m.SettingValue] = {}
    for key in changed_keys(old, new):
        if patterns is None or applies_live(key, patterns):
            sec, name = key.split(".", 1)
            values[key] = fresh[sec][name]
    return m.SettingsChange(values=values)


def apply(running: Settings, change: m.SettingsChange, patterns: Iterable[str]) -> tuple[Settings, list[str]]:
    """`running` with the values of `change` that match `patterns`, and the keys that changed. Validated as
    settings.toml is: raises SettingsError naming the key, and then nothing is taken."""
    data = settings_mod.to_dict(running)
    taken = []
    for key, value in change.values.items():
        sec, _, name = key.partition(".")
        if not applies_live(key, patterns) or sec not in data or name not in data[sec]:
            continue
        if data[sec][name] != value:
            data[sec][name] = value
            taken.append(key)
    if not taken:
        return running, []
    return settings_mod.parse(data, "settings change"), taken


def merge(running: Settings, new: Settings, patterns: Iterable[str]) -> Settings:
    """`running` with the live fields taken from `new` (restart-only fields keep their running values)."""
    return apply(running, change_between(running, new), patterns)[0]
