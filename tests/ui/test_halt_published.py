"""Paused and halted have one owner, the router: the desk shows what the router published, whenever it
attached and whatever its own clock says, and never decides them from the keys it sent."""

from __future__ import annotations

import desk_canned as canned
from desk_helpers import SMALL, ready
from kit import Tap, until

from tui_trader import messages as m
from tui_trader.bus import EmbeddedBus, EmbeddedCluster
from tui_trader.clock import FixedClock
from tui_trader.instruments import RulesBook
from tui_trader.journal import Journal
from tui_trader.runtime import Pipeline
from tui_trader.settings import Settings
from tui_trader.ui.app import DeskApp
from tui_trader.ui.widgets.status import HaltBanner, StatusBar
from tui_trader.workers import WorkerContext
from tui_trader.workers.router import RouterWorker

T0 = canned.NOW


class Router:
    """A real router worker in its own "process": its own bus handle on the cluster, its own clock."""

    def __init__(self, cluster: EmbeddedCluster, clock_ms: int) -> None:
        self.bus = EmbeddedBus(cluster)
        self.journal = Journal(":memory:")
        self.ctx = WorkerContext(
            settings=Settings(),
            bus=self.bus,
            clock=FixedClock(clock_ms),
            shared={"instruments": RulesBook(), "journal": self.journal},
        )
        self.runtime = Pipeline(self.ctx, workers=[RouterWorker(self.ctx)])
        self.health: Tap[m.Health] | None = None

    async def __aenter__(self) -> Router:
        await self.runtime.start()
        self.health = await Tap[m.Health](self.bus, m.HEALTH).start()
        # It announces itself once its read positions are set: a control published from then on is read.
        await until(self.state, "the router to announce itself")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.health is not None:
            await self.health.close()
        await self.runtime.stop()
        self.journal.close()

    def state(self) -> str:
        assert self.health is not None
        mine = [h for h in self.health.items if h.component == m.ROUTER_COMPONENT]
        return mine[-1].state if mine else ""

    async def control(self, command: m.ControlCommand, origin: str) -> None:
        c = m.Control(command=command, origin=origin, ts=self.ctx.clock.now_ms())
        await self.bus.publish(m.CONTROL, origin, m.encode(c))


def banner(app: DeskApp) -> HaltBanner:
    return app.screen.query_one(HaltBanner)


def status(app: DeskApp) -> str:
    return app.screen.query_one(StatusBar).shown


async def test_a_desk_attached_after_a_kill_shows_halted_from_the_routers_record(tmp_path):
    cluster = EmbeddedCluster()
    async with Router(cluster, T0) as router:
        await router.control("kill", "desk-2")
        await until(lambda: router.state() == "halted", "the router to halt")
        app = DeskApp(Settings(), bus=EmbeddedBus(cluster), clock=FixedClock(T0), settings_path=tmp_path / "s.toml")
        async with app.run_test(size=SMALL) as pilot:
            await ready(pilot, router=False)
            await until(lambda: banner(app).display, "the HALTED banner")
            assert "kill switch (desk-2)" in banner(app).shown and "HALTED" in status(app)
            await pilot.press("ctrl+r", "y")  # re-armed by the router: still paused until resumed
            await until(lambda: not banner(app).display, "the banner to go once the router re-arms")
            assert router.state() == "paused" and "PAUSED" in status(app)


async def test_the_badge_follows_a_restarted_router_even_when_the_desks_clock_runs_ahead(tmp_path):
    cluster = EmbeddedCluster()
    # The routers' machine is a minute behind the desk's: every record they publish is "older" than the key.
    app = DeskApp(Settings(), bus=EmbeddedBus(cluster), clock=FixedClock(T0 + 60_000), settings_path=tmp_path / "s")
    async with app.run_test(size=SMALL) as pilot:
        async with Router(cluster, T0) as router:
            await ready(pilot, router=False)
            await pilot.press("p")
            await until(lambda: router.state() == "paused", "the router to pause")
            await until(lambda: "PAUSED" in status(app), "PAUSED on the desk")
        # A pause is not kept across a restart (only the kill's halt is): the new router trades.
        async with Router(cluster, T0 + 1_000) as restarted:
            assert restarted.state() == "trading"
            await until(lambda: "PAUSED" not in status(app), "the desk to show the restarted router trading")
            assert not app.state.paused and not app.state.halted


async def test_a_kill_with_no_router_to_act_on_it_is_not_shown_as_halted(desk, bus):
    app = desk()
    async with app.run_test(size=SMALL) as pilot:
        await ready(pilot, router=False)
        await pilot.press("f12")
        await app.refresh_desk()
        assert not banner(app).display and "HALTED" not in status(app), "nothing halted: no router heard the kill"
