"""Text redrawn only when it changes (status bar, banners, notes)."""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import Static


class LiveText(Static):
    """Text redrawn only when it changes. `fixed=True` (one line of fixed height, like the status bar)
    repaints without a layout pass: a layout pass redraws the whole screen, ten times a second."""

    def __init__(self, text: str = "", *, id: str | None = None, classes: str = "", fixed: bool = False) -> None:
        super().__init__(text, id=id, classes=classes, markup=False)
        self._shown: Text | str | None = text or None
        self.fixed = fixed

    def set(self, text: Text | str) -> None:
        if text != self._shown:
            before = self._lines(self._shown)
            self._shown = text
            self.update(text, layout=not self.fixed and self._lines(text) != before)

    def _lines(self, text: Text | str | None) -> int:
        """Lines the text takes at the current width (wrapping), to tell whether the height changes."""
        if text is None:
            return 0
        plain = text.plain if isinstance(text, Text) else text
        width = max(1, self.size.width or 80)
        return sum(max(1, -(-cell_len(line) // width)) for line in plain.split("\n"))

    @property
    def shown(self) -> str:
        """The plain text on screen (for tests)."""
        s = self._shown
        return "" if s is None else s.plain if isinstance(s, Text) else s
