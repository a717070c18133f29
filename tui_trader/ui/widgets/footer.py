"""The desk's footer: Textual's, less the keys that matter least when the terminal cannot show them all.

At 80 columns every key of the main screen takes ~95: the last ones (re-arm, help) were cut off. When the keys
do not fit, the footer leaves out the theme key (cosmetic) and the re-arm key (it does something only while
halted, and then the HALTED banner names it); both stay in the help (?) and keep working. Wider, or on a
screen with fewer keys, every key is shown.
"""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

# The actions of the keys left out first, in the order they go.
LEFT_OUT_WHEN_NARROW = ("app.next_theme", "rearm")


def shown_width(keys: list[FooterKey]) -> int:
    """Columns the compact footer takes for these keys: "key description" each, one space between."""
    return sum(len(k.key_display) + 1 + len(k.description) for k in keys) + max(len(keys) - 1, 0)


class DeskFooter(Footer):
    def __init__(self) -> None:
        super().__init__(compact=True)
        self._width = 0  # the width the keys were last chosen for

    def compose(self) -> ComposeResult:
        widgets = list(super().compose())
        width = self.size.width or self.app.size.width
        self._width = width
        keys = [w for w in widgets if isinstance(w, FooterKey)]
        for action in LEFT_OUT_WHEN_NARROW:
            if shown_width(keys) <= width:
                break
            keys = [k for k in keys if k.action != action]
        kept = [w for w in widgets if not isinstance(w, FooterKey) or w in keys]
        self.styles.grid_size_columns = len(kept)
        yield from kept

    def on_resize(self, event: events.Resize) -> None:
        if event.size.width != self._width:
            self.call_after_refresh(self.recompose)
