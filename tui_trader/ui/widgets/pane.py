"""A bordered pane with a title: what every pane of the desk is."""

from __future__ import annotations

from textual.containers import Vertical

from tui_trader.ui.widgets.view import View


class Pane(Vertical):
    """A bordered pane with a title; subclasses implement `show(view)`."""

    TITLE = ""

    def __init__(self, *, id: str | None = None, classes: str = "") -> None:
        super().__init__(id=id, classes=f"pane {classes}".strip())
        self._title = self.TITLE
        self.border_title = self.TITLE

    def set_title(self, text: str) -> None:
        # Assigning border_title repaints the whole pane even when it is the same text.
        if text != self._title:
            self._title = text
            self.border_title = text

    def show(self, view: View) -> None:  # pragma: no cover - abstract
        raise NotImplementedError
