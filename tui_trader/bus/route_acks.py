"""Whether the route to the Fluvio cluster acknowledges at once (Linux's `quickack` route attribute).

Fluvio's SPU and its client leave Nagle's algorithm on (neither sets TCP_NODELAY). While records flow, a
small write then waits until the peer has acknowledged the previous one, and Linux delays an ACK by up to
40 ms: each hop between two processes costs ~40-90 ms, and a signal crosses two (collector → indicator →
signals topic). With `quickack 1` on the route (ip-route(8)) ACKs go out at once: on a loopback cluster,
p99 receipt → signal at 5,000 msgs/s went from ~140 ms to ~8 ms.

`ip route get <address>` prints the route a packet to that address takes, with `quickack 1` when set.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Callable

IP_TIMEOUT_S = 2.0


def quickack_in(route_get_output: str) -> bool:
    """Whether `ip route get` printed a route with quick ACKs on."""
    words = route_get_output.split()
    return any(w == "quickack" and i + 1 < len(words) and words[i + 1] == "1" for i, w in enumerate(words))


def host_of(endpoint: str) -> str:
    """The host of a `host:port` endpoint (an IPv6 address in brackets loses them)."""
    host = endpoint.rsplit(":", 1)[0] if ":" in endpoint else endpoint
    return host.strip("[]")


def route_quickack(
    endpoint: str, run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run
) -> tuple[bool | None, str]:
    """(on, address) for the route to `endpoint`'s host: True or False, or None when it cannot be told (no
    `ip` command — not Linux —, a name that does not resolve, an error; an empty endpoint: the address is in
    the Fluvio profile, not known here)."""
    host = host_of(endpoint)
    if not host:
        return None, "the active Fluvio profile's cluster"
    try:
        address = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)[0][4][0]
    except (OSError, IndexError):
        return None, host
    try:
        done = run(["ip", "route", "get", str(address)], capture_output=True, text=True, timeout=IP_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError):
        return None, str(address)
    if done.returncode != 0:
        return None, str(address)
    return quickack_in(done.stdout), str(address)


def advice(address: str) -> str:
    """What the trader reads when quick ACKs are off on the route to the cluster."""
    return (
        f"the route to {address} has no quick ACKs: Fluvio's SPU and client leave Nagle's algorithm on, so "
        "while records flow each one can wait up to 40 ms for a delayed ACK per hop (p99 receipt → signal "
        f"~140 ms instead of ~8 ms). As root, on every machine of the deployment: `ip route get {address}`, "
        "then `ip route change <that route> quickack 1` (systemd-networkd: QuickAck=yes in the [Route])"
    )
