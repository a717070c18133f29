"""Rich styles from the current theme for text inside cells and lines (CSS cannot style one DataTable cell or
one span of a Static)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.color import Color, ColorParseError


@dataclass(frozen=True)
class Colours:
    """Rich styles from the current theme, for cell text (CSS cannot style single DataTable cells)."""

    buy: str
    sell: str
    warn: str
    muted: str
    accent: str
    primary: str

    @classmethod
    def from_variables(cls, v: dict[str, str]) -> Colours:
        background = _colour(v.get("background", "#000000"), Color(0, 0, 0))

        def pick(*names: str, default: str) -> str:
            for name in names:
                if name in v:
                    # Rich cannot draw alpha: composite a translucent theme colour over the background.
                    return (background + _colour(v[name], background)).hex6
            return default

        return cls(
            buy=pick("success", default="green"),
            sell=pick("error", default="red"),
            warn=pick("warning", default="yellow"),
            muted=pick("foreground-muted", "secondary", default="grey50"),
            accent=pick("accent", default="magenta"),
            primary=pick("primary", default="blue"),
        )

    def side(self, side: str) -> str:
        return self.buy if side in ("buy", "long") else self.sell

    def signed(self, value: float | None) -> str:
        if value is None or value == 0:
            return ""
        return self.buy if value > 0 else self.sell


def _colour(text: str, fallback: Color) -> Color:
    try:
        return Color.parse(text)
    except ColorParseError:
        return fallback
