"""See the reconciliation screen against a mock exchange, the way a desk will wire it (run it in a terminal).

    python -m tests.net.mock_binance --port 18080            # in one terminal
    python tests/reconcile/demo_desk.py --url http://127.0.0.1:18080 --journal /tmp/demo.sqlite3 --seed

`--seed` first plays the scenario of reckit.py on the mock (a journaled BTCUSDT position whose protection is
then canceled by hand, an ETHUSDT position bought by hand, a stray stop on SOLUSDT). Then an executor starts
in this process with `shared["interactive"] = True`; this tiny app watches `trading-health`, pushes
`ReconcileScreen` when the executor asks (component "reconcile", state "waiting"), sends the answer as
`Control(command="reconcile")` and shows what the executor did. Test keys only: never real ones.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ (for net.*)
sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/reconcile (for reckit)

from reckit import Desk, first_session, live_settings, outside_changes, set_keys
from textual.app import App, ComposeResult
from textual.widgets import Footer, Static

from tui_trader import messages as m
from tui_trader import ui
from tui_trader.ui.screens.reconcile import ReconcileScreen


class DemoDesk(App):
    CSS_PATH = str(Path(ui.__file__).parent / "desk.tcss")  # the desk's dialogs look as they will in the desk
    BINDINGS: ClassVar = [("q", "quit", "Quit")]

    def __init__(self, url: str, journal: str) -> None:
        super().__init__()
        self.settings = live_settings(url, journal, poll_s=1.0)
        self.desk: Desk | None = None
        self.asked: set[str] = set()
        self.lines: list[str] = []
        self.seen = 0

    def compose(self) -> ComposeResult:
        yield Static("starting the executor…", id="log", markup=False)
        yield Footer()

    async def on_mount(self) -> None:
        self.desk = Desk(self.settings, interactive=True)
        await self.desk.__aenter__()
        self.set_interval(0.2, self.tick)

    async def on_unmount(self) -> None:
        if self.desk is not None:
            await self.desk.__aexit__(None, None, None)

    def tick(self) -> None:
        desk = self.desk
        assert desk is not None
        states = [h for h in desk.health if h.component == "reconcile"]
        for h in states[self.seen :]:
            if h.state != "waiting":
                self.lines.append(f"reconcile {h.state}: {h.detail}")
                continue
            request = h.question
            assert request is not None
            if request.round not in self.asked:  # re-announced every few seconds: ask once per round
                self.asked.add(request.round)
                self.lines.append(f"reconcile waiting: {len(request.differences)} differences, asking the desk")
                self.push_screen(
                    ReconcileScreen(request.differences, request.exchange),
                    lambda choices, r=request.round: self.run_worker(self.answer(r, choices)),
                )
        self.seen = len(states)
        statuses = [f"  {s.symbol} {s.purpose} {s.status} {s.filled_qty:g}" for s in desk.statuses]
        self.query_one("#log", Static).update("\n".join([*self.lines, "", "order statuses:", *statuses]))

    async def answer(self, round_id: str, choices: dict[str, str] | None) -> None:
        assert self.desk is not None
        c = m.Control(
            command="reconcile",
            answer=m.ReconcileAnswer(round=round_id, choices=choices or {}),
            origin="desk",
            ts=self.desk.ctx.clock.now_ms(),
        )
        await self.desk.bus.publish(m.CONTROL, "desk", m.encode(c))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the mock exchange, e.g. http://127.0.0.1:18080")
    parser.add_argument("--journal", required=True, help="journal file (kept between runs)")
    parser.add_argument("--seed", action="store_true", help="play the scenario on the mock first")
    args = parser.parse_args()
    set_keys(os.environ)
    if args.seed:

        async def seed() -> None:
            await first_session(args.url, args.journal)
            await outside_changes(args.url)

        asyncio.run(seed())
    DemoDesk(args.url, args.journal).run()


if __name__ == "__main__":
    main()
