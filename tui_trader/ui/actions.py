"""What the trader's keys do: every action goes out as a Control record on trading-control (origin "desk");
the desk never calls a worker. Also the settings screen's save (the file, then the changed live values as one
Control "settings" that the workers take wherever they run), and quitting.

A mixin of DeskApp (app.py keeps starting, stopping and drawing); it uses the app's state, bridge, clock and
settings, declared below so a type checker holds it to them.
"""

from __future__ import annotations

import getpass
import logging
import os
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.app import App
from textual.binding import Binding

from tui_trader import live_settings, paths
from tui_trader import messages as m
from tui_trader import settings as settings_mod
from tui_trader.errors import SecretsError, TuiTraderError
from tui_trader.settings import Settings
from tui_trader.ui.screens.confirm import ConfirmScreen
from tui_trader.ui.screens.help import HelpScreen
from tui_trader.ui.screens.live_confirm import LiveConfirmScreen
from tui_trader.ui.screens.settings import SettingsScreen
from tui_trader.ui.settings_form import DESK_LIVE, applies_live, live_patterns

if TYPE_CHECKING:
    from tui_trader.clock import Clock
    from tui_trader.ui.bridge import DeskBridge
    from tui_trader.ui.runner import LocalPipeline
    from tui_trader.ui.screens.main import MainScreen
    from tui_trader.ui.state import DeskModel
    from tui_trader.ui.throttle import Throttle

    # The mixin is only ever part of DeskApp: to the type checker it is an App, with DeskApp's own members below.
    _AppBase = App[int]
else:
    _AppBase = object

log = logging.getLogger(__name__)


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in the environment nor the password database
        return f"uid {os.getuid()}"


# Who pressed the key, for the log: the desk's user (several traders may share a host over SSH).
WHO = f"desk ({_user()})"

REPLAY_PAPER_ONLY = "a replay is paper only: live would send real orders priced from old data"


class DeskActions(_AppBase):
    """Key actions of the desk (mixed into DeskApp)."""

    # DeskApp's members the actions use (set in DeskApp.__init__ or defined there).
    settings: Settings
    saved_settings: Settings
    settings_path: Path | None
    runner: LocalPipeline | None
    clock: Clock
    state: DeskModel
    bridge: DeskBridge | None
    throttle: Throttle
    key_problems: list[str]
    desk_themes: list[str]
    _pending: deque[tuple[m.ControlCommand, str | None, dict[str, Any]]]

    if TYPE_CHECKING:

        @property
        def main_screen(self) -> MainScreen | None: ...
        def key_label(self, binding_id: str) -> str: ...
        def keys_of(self, binding_id: str) -> list[str]: ...
        def apply_keys(self, settings: Settings) -> list[str]: ...
        def is_replay(self) -> bool: ...
        async def refresh_desk(self) -> None: ...
        async def stop_pipeline(self) -> None: ...
        def _arm_clock(self) -> None: ...

    # --- controls -------------------------------------------------------------------------------------

    async def send(self, command: m.ControlCommand, arg: str | None = None, **fields: Any) -> None:
        """Publish a Control record (`fields`: its typed payload); before the bus is open, queue it (a kill at
        start-up still goes out). What it changes shows once the worker that owns it publishes so."""
        if self.bridge is None:
            self._pending.append((command, arg, fields))
            self.state.on_control(m.Control(command=command, arg=arg, ts=self.clock.now_ms(), **fields))
            return
        try:
            c = await self.bridge.send(command, arg, **fields)
        except Exception as err:
            log.exception("cannot publish control %s", command)
            self.notify(f"{command} not sent: {err}", title="Bus", severity="error", timeout=30)
            return
        self.state.on_control(c)  # at once; the record coming back from the bus changes nothing more
        log.info("%s sent %s%s", WHO, command, f" {arg}" if arg else "")

    async def _send_pending(self) -> None:
        while self._pending:
            command, arg, fields = self._pending.popleft()
            await self.send(command, arg, **fields)

    async def action_kill(self) -> None:
        await self.send("kill")
        await self.refresh_desk()
        self.notify(
            f"Kill switch: pause, cancel, flatten, halt. {self.key_label('rearm')} re-arms.",
            title="KILL",
            severity="error",
            timeout=10,
        )

    def action_rearm(self) -> None:
        if not self.state.halted:
            self.notify("Not halted: nothing to re-arm.", title="Re-arm", timeout=3)
            return

        async def answer(ok: bool | None) -> None:
            if ok:
                await self.send("rearm")
                await self.refresh_desk()
                self.notify("Re-armed. Still paused: press p to resume trading.", title="Re-arm", severity="warning")

        self.push_screen(
            ConfirmScreen(
                "Re-arm the kill switch?",
                f"Trading was halted by the kill switch. Re-arming clears the halt; the desk stays paused until "
                f"you resume (p), in {self.state.mode.upper()} mode.",
                yes="Re-arm",
                no="Stay halted",
                danger=True,
            ),
            answer,
        )

    async def action_pause(self) -> None:
        if self.state.halted:
            self.notify(
                f"Halted by the kill switch: re-arm first ({self.key_label('rearm')}), then resume "
                f"({self.key_label('pause')}).",
                title="Pause",
                severity="warning",
                timeout=5,
            )
            return
        command: m.ControlCommand = "resume" if self.state.paused else "pause"
        await self.send(command)
        await self.refresh_desk()
        self.notify(
            "Paused: no new entries; open positions stay protected." if command == "pause" else "Resumed.",
            title=command.capitalize(),
            timeout=3,
        )

    def action_flatten(self) -> None:
        n = len(self.state.portfolio.positions)

        async def answer(ok: bool | None) -> None:
            if ok:
                await self.send("flatten")
                self.notify("Flatten sent: every position closes at market.", title="Flatten", severity="warning")

        self.push_screen(
            ConfirmScreen(
                "Flatten?",
                f"Close every open position at market, reduce-only ({n} open now).",
                yes="Flatten",
                danger=True,
            ),
            answer,
        )

    def action_close_position(self) -> None:
        """Close the position selected in Positions: a dialog naming it, then Control("close", symbol); the
        router sends a reduce-only close and the executor cancels its stop-loss and take-profit."""
        from tui_trader.ui.widgets.positions import PositionsPane

        main = self.main_screen
        panes = list(main.query(PositionsPane)) if main is not None else []
        symbol = panes[0].selection() if panes else None
        if symbol is None:
            self.notify("No open position to close.", title="Close", timeout=3)
            return
        pos = self.state.portfolio.positions.get(symbol)
        snap = self.state.account_positions().get(symbol)
        if pos is not None:
            what = f"{pos.side.upper()} {pos.quantity:g} {symbol}"
        elif snap is not None:
            what = f"{'LONG' if snap.side == 'buy' else 'SHORT'} {snap.quantity:g} {symbol}"
        else:
            what = symbol

        async def answer(ok: bool | None) -> None:
            if ok:
                log.info("close %s asked from the desk", symbol)
                await self.send("close", symbol)
                self.notify(
                    f"Close {symbol} sent: a reduce-only market order; its stop-loss and take-profit are canceled.",
                    title="Close",
                    severity="warning",
                )

        self.push_screen(
            ConfirmScreen(
                f"Close {symbol}?",
                f"Close {what} at market, reduce-only, and cancel its stop-loss and take-profit. "
                "Other positions stay open.",
                yes="Close",
                danger=True,
            ),
            answer,
        )

    def action_results(self) -> None:
        from tui_trader.ui.screens.results import ResultsScreen

        if isinstance(self.screen, ResultsScreen):
            self.screen.dismiss(None)
            return
        self.push_screen(ResultsScreen())

    def action_toggle_mode(self) -> None:
        # The mode on screen is the one the executor reports acting in; the switch shows as "switching…"
        # until it answers (state.py).
        if self.state.mode_requested:
            self.notify(
                f"Switching to {self.state.mode_requested.upper()}: waiting for the executor to answer.",
                title="Mode",
                timeout=4,
            )
            return
        if self.state.mode == "live":
            self.run_worker(self.send("set_mode", "paper"), group="control")
            self.notify(
                "Back to PAPER asked: new orders go to the paper broker once the executor switches.",
                title="Mode",
                timeout=4,
            )
            return
        refusal = self.live_refusal()
        if refusal:
            self.state.mode_refusal = refusal
            self.notify(refusal, title="Live refused", severity="error", timeout=10)
            self.call_later(self.refresh_desk)
            return
        ex = self.settings.exchange

        async def answer(ok: bool | None) -> None:
            if ok:
                await self.send("set_mode", "live")
                await self.refresh_desk()
                self.notify(
                    f"Switching to LIVE on {ex.name}{' (demo)' if ex.demo else ' — REAL MONEY'}: the "
                    "badge says LIVE once the executor acts live.",
                    title="Mode",
                    severity="warning",
                    timeout=10,
                )

        self.push_screen(LiveConfirmScreen(ex.name, ex.demo), answer)

    def live_refusal(self) -> str:
        """Why live mode cannot be switched on here ("" when it can): a replay, keys missing or unreadable."""
        if self.is_replay():
            return REPLAY_PAPER_ONLY
        try:
            secrets = settings_mod.load_secrets(self.settings)
        except SecretsError as err:
            return err.message
        ex = self.settings.exchange.name
        where = self.settings.exchange.secrets_file or str(paths.secrets_file())
        if not secrets.present:
            return (
                f"no API keys for {ex}: set TUI_TRADER_API_KEY and TUI_TRADER_API_SECRET, or write api_key "
                f"and api_secret to {where} (mode 600)"
            )
        if ex == "okx" and not secrets.api_password:
            return f"okx needs its API passphrase too: set TUI_TRADER_API_PASSWORD or api_password in {where}"
        return ""

    # --- screens --------------------------------------------------------------------------------------

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss(None)  # the help key closes it again
            return
        bindings = []
        main = self.main_screen
        for b in [*(main.BINDINGS if main else []), *self.BINDINGS]:
            if isinstance(b, Binding) and (b.show or b.id == "close_position"):  # close: help only (main.py)
                # As the footer writes them (^r, ^\\), so the key column stays narrow on 80 columns.
                shown = [App.get_key_display(self, b.with_key(k)) for k in self.keys_of(b.id or "")]
                bindings.append((" ".join(shown), b))
        self.push_screen(HelpScreen(bindings))

    def action_open_settings(self) -> None:
        path = self.settings_path or paths.user_settings_file()
        self.push_screen(SettingsScreen(self.saved_settings, path, list(self.available_themes), live_patterns()))

    def save_settings(self, new: Settings, path: Path) -> None:
        try:
            settings_mod.save(new, path)
        except OSError as err:
            self.notify(f"Not saved: {path}: {err.strerror or err}", title="Settings", severity="error", timeout=15)
            return
        except TuiTraderError as err:  # the file on disk was changed into one the strict loader refuses
            self.notify(f"Not saved: {err.message}", title="Settings", severity="error", timeout=15)
            return
        changed = live_settings.changed_keys(self.saved_settings, new)
        log.info("%s saved settings to %s: %s", WHO, path, ", ".join(changed) or "nothing changed")
        patterns = live_patterns()
        self.apply_settings(new)
        self.settings_path = path
        live = [k for k in changed if applies_live(k, patterns)]
        later = [k for k in changed if not applies_live(k, patterns)]
        parts = [f"Saved to {path}."]
        if live:
            parts.append(f"Applied now: {', '.join(live)}.")
        if later:
            parts.append(f"Applies after restart: {', '.join(later)}.")
        self.notify(" ".join(parts), title="Settings", timeout=10)

    def apply_settings(self, new: Settings) -> None:
        """Take the live fields of `new`: the desk's own here, the workers' as one Control "settings" on the bus
        (the same path whether they run in this process or elsewhere; each takes the fields it reads live)."""
        before = self.settings
        patterns = live_patterns()
        self.saved_settings = new
        self.settings = live_settings.merge(self.settings, new, patterns)
        change = live_settings.change_between(before, self.settings, patterns - DESK_LIVE)
        if change.values:
            self.run_worker(self.send("settings", settings=change), group="control", exit_on_error=False)
        if self.settings.ui.theme != before.ui.theme and self.settings.ui.theme in self.available_themes:
            self.theme = self.settings.ui.theme
        if self.settings.keys != before.keys:
            self.key_problems = self.apply_keys(self.settings)
            for problem in self.key_problems:
                self.notify(problem, title="Key refused", severity="error", timeout=30)
        if self.settings.ui.refresh_hz != before.ui.refresh_hz:
            self.throttle.set_base(1 / self.settings.ui.refresh_hz)
            self._arm_clock()

    # --- quitting -------------------------------------------------------------------------------------

    def action_help_quit(self) -> None:
        """ctrl+c does not quit (Textual binds it to copy): say which key does, in plain words (Textual's own
        notice is markup, and the desk never parses a notice as markup, so it read "Press [b]ctrl+q[/b]")."""
        self.notify(
            f"Press {self.key_label('quit')} to quit the desk (it asks first when positions are open).",
            title="Quit?",
            timeout=5,
        )

    async def action_quit(self) -> None:
        self.action_quit_desk()

    def action_quit_desk(self) -> None:
        n = len(self.state.portfolio.positions) or len(self.state.account_positions())
        if not n:
            self.run_worker(self._quit(), group="quit")
            return

        async def answer(ok: bool | None) -> None:
            if ok:
                await self._quit()

        self.push_screen(
            ConfirmScreen(
                "Quit the desk?",
                f"{n} position{'s are' if n > 1 else ' is'} open. They stay open, protected by their stop-loss and "
                "take-profit orders; the desk picks them up again when it restarts.",
                yes="Quit",
                no="Stay",
            ),
            answer,
        )

    async def _quit(self) -> None:
        await self.stop_pipeline()
        self.exit(0)
