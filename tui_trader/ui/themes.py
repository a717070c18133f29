"""Desk themes: `themes/*.toml` files read into Textual themes.

A theme file names its colours (any CSS colour Textual parses: "#0d1117", "rgb(…)", "ansi_red") and may add
CSS variables. A file that cannot be read, has an unknown key or a colour that does not parse is reported
(one line naming the file and the problem) and skipped; the others still load. A theme in the user's
config folder replaces a built-in one of the same name.
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import msgspec
from textual.color import Color, ColorParseError
from textual.theme import Theme

log = logging.getLogger(__name__)

DEFAULT_THEME = "desk-dark"
_COLOURS = (
    "primary",
    "secondary",
    "warning",
    "error",
    "success",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
)


class ThemeFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    name: Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    dark: bool = True
    primary: str
    secondary: str | None = None
    warning: str | None = None
    error: str | None = None
    success: str | None = None
    accent: str | None = None
    foreground: str | None = None
    background: str | None = None
    surface: str | None = None
    panel: str | None = None
    boost: str | None = None
    luminosity_spread: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.15
    text_alpha: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.95
    variables: dict[str, str] = msgspec.field(default_factory=dict)


@dataclass
class ThemeLoad:
    themes: dict[str, Theme] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return list(self.themes)


def parse_theme(text: str, source: str) -> Theme:
    """One theme file's text into a Textual Theme, or ValueError with a one-line reason."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"not valid TOML: {err}") from None
    try:
        spec = msgspec.convert(data, ThemeFile)
    except msgspec.ValidationError as err:
        raise ValueError(str(err).replace("`", "")) from None
    for key in _COLOURS:
        value = getattr(spec, key)
        if value is not None:
            _check_colour(key, value)
    for key in spec.variables:
        if not key.replace("-", "").isalnum():
            raise ValueError(f"variable name {key!r} must be letters, digits and -")
    theme = Theme(
        name=spec.name,
        dark=spec.dark,
        luminosity_spread=spec.luminosity_spread,
        text_alpha=spec.text_alpha,
        variables=dict(spec.variables),
        **{k: getattr(spec, k) for k in _COLOURS},
    )
    try:
        theme.to_color_system().generate()
    except Exception as err:  # noqa: BLE001 - Textual's own check of the whole palette
        raise ValueError(f"Textual rejects it: {err}") from None
    return theme


def _check_colour(key: str, value: str) -> None:
    try:
        Color.parse(value)
    except ColorParseError:
        raise ValueError(f"{key} = {value!r} is not a colour") from None


def load_themes(dirs: Iterable[Path]) -> ThemeLoad:
    """Every `*.toml` in `dirs` (in order; a later folder's theme replaces an earlier one of the same name)."""
    out = ThemeLoad()
    for folder in dirs:
        if not folder.is_dir():
            continue
        for file in sorted(folder.glob("*.toml")):
            try:
                theme = parse_theme(file.read_text(encoding="utf-8"), str(file))
            except (OSError, UnicodeDecodeError) as err:
                out.problems.append(f"{file}: cannot read: {err}")
                continue
            except ValueError as err:
                out.problems.append(f"{file}: {err}")
                continue
            out.themes[theme.name] = theme
    for problem in out.problems:
        log.warning("theme skipped: %s", problem)
    return out
