"""Every filesystem location the desk uses, in one place (XDG base directories).

No other module builds paths from the environment; tests point XDG_* at a temporary directory.
"""

from __future__ import annotations

import os
from pathlib import Path

APP_DIR = "tui-trader"


def _xdg(var: str, fallback: str) -> Path:
    value = os.environ.get(var)
    base = Path(value) if value else Path.home() / fallback
    return base / APP_DIR


def config_dir() -> Path:
    return _xdg("XDG_CONFIG_HOME", ".config")


def data_dir() -> Path:
    return _xdg("XDG_DATA_HOME", ".local/share")


def state_dir() -> Path:
    return _xdg("XDG_STATE_HOME", ".local/state")


def user_settings_file() -> Path:
    """The user's own copy of settings.toml, used when present and no --config is given."""
    return config_dir() / "settings.toml"


def secrets_file() -> Path:
    """Default secrets file (mode 0600): API keys never live in settings.toml."""
    return config_dir() / "secrets.toml"


def log_file() -> Path:
    return state_dir() / "tui-trader.log"


def journal_file() -> Path:
    return data_dir() / "journal.sqlite3"


def project_root() -> Path | None:
    """The source checkout this package runs from (editable install), if any."""
    root = Path(__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").is_file() else None


def theme_dirs() -> list[Path]:
    """Theme folders, built-in first, so a user theme of the same name wins."""
    dirs = []
    root = project_root()
    if root is not None:
        dirs.append(root / "themes")
    dirs.append(config_dir() / "themes")
    return dirs


def shared_data_dir() -> Path | None:
    """Real captures for replays and tests: $TUI_TRADER_DATA or ../shared/data beside the checkout."""
    env = os.environ.get("TUI_TRADER_DATA")
    if env:
        p = Path(env)
        return p if p.is_dir() else None
    root = project_root()
    if root is not None:
        p = root.parent / "shared" / "data"
        if p.is_dir():
            return p
    return None
