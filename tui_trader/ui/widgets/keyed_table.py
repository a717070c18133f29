"""A read-only table updated by row key, and the cell helpers the panes fill it with.

A pane rewrites only the cells whose text changed, so a tick with nothing new costs comparisons, not repaints.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.cells import cell_len
from rich.console import JustifyMethod
from rich.style import Style
from rich.text import Text
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

Cell = str | Text


def num(text: str, style: str = "") -> Text:
    """A right-aligned number cell."""
    return Text(text, style=style, justify="right", no_wrap=True)


def txt(text: str, style: str = "") -> Text:
    """A plain cell (never parsed as markup: an exchange error may contain brackets)."""
    return Text(text, style=style, no_wrap=True)


def _cell(value: Cell) -> Text:
    return value if isinstance(value, Text) else Text(str(value), no_wrap=True)


class KeyedTable(ScrollView, can_focus=True):
    """A read-only table kept in step with a list of (row key, cells) by diffing, drawn with the Line API.

    Why not DataTable: any change to a DataTable (one price) throws away the rendering of every cell, and
    redrawing a 200-row order log ten times a second costs the pipeline real throughput. Here each row
    keeps its rendered lines; a changed row is rendered again and only its lines are repainted. Column
    widths grow to fit and shrink only when the columns change. The header stays put while the rows
    scroll (arrow keys, page up/down when the table has focus). A row may span several lines.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {"keyed-table--header"}
    DEFAULT_CSS = """
    KeyedTable {
        width: 100%;
        height: auto;
        max-height: 100%;
        scrollbar-size: 1 1;
    }
    KeyedTable > .keyed-table--header {
        text-style: bold;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str = "", cursor: bool = True) -> None:
        super().__init__(id=id, classes=classes)
        self.can_focus = cursor
        self._columns: tuple[tuple[str, str], ...] = ()
        self._cells: dict[str, tuple[Text, ...]] = {}
        self._heights: dict[str, int] = {}
        self._order: list[str] = []
        self._widths: list[int] = []
        self._strips: dict[str, list[Strip]] = {}  # rendered lines per row, full width (uncropped)
        self._lines: list[tuple[str, int]] = []  # (row key, line within the row) for every line
        self._header: Strip | None = None
        self._justify: list[JustifyMethod | None] = []
        self._style_key: object = None

    # --- data -----------------------------------------------------------------------------------------

    def shape(self, columns: Sequence[tuple[str, str]]) -> None:
        """Set the columns (key, label); a different set starts the table afresh (a layout switch)."""
        wanted = tuple(columns)
        if wanted == self._columns:
            return
        self._columns = wanted
        self._cells.clear()
        self._heights.clear()
        self._order = []
        self._widths = [cell_len(label) for _, label in wanted]
        self._relayout()

    def sync(self, rows: Sequence[tuple[str, Sequence[Cell]]], heights: dict[str, int] | None = None) -> None:
        """Make the table show exactly `rows`, in that order; only rows whose cells changed are redrawn.
        `heights` gives rows taller than one line (their cells hold that many lines)."""
        heights = heights or {}
        keys = [k for k, _ in rows]
        changed: list[str] = []
        widths = list(self._widths)
        cells_by_key: dict[str, tuple[Text, ...]] = {}
        for key, raw in rows:
            cells = tuple(_cell(c) for c in raw)
            cells_by_key[key] = cells
            if self._cells.get(key) != cells or self._heights.get(key, 1) != heights.get(key, 1):
                changed.append(key)
                for i, c in enumerate(cells[: len(widths)]):
                    w = max((cell_len(line) for line in c.plain.split("\n")), default=0)
                    if w > widths[i]:
                        widths[i] = w
        if rows:
            # Headers line up with their column: right-aligned over numbers.
            justify = [c.justify for c in cells_by_key[keys[0]]]
            if justify != self._justify:
                self._justify = justify
                self._header = None
                self.refresh(Region(0, 0, max(self.size.width, 1), 1))  # the header row stays on screen
        structure = keys != self._order or any(self._heights.get(k, 1) != heights.get(k, 1) for k in changed)
        self._cells = cells_by_key
        self._heights = {k: heights.get(k, 1) for k in keys}
        self._order = keys
        if widths != self._widths or structure:
            self._widths = widths
            self._relayout()
            return
        for key in changed:
            self._strips.pop(key, None)
        if changed:
            self._repaint_rows(set(changed))

    def fit_columns(self) -> None:
        """Let the columns shrink to their current content (a pane whose free width changed)."""
        widths = [cell_len(label) for _, label in self._columns]
        for cells in self._cells.values():
            for i, c in enumerate(cells[: len(widths)]):
                widths[i] = max(widths[i], max((cell_len(line) for line in c.plain.split("\n")), default=0))
        if widths != self._widths:
            self._widths = widths
            self._relayout()

    def cell_text(self, row: str, column: str) -> str:
        """The plain text of one cell (tests read the table this way)."""
        index = [k for k, _ in self._columns].index(column)
        return self._cells[row][index].plain

    @property
    def row_keys(self) -> list[str]:
        return list(self._order)

    # --- drawing --------------------------------------------------------------------------------------

    @property
    def needed_width(self) -> int:
        """Cells the columns take (what a pane can compare with its own width)."""
        return sum(self._widths) + 2 * len(self._widths)

    def _relayout(self) -> None:
        """Redraw every line (widths or order changed); lay the screen out again only if this table's
        height may change: a layout pass redraws the whole screen, and ten a second cost the pipeline."""
        old_lines = len(self._lines)
        self._strips.clear()
        self._header = None
        self._lines = [(k, i) for k in self._order for i in range(self._heights.get(k, 1))]
        size = Size(self.needed_width, len(self._lines) + 1)
        height = self.size.height
        # The table's height is set by CSS, or it fills its height both before and after (it scrolls):
        # either way its size cannot change.
        auto = self.styles.height is None or self.styles.height.is_auto
        clipped = not auto or (height > 0 and old_lines + 1 > height and len(self._lines) + 1 > height)
        if size == self.virtual_size:
            self.refresh()
        elif clipped or size.height == self.virtual_size.height:
            self.set_reactive(ScrollView.virtual_size, size)
            self._scroll_update(size)  # scrollbars follow the new extent (a layout comes only if they appear)
            self.refresh()
        else:
            self.virtual_size = size
            self.refresh(layout=True)

    def _repaint_rows(self, keys: set[str]) -> None:
        scroll_y = int(self.scroll_offset.y)
        for index, (key, _) in enumerate(self._lines):
            if key in keys and 1 <= index - scroll_y + 1 < self.size.height:
                self.refresh_line(index + 1)  # virtual line (the header is line 0)

    def _render_text(self, texts: Sequence[Text], style: Style) -> Strip:
        line = Text(no_wrap=True, end="")
        for text, width in zip(texts, self._widths, strict=False):
            pad = width - text.cell_len
            line.append(" ")
            if text.justify == "right":
                line.append(" " * pad)
                line.append_text(text)
            else:
                line.append_text(text)
                line.append(" " * pad)
            line.append(" ")
        line.stylize_before(style)
        return Strip(line.render(self.app.console), line.cell_len)

    def _row_strips(self, key: str, style: Style) -> list[Strip]:
        strips = self._strips.get(key)
        if strips is None:
            height = self._heights.get(key, 1)
            per_cell = [c.split("\n", allow_blank=True) if height > 1 else [c] for c in self._cells[key]]
            strips = []
            for i in range(height):
                texts = [parts[i] if i < len(parts) else Text("") for parts in per_cell]
                strips.append(self._render_text(texts, style))
            self._strips[key] = strips
        return strips

    def render_line(self, y: int) -> Strip:
        style = self.rich_style
        if style != self._style_key:  # the theme changed: every cached line has the old colours
            self._style_key = style
            self._strips.clear()
            self._header = None
        scroll_x, scroll_y = (int(v) for v in self.scroll_offset)
        width = self.scrollable_content_region.width
        if y == 0:
            if self._header is None:
                header_style = style + self.get_component_rich_style("keyed-table--header", partial=True)
                labels = [
                    Text(label, justify=j)
                    for (_, label), j in zip(self._columns, self._justify + [None] * len(self._columns), strict=False)
                ]
                self._header = self._render_text(labels, header_style)
            strip = self._header
        else:
            index = scroll_y + y - 1
            if index >= len(self._lines):
                return Strip.blank(width, style)
            key, sub = self._lines[index]
            strip = self._row_strips(key, style)[sub]
        return strip.crop_extend(scroll_x, scroll_x + width, style)
