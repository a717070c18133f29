"""The desk: a Textual app that shows the pipeline live and sends the trader's keys as Control records.

Data flow: the bus → `DeskBridge` (the only way data enters) → `DeskModel` (plain dicts) → panes, drawn on
a clock of `ui.refresh_hz` (never per message). Keys → `Control` records on trading-control (origin
"desk", actions.py); the desk never calls a worker. So the same app can show a pipeline running in this process
(`LocalPipeline`) or a bus where the workers run elsewhere (pass `bus=`).

Errors: a worker's crash or an ERROR it logs arrives as a notification; an error in the desk's own
drawing is logged with its traceback and shown as one line. The trader never sees a traceback.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.worker import Worker, WorkerState

from tui_trader import logs, paths
from tui_trader import messages as m
from tui_trader.bus.base import Bus
from tui_trader.clock import Clock
from tui_trader.errors import TuiTraderError
from tui_trader.settings import Settings
from tui_trader.ui import keys
from tui_trader.ui.actions import DeskActions
from tui_trader.ui.bridge import SHOWN_BY_DESK, DeskBridge
from tui_trader.ui.runner import LocalPipeline
from tui_trader.ui.screens.main import MainScreen
from tui_trader.ui.state import DeskModel
from tui_trader.ui.themes import DEFAULT_THEME, load_themes
from tui_trader.ui.throttle import Throttle, cpu_demand
from tui_trader.ui.widgets.colours import Colours
from tui_trader.ui.widgets.view import View

log = logging.getLogger(__name__)

# Notifications shown per tick at most; a burst beyond this is summarised (the log has them all).
NOTICES_PER_TICK = 3
STOP_TIMEOUT_S = 10.0


class DeskApp(DeskActions, App[int]):
    CSS_PATH = "desk.tcss"
    TITLE = "tui-trader"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        # The kill switch: priority, so it fires from any screen and over any focused widget; no dialog. Its
        # keys are ones no text field edits with (keys.py), so typing never pulls it.
        Binding(keys.default("kill"), "kill", "KILL", priority=True, id="kill"),
        Binding(keys.default("rearm"), "rearm", "Re-arm", id="rearm"),
        Binding(keys.default("help"), "help", "Help", id="help"),
    ]

    def __init__(
        self,
        settings: Settings,
        *,
        settings_path: Path | None = None,
        runner: LocalPipeline | None = None,
        bus: Bus | None = None,
        clock: Clock | None = None,
        history: bool = True,
        theme_dirs: Sequence[Path] | None = None,
        adaptive_refresh: bool = True,
        saved_settings: Settings | None = None,
    ) -> None:
        """adaptive_refresh: redraw less often while the process is CPU-bound (throttle.py); off for
        snapshots, which must not depend on how busy the machine is. saved_settings: the file's, when
        `settings` carry `--set` overrides for this run (a save must not write those into the file)."""
        if (runner is None) == (bus is None):
            raise ValueError("DeskApp needs either a runner (run the pipeline here) or an open bus (show it)")
        super().__init__()
        logs.attach_tail()  # the log screen shows what was logged since the desk started
        self.settings = settings  # what the desk and workers run with (live fields updated on save)
        self.saved_settings = saved_settings or settings  # what settings.toml holds
        self.settings_path = settings_path
        self.runner = runner
        self._bus = bus
        self.clock = clock if clock is not None else (runner.clock if runner is not None else Clock())
        self.history = history
        self.state = DeskModel(
            starting_balance=settings.paper.starting_balance, mode="paper" if settings.trading.paper_trading else "live"
        )
        self.state.results.set_bar(settings.indicators.bar)  # the Results charts show the indicators' points
        self.bridge: DeskBridge | None = None
        self._pending: collections.deque[tuple[m.ControlCommand, str | None, dict[str, Any]]] = collections.deque()
        self._reconcile_asked: set[str] = set()
        self._refresh_lock = asyncio.Lock()
        self.draw_time = 0.0  # seconds spent drawing (our panes, Textual's layout and compositing)
        self.throttle = Throttle(1 / settings.ui.refresh_hz)
        self.adaptive_refresh = adaptive_refresh
        self._draw_errors: dict[str, float] = {}
        self._bells = 0  # watchdog alarms rung so far
        self._serve_worker: Worker | None = None
        self._colours: tuple[str, Colours] | None = None
        self._load_themes(theme_dirs if theme_dirs is not None else paths.theme_dirs())
        self.key_remaps: dict[str, str] = {}
        self.key_problems = self.apply_keys(settings)

    def add_draw_time(self, seconds: float) -> None:
        """Time Textual spent laying out and compositing a screen (screens/timed.py), for the throttle."""
        self.draw_time += seconds

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: str = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """As App.notify, but text is never parsed as markup: an exchange's error may hold brackets."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)  # type: ignore[arg-type]

    # --- themes ---------------------------------------------------------------------------------------

    def _load_themes(self, dirs: Sequence[Path]) -> None:
        loaded = load_themes(dirs)
        for theme in loaded.themes.values():
            self.register_theme(theme)
        names = sorted(loaded.names, key=lambda n: (n != DEFAULT_THEME, n))
        self.desk_themes = names or ["textual-dark"]
        self.theme_problems = loaded.problems
        wanted = self.settings.ui.theme
        self.theme = wanted if wanted in self.available_themes else self.desk_themes[0]

    def colours(self) -> Colours:
        if self._colours is None or self._colours[0] != self.theme:
            theme = self.current_theme
            variables = {**theme.to_color_system().generate(), **theme.variables}
            self._colours = (self.theme, Colours.from_variables(variables))
        return self._colours[1]

    def action_next_theme(self) -> None:
        names = self.desk_themes
        i = names.index(self.theme) if self.theme in names else -1
        self.theme = names[(i + 1) % len(names)]
        self.notify(f"Theme {self.theme} (ui.theme in settings keeps one)", title="Theme", timeout=2)
        self.call_later(self.refresh_desk)

    def is_replay(self) -> bool:
        """The pipeline is fed a recording: run here with --replay, or (an attached desk) its feed says so."""
        if self.runner is not None:
            return self.runner.replay
        return m.REPLAY_FEED in self.state.health

    # --- keys ---------------------------------------------------------------------------------------

    def key_scopes(self) -> list[keys.Scope]:
        from tui_trader.ui.screens.confirm import ConfirmScreen
        from tui_trader.ui.screens.help import HelpScreen
        from tui_trader.ui.screens.live_confirm import LiveConfirmScreen
        from tui_trader.ui.screens.log import LogScreen
        from tui_trader.ui.screens.reconcile import ReconcileScreen
        from tui_trader.ui.screens.results import ResultsScreen
        from tui_trader.ui.screens.settings import SettingsScreen

        screens = (
            ("the main screen", MainScreen),
            ("the settings screen", SettingsScreen),
            ("the help screen", HelpScreen),
            ("the live dialog", LiveConfirmScreen),
            ("a yes/no dialog", ConfirmScreen),
            ("the reconciliation screen", ReconcileScreen),
            ("the results screen", ResultsScreen),
            ("the log screen", LogScreen),
        )
        return [keys.Scope(name, tuple(b for b in cls.BINDINGS if isinstance(b, Binding))) for name, cls in screens]

    def all_bindings(self) -> list[Binding]:
        return [
            *(b for b in self.BINDINGS if isinstance(b, Binding)),
            *(b for s in self.key_scopes() for b in s.bindings),
        ]

    def check_keys(self, wanted: dict[str, str]) -> tuple[dict[str, str], list[str]]:
        return keys.check(wanted, [b for b in self.BINDINGS if isinstance(b, Binding)], self.key_scopes())

    def apply_keys(self, settings: Settings) -> list[str]:
        """Take the `[keys]` remaps that pass the check (keys.py); returns one line per refused one."""
        from tui_trader import settings as settings_mod

        remaps, problems = self.check_keys(settings_mod.to_dict(settings)["keys"])
        for problem in problems:
            log.error("%s", problem, extra={SHOWN_BY_DESK: True})
        if remaps != self.key_remaps:
            self.key_remaps = remaps
            self.set_keymap(remaps)
        return problems

    def keys_of(self, binding_id: str) -> list[str]:
        """The keys a binding answers to now (its default unless remapped)."""
        return keys.split(self.key_remaps.get(binding_id) or keys.default(binding_id))

    def key_label(self, binding_id: str) -> str:
        """How a key is named in messages: "ctrl+r", "f12 or ctrl+backslash"."""
        return " or ".join(k.replace("question_mark", "?") for k in self.keys_of(binding_id))

    def get_key_display(self, binding: Binding) -> str:
        # The footer shows one key per action: show every key of a binding that has several (the kill switch).
        if binding.id and binding.id in keys.DEFAULTS:
            shown = self.keys_of(binding.id)
            if len(shown) > 1:
                return "/".join(super(DeskApp, self).get_key_display(binding.with_key(k)) for k in shown)
        return super().get_key_display(binding)

    # --- start and stop -------------------------------------------------------------------------------

    def on_mount(self) -> None:
        self.push_screen(MainScreen())
        self._timer = self.set_interval(1 / self.settings.ui.refresh_hz, self._tick)
        self._serve_worker = self.run_worker(self._serve(), name="desk", group="desk", exit_on_error=False)
        for problem in self.key_problems:
            self.notify(problem, title="Key refused", severity="error", timeout=30)
        for problem in self.theme_problems:
            self.notify(problem, title="Theme skipped", severity="warning")
        if self.settings.ui.theme != self.theme:
            self.notify(
                f"no theme named {self.settings.ui.theme!r}; using {self.theme}", title="Theme", severity="warning"
            )

    async def _serve(self) -> None:
        own_bus = self._bus is None
        bus = self._bus if self._bus is not None else await self.runner.open_bus()  # type: ignore[union-attr]
        bridge = DeskBridge(bus, self.settings, self.clock, self.state, history=self.history)
        try:
            await bridge.open()
            self.bridge = bridge
            await self._send_pending()
            if self.runner is None:
                await bridge.run()
                return
            async with self.runner.run() as runtime:
                tasks = [bridge.run()]
                if self.runner.replay:
                    tasks.append(self._watch_replay(runtime, bus))
                await asyncio.gather(*tasks)
        finally:
            self.bridge = None
            await bridge.close()
            if own_bus:
                await bus.close()

    async def _watch_replay(self, runtime, bus: Bus) -> None:
        text = await self.runner.replay_finished(runtime, bus)  # type: ignore[union-attr]
        log.info("%s", text)
        self.state.replay_done = text
        self.notify(text, title="Replay", timeout=30)

    async def stop_pipeline(self) -> None:
        """Stop the bridge and, if it runs here, the pipeline; waits so no worker is left half-stopped."""
        worker = self._serve_worker
        if worker is None or worker.is_finished:
            return
        worker.cancel()
        try:
            await asyncio.wait_for(worker.wait(), STOP_TIMEOUT_S)
        except Exception:  # noqa: BLE001 - cancelled (expected), failed (already reported) or too slow (logged)
            if not worker.is_finished:
                log.error("the pipeline did not stop within %.0f s", STOP_TIMEOUT_S)

    async def on_unmount(self) -> None:
        await self.stop_pipeline()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR:
            return
        err = event.worker.error
        log.error("desk worker %s failed", event.worker.name, exc_info=err)
        title = err.title if isinstance(err, TuiTraderError) else "Pipeline stopped"
        text = err.message if isinstance(err, TuiTraderError) else f"{type(err).__name__}: {err}"
        self.notify(text.splitlines()[0] if text else title, title=title, severity="error", timeout=30)

    # --- drawing --------------------------------------------------------------------------------------

    @property
    def main_screen(self) -> MainScreen | None:
        for screen in self.screen_stack:
            if isinstance(screen, MainScreen):
                return screen
        return None

    def view(self) -> View:
        main = self.main_screen
        bridge = self.bridge
        return View(
            state=self.state,
            settings=self.settings,
            now_ms=self.clock.now_ms(),
            colours=self.colours(),
            lag=bridge.lag() if bridge is not None else {},
            backend=bridge.bus.backend if bridge is not None else "connecting",
            narrow=main.narrow if main is not None else True,
            throttled_hz=self.throttle.hz if self.throttle.throttled else None,
            rearm_key=self.key_label("rearm"),
        )

    async def _tick(self) -> None:
        """The UI clock: a tick that finds the previous one still drawing is skipped, never queued."""
        if not self._refresh_lock.locked():
            await self.refresh_desk()
        if self.adaptive_refresh and self.throttle.sample(time.monotonic(), cpu_demand(), self.draw_time):
            self._arm_clock()

    def _arm_clock(self) -> None:
        self._timer.stop()
        self._timer = self.set_interval(self.throttle.interval_s, self._tick)

    async def refresh_desk(self) -> None:
        """Read what arrived, redraw the screens on view, show notices. Never two at once: a caller that
        finds one drawing waits for it, then draws again (so what it just did is on screen)."""
        if not self.is_running:
            return
        async with self._refresh_lock:
            await self._refresh()

    async def _refresh(self) -> None:
        started = None
        try:
            if self.bridge is not None:
                await self.bridge.drain()
            self._answer_reconciliation()
            # Reading is the same work at any refresh rate; only what follows is drawing (the throttle's).
            started = time.perf_counter()
            view = self.view()
            replay = self.runner.describe() if self.runner is not None else ""
            with self.batch_update():
                for screen in reversed(self.screen_stack):
                    render = getattr(screen, "render_view", None)
                    # A pushed screen mounts its panes over the next few event-loop turns (longer while the
                    # pipeline starts up in this process): draw it once they are all there.
                    if render is not None and screen.is_mounted:
                        render(view, replay)
                    if not screen.is_modal:
                        break  # screens under a full screen are not on view
            self._show_notices()
            if self.state.alarm_count != self._bells:
                self._bells = self.state.alarm_count
                self.bell()  # the watchdog's alarm: heard even when the trader looks elsewhere
        except Exception as err:
            text = f"{type(err).__name__}: {err}"[:200]
            now = time.monotonic()
            # Every tick would repeat it: log and show each distinct error once a minute at most.
            if now - self._draw_errors.get(text, -1e9) > 60:
                self._draw_errors[text] = now
                # Shown here; kept out of the bridge's error notices, which would show it a second time.
                log.exception("the desk could not redraw", extra={SHOWN_BY_DESK: True})
                self.notify(text, title="Display error (details in the log)", severity="error")
        finally:
            if started is not None:
                self.draw_time += time.perf_counter() - started

    def _answer_reconciliation(self) -> None:
        """The executor asks before it trades live: differences between the journal and the exchange.
        Ask the trader once per round (the question is repeated until answered)."""
        h = self.state.health.get(m.RECONCILE_COMPONENT)
        if h is None or h.state != "waiting" or h.question is None:
            return
        from tui_trader.ui.screens.reconcile import ReconcileScreen

        question = h.question
        if question.round in self._reconcile_asked:
            return
        self._reconcile_asked.add(question.round)

        def answered(choices: dict[str, str] | None, round_id: str = question.round) -> None:
            answer = m.ReconcileAnswer(round=round_id, choices=choices or {})
            self.run_worker(self.send("reconcile", answer=answer), group="reconcile", exit_on_error=False)

        self.push_screen(ReconcileScreen(question.differences, question.exchange), answered)

    def _show_notices(self) -> None:
        notices = self.state.notices
        shown = 0
        while notices and shown < NOTICES_PER_TICK:
            n = notices.popleft()
            self.notify(n.message, title=n.title, severity=n.severity, timeout=8 if n.severity == "error" else 5)
            shown += 1
        if notices:
            self.notify(
                f"{len(notices)} more; see the log ({paths.log_file()})", title="More notices", severity="warning"
            )
            notices.clear()


def run_desk(
    settings: Settings,
    settings_path: Path | None = None,
    replay_files: Sequence[str] = (),
    speed: float | None = 1.0,
    saved_settings: Settings | None = None,
) -> int:
    runner = LocalPipeline(settings, replay_files, speed)
    app = DeskApp(settings, settings_path=settings_path, runner=runner, saved_settings=saved_settings)
    app.run()
    return app.return_code or 0
