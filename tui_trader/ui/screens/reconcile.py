"""Reconciliation at a live start: what the journal and the exchange disagree on, and what to do about each.

One row per difference (from `tui_trader.reconcile`), preset to its headless default. Keyboard only: ↑/↓
pick a row, `a` adopt, `f` flatten, `l` leave (only what the row allows), `d` back to the defaults, `c`
confirms (a yes/no dialog that names what will happen). Escape does not skip it: nothing trades on the
exchange until it is answered. Dismisses with {difference id: action}.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from tui_trader import reconcile as rc
from tui_trader.ui import keys
from tui_trader.ui.screens.confirm import ConfirmScreen

KIND_LABEL: dict[str, str] = {
    "untracked_position": "untracked",
    "missing_position": "missing",
    "size_mismatch": "size differs",
    "unprotected": "unprotected",
    "orphan_order": "orphan order",
}
ACTION_STYLE = {"adopt": "bold green", "flatten": "bold red", "leave": "yellow"}


class ReconcileScreen(ModalScreen[dict[str, str]]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(keys.default("reconcile_adopt"), "choose('adopt')", "Adopt", id="reconcile_adopt"),
        Binding(keys.default("reconcile_flatten"), "choose('flatten')", "Flatten", id="reconcile_flatten"),
        Binding(keys.default("reconcile_leave"), "choose('leave')", "Leave", id="reconcile_leave"),
        Binding(keys.default("reconcile_defaults"), "defaults", "Defaults", id="reconcile_defaults"),
        Binding(keys.default("reconcile_confirm"), "confirm", "Confirm", id="reconcile_confirm"),
        Binding(keys.default("reconcile_escape"), "no_escape", "", show=False, id="reconcile_escape"),
    ]

    DEFAULT_CSS = """
    ReconcileScreen { align: center middle; }
    ReconcileScreen #reconcile-dialog {
        width: 96%; max-width: 150; height: auto; max-height: 90%;
        border: thick $warning; background: $surface; padding: 0 1;
    }
    ReconcileScreen #reconcile-title { text-style: bold; }
    ReconcileScreen #reconcile-help { color: $text-muted; padding: 0 0 1 0; }
    ReconcileScreen DataTable { height: auto; max-height: 16; }
    ReconcileScreen #reconcile-explain { height: auto; padding: 1 0 0 0; }
    """

    def __init__(self, differences: Sequence[rc.Difference], exchange: str = "the exchange") -> None:
        super().__init__(classes="dialog-screen")
        self.differences = list(differences)
        self.exchange = exchange
        self.choices: dict[str, rc.Action] = rc.default_choices(self.differences)

    def compose(self) -> ComposeResult:
        n = len(self.differences)
        with Vertical(id="reconcile-dialog"):
            yield Static(f"Reconcile with {self.exchange} before trading", id="reconcile-title", markup=False)
            yield Static(
                f"The journal and {self.exchange} disagree on {n} thing{'s' * (n != 1)}. Nothing trades on the "
                f"exchange until you confirm.\n↑/↓ row   {self._keys()}",
                id="reconcile-help",
                markup=False,
            )
            yield DataTable(id="reconcile-table", cursor_type="row", zebra_stripes=True)
            yield Static("", id="reconcile-explain", markup=False)

    def _keys(self) -> str:
        """The hint as the trader has the keys bound ([keys] may remap them)."""
        label = getattr(self.app, "key_label", None)
        words = (
            ("reconcile_adopt", "adopt"),
            ("reconcile_flatten", "flatten"),
            ("reconcile_leave", "leave"),
            ("reconcile_defaults", "defaults"),
            ("reconcile_confirm", "confirm"),
        )
        return "   ".join(f"{label(bid) if label else keys.default(bid)} {word}" for bid, word in words)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("symbol", key="symbol")
        table.add_column("difference", key="kind")
        table.add_column("facts", key="facts")
        table.add_column("action", key="action")
        for d in self.differences:
            table.add_row(d.symbol, KIND_LABEL.get(d.kind, d.kind), rc.describe(d), self._action_cell(d), key=d.id)
        table.focus()
        self._explain()

    # --- choosing -------------------------------------------------------------------------------------
    def _current(self) -> rc.Difference | None:
        if not self.differences:
            return None
        row = self.query_one(DataTable).cursor_row
        return self.differences[max(0, min(row, len(self.differences) - 1))]

    def _action_cell(self, d: rc.Difference) -> Text:
        action = self.choices[d.id]
        return Text(action, style=ACTION_STYLE.get(action, ""))

    def action_choose(self, action: rc.Action) -> None:
        d = self._current()
        if d is None:
            return
        if action not in d.actions:
            offered = ", ".join(d.actions)
            self.notify(
                f"{d.symbol} {KIND_LABEL.get(d.kind, d.kind)}: {action} is not offered here ({offered})",
                severity="warning",
                timeout=3,
            )
            return
        self.choices[d.id] = action
        self.query_one(DataTable).update_cell(d.id, "action", self._action_cell(d))
        self._explain()

    def action_defaults(self) -> None:
        self.choices = rc.default_choices(self.differences)
        table = self.query_one(DataTable)
        for d in self.differences:
            table.update_cell(d.id, "action", self._action_cell(d))
        self._explain()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._explain()

    def _explain(self) -> None:
        d = self._current()
        if d is None:
            return
        lines = [f"{d.symbol} — {rc.KIND_TEXT[d.kind]}: {rc.describe(d)}"]
        for action in d.actions:
            mark = "▶" if self.choices[d.id] == action else " "
            lines.append(f" {mark} {action}: {rc.action_text(d, action)}")
        if d.note:
            lines.append(f"   ({d.note})")
        self.query_one("#reconcile-explain", Static).update("\n".join(lines))

    # --- answering ------------------------------------------------------------------------------------
    def action_confirm(self) -> None:
        counts = Counter(self.choices.values())
        summary = ", ".join(f"{action} {counts[action]}" for action in rc.ACTIONS if counts[action])
        lines = [
            f"{d.symbol} {KIND_LABEL.get(d.kind, d.kind)}: {self.choices[d.id]} — "
            f"{rc.action_text(d, self.choices[d.id])}"
            for d in self.differences
        ]
        danger = any(self.choices[d.id] == "flatten" for d in self.differences)

        def answered(yes: bool | None) -> None:
            if yes:
                self.dismiss(dict(self.choices))

        self.app.push_screen(
            ConfirmScreen(
                f"Apply on {self.exchange}: {summary}?", "\n".join(lines), yes="Apply", no="Back", danger=danger
            ),
            answered,
        )

    def action_no_escape(self) -> None:
        self.notify(
            "Choose what to do with each row and confirm with c: nothing trades until then.",
            severity="warning",
            timeout=3,
        )
