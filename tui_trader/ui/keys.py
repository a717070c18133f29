"""The desk's key bindings: defaults from the `[keys]` settings section, and the check a remap must pass.

Why a check: the kill switch is a priority binding, so it fires over a focused text field. Bound to a key a
text field uses (ctrl+k is readline's "kill to end of line"), it halted the desk while the trader typed. So a
key is refused for any binding when a text field uses it for editing (Textual's own Input and TextArea
bindings, the readline keys traders type out of habit, the tmux and screen prefixes ctrl+b and ctrl+a, and
Textual's tab / ctrl+c / ctrl+q); a priority binding may not take a key that types a character either; and
two bindings active on the same screen may not share a key. A refused remap keeps the binding's default.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import msgspec
from textual.binding import Binding
from textual.keys import Keys, _normalize_key_list, key_to_character
from textual.screen import Screen
from textual.widgets import Input, TextArea

from tui_trader import settings as settings_mod

DEFAULTS: dict[str, str] = msgspec.to_builtins(settings_mod.KeySettings())

# Readline and emacs editing keys not bound by Textual's Input but typed from habit in any text field.
READLINE = (
    "ctrl+a",
    "ctrl+b",
    "ctrl+d",
    "ctrl+e",
    "ctrl+f",
    "ctrl+h",
    "ctrl+k",
    "ctrl+n",
    "ctrl+p",
    "ctrl+t",
    "ctrl+u",
    "ctrl+w",
    "ctrl+y",
    "ctrl+underscore",
    "alt+b",
    "alt+d",
    "alt+f",
    "alt+backspace",
)
# Keys a terminal, a multiplexer or Textual itself takes: tmux's prefix ctrl+b, screen's ctrl+a, suspend,
# focus movement, Textual's copy and quit; enter and escape are what ctrl+m / ctrl+[ send.
TERMINAL = (
    "ctrl+a",
    "ctrl+b",
    "ctrl+z",
    "ctrl+c",
    "ctrl+q",
    "tab",
    "shift+tab",
    "ctrl+i",
    "ctrl+m",
    "ctrl+j",
    "enter",
    "space",
    "backspace",
)
MODIFIERS = ("ctrl", "shift", "alt", "meta", "super", "hyper")
_NAMED = {k.value for k in Keys}


def _binding_keys(bindings: Iterable[Binding | tuple]) -> set[str]:
    out: set[str] = set()
    for b in bindings:
        key = b.key if isinstance(b, Binding) else b[0]
        out.update(k.strip() for k in key.split(","))
    return out


EDITING_KEYS: frozenset[str] = frozenset(
    _binding_keys(Input.BINDINGS)
    | _binding_keys(TextArea.BINDINGS)
    | set(READLINE)
    | set(TERMINAL)
    | _binding_keys(Screen.BINDINGS)
)


def default(binding_id: str) -> str:
    """The default key(s) of a binding (the `[keys]` section's default)."""
    return DEFAULTS[binding_id]


@dataclass(frozen=True)
class Scope:
    """Bindings active together: the app's own (on every screen) plus one screen's."""

    name: str  # how the trader knows the screen ("the main screen")
    bindings: tuple[Binding, ...]


def split(keys: str) -> list[str]:
    """Textual's normal form of a comma-separated key list ("?" becomes "question_mark")."""
    return [k.strip() for k in _normalize_key_list(keys).split(",") if k.strip()]


def key_problem(key: str, priority: bool) -> str | None:
    """Why one key cannot be bound (None when it can)."""
    *mods, name = key.split("+")
    if any(mod not in MODIFIERS for mod in mods) or not name:
        return f"{key} is not a key name (modifiers: {', '.join(MODIFIERS)})"
    if len(name) != 1 and key not in _NAMED and name not in _NAMED and key_to_character(name) is None:
        return f"{key} is not a key name Textual knows"
    if key in EDITING_KEYS:
        return f"{key} is an editing key of text fields (or the terminal's)"
    character = key_to_character(key)
    if priority and character is not None and character.isprintable():
        return f"{key} types a character into text fields, and this binding works over them"
    return None


def check(
    wanted: Mapping[str, str], app: Iterable[Binding], scopes: Iterable[Scope]
) -> tuple[dict[str, str], list[str]]:
    """The remaps of `wanted` ({binding id: keys}) that can be applied, and one line per refused one.

    Only ids that differ from their default are remaps. Two remaps may swap keys; a remap that collides
    with a binding active on the same screen is refused (the one the trader changed, not the default)."""
    app = tuple(app)
    scopes = tuple(scopes)
    by_id: dict[str, Binding] = {}
    for b in (*app, *(b for s in scopes for b in s.bindings)):
        if b.id:
            by_id.setdefault(b.id, b)
    problems: list[str] = []
    remaps: dict[str, list[str]] = {}
    for bid, keys in wanted.items():
        binding = by_id.get(bid)
        if binding is None:
            continue
        keys_list = split(keys)
        if keys_list == split(binding.key):
            continue
        if not keys_list:
            problems.append(_refused(bid, keys, "no key given", binding))
            continue
        bad = next((p for p in (key_problem(k, binding.priority) for k in keys_list) if p), None)
        if bad:
            problems.append(_refused(bid, keys, bad, binding))
            continue
        remaps[bid] = keys_list
    # Collisions: drop a colliding remap and look again, until every screen's keys are unique.
    while True:
        clash = _first_clash(remaps, app, scopes)
        if clash is None:
            break
        bid, key, other, where = clash
        problems.append(_refused(bid, wanted[bid], f"{key} is already {other}'s key on {where}", by_id[bid]))
        del remaps[bid]
    return {bid: ",".join(keys) for bid, keys in remaps.items()}, problems


def _first_clash(
    remaps: dict[str, list[str]], app: tuple[Binding, ...], scopes: tuple[Scope, ...]
) -> tuple[str, str, str, str] | None:
    for scope in scopes:
        owner: dict[str, str] = {}
        for b in (*app, *scope.bindings):
            if not b.id:
                continue
            for key in remaps.get(b.id) or split(b.key):
                other = owner.get(key)
                if other is not None and other != b.id:
                    # Report against the remapped one of the two (a default never moves by itself).
                    if b.id in remaps:
                        return b.id, key, other, scope.name
                    return other, key, b.id, scope.name
                owner[key] = b.id
    return None


def _refused(bid: str, keys: str, why: str, binding: Binding) -> str:
    return f'keys.{bid} = "{keys}" refused: {why}; {bid} stays on {binding.key}'


def effective(remaps: Mapping[str, str], bindings: Iterable[Binding]) -> dict[str, list[str]]:
    """{binding id: the keys it answers to now}."""
    out: dict[str, list[str]] = {}
    for b in bindings:
        if b.id and b.id not in out:
            out[b.id] = split(remaps.get(b.id, b.key))
    return out
