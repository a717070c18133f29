"""Switching to live trading: a dialog that names the exchange, says whether it is a demo account or real
money, and goes ahead only when the trader types LIVE."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from tui_trader.ui import keys

CONFIRM_WORD = "LIVE"


class LiveConfirmScreen(ModalScreen[bool]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding(keys.default("live_cancel"), "cancel", "Cancel", id="live_cancel")]

    def __init__(self, exchange: str, demo: bool) -> None:
        super().__init__(classes="dialog-screen")
        self.exchange = exchange
        self.demo = demo

    def compose(self) -> ComposeResult:
        money = "its DEMO account (no real money)" if self.demo else "REAL MONEY"
        with Vertical(classes="dialog -danger", id="live-dialog"):
            yield Static("Switch to LIVE trading", classes="dialog-title")
            yield Static(
                f"Orders will go to {self.exchange} with {money}.\n"
                f"New signals will open real positions on {self.exchange}"
                f"{' (demo)' if self.demo else ''}, with stop-loss and take-profit orders on the exchange.\n\n"
                f"Type {CONFIRM_WORD} and press enter to switch; escape cancels.",
                classes="dialog-body",
                markup=False,
                id="live-body",
            )
            yield Input(placeholder=f"type {CONFIRM_WORD}", id="live-word")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Go live", id="go-live", variant="error", disabled=True)
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#live-word", Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one("#go-live", Button).disabled = event.value != CONFIRM_WORD

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value == CONFIRM_WORD:
            self.dismiss(True)
        else:
            self.notify(f"Type {CONFIRM_WORD} (capitals) to switch, or escape to cancel.", severity="warning")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "go-live" and self.query_one("#live-word", Input).value == CONFIRM_WORD)

    def action_cancel(self) -> None:
        self.dismiss(False)
