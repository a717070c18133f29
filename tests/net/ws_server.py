"""What every loopback websocket test server shares: serving on a free port of 127.0.0.1, stopping, and
waiting for clients. A venue's server adds its protocol (`_handle`) and the paths it accepts (`_check_path`)."""

from __future__ import annotations

import asyncio
from typing import Any, Self

from websockets.asyncio.server import ServerConnection, serve


class LoopbackWsServer:
    connections: list[Any]
    url: str
    _server: Any

    async def _handle(self, connection: ServerConnection) -> None:
        raise NotImplementedError

    def _check_path(self, connection: ServerConnection, request: Any) -> Any:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        self._server = await serve(self._handle, "127.0.0.1", 0, process_request=self._check_path, ping_interval=None)
        self.url = f"ws://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await asyncio.wait_for(self._server.wait_closed(), 5)

    async def wait_connections(self, n: int, timeout: float = 10.0) -> None:
        from kit.wait import until  # here, not at the top: the kit imports these servers

        await until(lambda: len(self.connections) >= n, f"{n} client connection(s)", timeout)
