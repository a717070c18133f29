"""A screen that measures what drawing it costs, for the desk's adaptive refresh (throttle.py).

Why it overrides two private methods of Textual's Screen: the desk's own pane updates are a small part of
drawing; most of the time goes into Textual laying the screen out (`_refresh_layout`) and compositing the
changed regions (`_compositor_refresh`), which run later, from Textual's own idle handling, where no public
hook reaches. Without counting them the throttle would see a fraction of the cost and never slow the desk
down while a replay needs the CPU. The names are checked by tests/ui/test_timed_screen.py, so a Textual
upgrade that renames them fails there rather than silently turning the measurement off.
"""

from __future__ import annotations

import time

from textual.geometry import Size
from textual.screen import Screen


class TimedScreen(Screen[object]):
    """A screen that adds the time Textual spends laying it out and compositing it to `app.draw_time`."""

    def _compositor_refresh(self) -> None:
        started = time.perf_counter()
        try:
            super()._compositor_refresh()
        finally:
            self._add_draw_time(time.perf_counter() - started)

    def _refresh_layout(self, size: Size | None = None, scroll: bool = False) -> None:
        started = time.perf_counter()
        try:
            super()._refresh_layout(size, scroll)
        finally:
            self._add_draw_time(time.perf_counter() - started)

    def _add_draw_time(self, seconds: float) -> None:
        # Any app may show the screen (tests); only one that keeps the figure (the desk) is told.
        add = getattr(self.app, "add_draw_time", None)
        if add is not None:
            add(seconds)
