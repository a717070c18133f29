"""A port on 127.0.0.1 where nothing listens: a client pointed there is refused at once, never sent off-box."""

from __future__ import annotations

import socket


def closed_port() -> int:
    """A port the OS just handed out and that is closed again (nothing listens on it: connecting is refused).

    Another process could take it in between; on a test machine that is rare enough, and the failure it would
    cause (a connection that is accepted) is loud."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
