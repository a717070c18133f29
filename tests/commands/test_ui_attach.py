"""`tui-trader ui --attach --set …`: the overrides are for this run; what the settings screen saves is the file's."""

from __future__ import annotations

from pathlib import Path

from tui_trader import cli
from tui_trader.bus import EmbeddedBus


def test_attach_with_set_hands_the_desk_the_files_settings_to_save(tmp_path: Path, monkeypatch) -> None:
    config = tmp_path / "settings.toml"
    config.write_text('[bus]\nbackend = "fluvio"\n\n[risk]\ncooldown_s = 60.0\n')
    seen: dict[str, object] = {}

    async def embedded(_bus_settings: object) -> EmbeddedBus:
        return EmbeddedBus()  # the cluster is not what this test is about: the desk never reads from it

    class Desk:
        return_code = 0

        def __init__(self, settings, *, settings_path, bus, saved_settings) -> None:
            seen.update(settings=settings, saved=saved_settings, path=settings_path)

        def run(self) -> None:
            pass

    monkeypatch.setattr("tui_trader.commands.ui.open_bus", embedded)
    monkeypatch.setattr("tui_trader.ui.app.DeskApp", Desk)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    code = cli.main(["ui", "--attach", "--config", str(config), "--set", "risk.cooldown_s=5"])
    assert code == 0
    assert seen["settings"].risk.cooldown_s == 5.0  # this run acts on the override
    assert seen["saved"].risk.cooldown_s == 60.0  # a save writes back the file's value, not the override
    assert seen["path"] == config
