"""The desk in a real terminal: tmux runs `tui-trader --replay <capture>`, the test waits for a position,
presses the kill key (F12) and reads the screen for HALTED and the kill's close in the order log; and it types
readline's editing keys into every text field of the settings screen, where the desk must stay armed until
the kill key is pressed in that same field.

Skipped with the reason where tmux or the shared captures are absent.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tui_trader import settings as settings_mod

TMUX = shutil.which("tmux")
pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed: the real-terminal test needs it")

KILL_ROW = re.compile(r"\bsell\b.*\bkill\b.*\bfilled\b")


class Terminal:
    """A tmux session on a private server (its own socket): never touches the user's tmux."""

    def __init__(self, name: str, width: int, height: int, command: str) -> None:
        self.socket = name
        self.target = name
        self._tmux("new-session", "-d", "-s", name, "-x", str(width), "-y", str(height), command)

    def _tmux(self, *args: str) -> str:
        out = subprocess.run([TMUX, "-L", self.socket, *args], capture_output=True, text=True, timeout=10)  # type: ignore[list-item]
        if out.returncode != 0:
            raise RuntimeError(f"tmux {args[0]} failed: {out.stderr.strip()}")
        return out.stdout

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", self.target)

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", self.target, *keys)

    def wait(self, condition: Callable[[str], bool], what: str, timeout: float) -> str:
        """Poll the screen until `condition(screen)`; fail with what the screen showed after `timeout`."""
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            try:
                text = self.screen()
            except RuntimeError:  # the program ended and took the session with it: nothing on screen now
                if condition(""):
                    return ""
                break
            if condition(text):
                return text
            time.sleep(0.1)  # poll interval of a bounded wait for a condition
        try:
            size = self._tmux("display", "-p", "-t", self.target, "#{window_width}x#{window_height}").strip()
        except RuntimeError:
            size = "gone"
        raise AssertionError(f"timed out after {timeout:g} s waiting for {what}; the screen ({size}):\n{text}")

    def close(self) -> None:
        subprocess.run([TMUX, "-L", self.socket, "kill-server"], capture_output=True, timeout=10)  # type: ignore[list-item]


def desk_command(tmp_path: Path, capture: Path, speed: int) -> str:
    # One-second bars give signals within a minute of the capture; positions stay open ("ignore" opposite
    # signals) so the kill switch has something to flatten.
    data = settings_mod.to_dict(settings_mod.Settings())
    data["indicators"].update(bar="1s", warmup=False)
    data["trading"]["min_signal_strength"] = 0.55
    data["risk"]["on_opposite"] = "ignore"
    data["journal"]["path"] = str(tmp_path / "journal.sqlite3")
    config = settings_mod.save(settings_mod.parse(data), tmp_path / "settings.toml")
    env = {f"XDG_{k}_HOME": str(tmp_path / k.lower()) for k in ("CONFIG", "DATA", "STATE")}
    env["TEXTUAL_ANIMATIONS"] = "none"
    assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    # `exec env ...` so the pane holds nothing but the desk; when it exits, the session ends. COLUMNS and
    # LINES go: Textual would take them over the terminal's real size (pytest's environment has 80×24).
    return (
        f"exec env -u COLUMNS -u LINES {assignments} {shlex.quote(sys.executable)} -m tui_trader --config {shlex.quote(str(config))} "
        f"--replay {shlex.quote(str(capture))} --speed {speed}"
    )


@pytest.mark.parametrize("size", [(160, 48), (80, 24)], ids=["160x48", "80x24"])
def test_kill_switch_in_a_real_terminal(btc_capture, tmp_path, size):
    width, height = size
    term = Terminal(f"tui-trader-test-{os.getpid()}-{width}", width, height, desk_command(tmp_path, btc_capture, 20))
    try:
        term.wait(lambda s: "PAPER" in s and "Quit" in s, "the desk to appear", timeout=20)
        if width < 120:
            term.keys("3")  # small terminal: the positions tab
        term.wait(lambda s: "Positions (1 open)" in s, "a position to open", timeout=40)
        term.keys("F12")
        halted = term.wait(
            lambda s: "HALTED" in s and "Positions (0 open)" in s, "HALTED and the position closed", timeout=15
        )
        assert "ctrl+r re-arms" in halted
        if width < 120:
            term.keys("4")  # the order log tab
        log = term.wait(
            lambda s: any(KILL_ROW.search(line) for line in s.splitlines()),
            "the kill's close in the order log",
            timeout=10,
        )
        assert "HALTED" in log
        term.keys("q")  # nothing open any more: quits without asking
        term.wait(lambda s: "Quit" not in s, "the desk to quit", timeout=15)
    finally:
        term.close()


READLINE_KEYS = ("C-a", "C-e", "C-k", "C-u", "C-w")  # home, end, kill to end, kill to start, kill word


def test_readline_keys_in_every_settings_field_leave_the_desk_armed_and_the_kill_key_halts(btc_capture, tmp_path):
    from tui_trader.ui.settings_form import field_specs

    specs = field_specs()
    sections = list(dict.fromkeys(spec.section for spec in specs))
    term = Terminal(f"tui-trader-test-{os.getpid()}-fields", 80, 24, desk_command(tmp_path, btc_capture, 1))
    try:
        term.wait(lambda s: "PAPER" in s and "Quit" in s, "the desk to appear", timeout=20)
        term.keys("s")
        term.wait(lambda s: "Settings ·" in s, "the settings screen", timeout=10)
        typed = 0
        for n, section in enumerate(sections):
            if n:
                term.keys("C-NPage")  # the next section, its first field focused
            first = next(spec for spec in specs if spec.section == section)
            term.wait(lambda s, name=first.name: name in s, f"the {section} section", timeout=10)
            for spec in (spec for spec in specs if spec.section == section):
                if spec.kind not in ("bool", "choice"):  # a text field
                    term.keys(*READLINE_KEYS)
                    typed += 1
                term.keys("Tab")  # the next field (the section's own focus order)
            screen = term.wait(lambda s: "invalid value" in s or "change" in s, "the edits to show", timeout=15)
            assert "HALTED" not in screen, f"an editing key halted the desk in the {section} section:\n{screen}"
        assert typed >= 40
        term.keys("S-Tab")  # back into the last section's last field
        screen = term.screen()
        assert "HALTED" not in screen and "KILL" not in screen.split("Settings")[0]
        term.keys("F12")
        halted = term.wait(lambda s: "HALTED" in s, "HALTED on the settings screen", timeout=15)
        assert "re-arms" in halted
    finally:
        term.close()
