"""Where the notification URLs come from, and how they stay secret.

An apprise URL carries its credentials in the URL itself (a Telegram bot token is the "host" of tgram://,
a Discord webhook token a path segment), so the URLs are treated like API keys: read from the environment
(`TUI_TRADER_NOTIFY_URLS`) or the 0600 secrets file (`notify_urls = [...]`), never from settings.toml, and
never written anywhere. Every text that may hold one (an error from a send) goes through `Scrubber` first;
a URL is named by its position and scheme only ("url 2 (tgram)").
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence

from tui_trader.settings import Settings, load_secrets

ENV_URLS = "TUI_TRADER_NOTIFY_URLS"

# URLs are separated by whitespace, or by a comma that starts the next URL: a comma inside one URL (mailto's
# list of recipients) stays part of it.
_SPLIT = re.compile(r"\s+|,(?=\s*[A-Za-z][A-Za-z0-9+.-]*://)")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_PARTS = re.compile(r"[/:@?&=#,;\s]+")
# Pieces shorter than this are not worth hiding (ports, "chat", "1") and would mangle ordinary words.
MIN_SECRET_LEN = 4


def split_urls(text: str) -> list[str]:
    return [u.strip(" ,") for u in _SPLIT.split(text) if u and u.strip(" ,")]


def notify_urls(settings: Settings, env: Mapping[str, str] | None = None) -> list[str]:
    """The URLs from the environment if set, else from the secrets file (SecretsError if it is unsafe)."""
    env = os.environ if env is None else env
    from_env = env.get(ENV_URLS, "")
    if from_env.strip():
        return split_urls(from_env)
    # An empty environment makes load_secrets read the file (the API keys' variables are not wanted here).
    return [u for raw in load_secrets(settings, {}).notify_urls for u in split_urls(raw)]


def label(index: int, url: str) -> str:
    """How a URL is named in logs and on the desk: its position and scheme, nothing of its secrets."""
    m = _SCHEME.match(url)
    return f"url {index + 1} ({m.group(1).lower() if m else 'not a URL'})"


class Scrubber:
    """Removes every piece of the configured URLs from a text (an error message from a send)."""

    def __init__(self, urls: Sequence[str]) -> None:
        pieces: set[str] = set()
        for url in urls:
            pieces.add(url)
            body = _SCHEME.sub("", url)
            pieces.add(body)
            pieces.update(p for p in _PARTS.split(body) if len(p) >= MIN_SECRET_LEN)
        # Longest first, so a whole URL goes before the pieces inside it.
        self._pieces = sorted(pieces, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for piece in self._pieces:
            if piece in text:
                text = text.replace(piece, "***")
        return text
