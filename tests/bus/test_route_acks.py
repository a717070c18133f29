"""Quick ACKs on the route to the Fluvio cluster: read from `ip route get`, reported by the doctor and by a
Fluvio connect, so a trader learns why each hop costs ~40 ms more and how to fix it."""

from __future__ import annotations

import logging
import shutil
import subprocess

import pytest
from contract.fluvio_kit import FLUVIO, FLUVIO_SKIP

from tui_trader.bus import route_acks
from tui_trader.doctor.local import check_bus_acks
from tui_trader.settings import Settings, parse, to_dict

# What `ip route get 127.0.0.1` prints (iproute2 6.x), without and with `quickack 1` on the route.
PLAIN = "local 127.0.0.1 dev lo src 127.0.0.1 uid 0 \n    cache <local> \n"
QUICK = "local 127.0.0.1 dev lo src 127.0.0.1 uid 0 \n    cache <local> quickack 1 \n"
QUICK_OFF = "10.0.0.7 via 10.0.0.1 dev eth0 src 10.0.0.5 uid 0 \n    cache quickack 0 \n"


def answering(stdout: str, returncode: int = 0):
    asked: list[list[str]] = []

    def run(cmd, **_kw):
        asked.append(cmd)
        return subprocess.CompletedProcess(cmd, returncode, stdout=stdout, stderr="")

    run.asked = asked  # type: ignore[attr-defined]
    return run


def test_quickack_is_read_from_the_route_ip_prints():
    assert route_acks.quickack_in(QUICK)
    assert not route_acks.quickack_in(PLAIN)
    assert not route_acks.quickack_in(QUICK_OFF)


def test_the_route_to_the_endpoints_address_is_asked():
    run = answering(QUICK)
    assert route_acks.route_quickack("localhost:9003", run=run) == (True, "127.0.0.1")
    assert run.asked == [["ip", "route", "get", "127.0.0.1"]]
    assert route_acks.route_quickack("127.0.0.1:9003", run=answering(PLAIN)) == (False, "127.0.0.1")


def test_what_cannot_be_told_is_none_not_a_guess():
    def no_ip(cmd, **_kw):
        raise FileNotFoundError("ip")

    assert route_acks.route_quickack("127.0.0.1:9003", run=no_ip)[0] is None
    assert route_acks.route_quickack("127.0.0.1:9003", run=answering("", returncode=2))[0] is None
    assert route_acks.route_quickack("no-such-host.invalid:9003", run=answering(QUICK))[0] is None
    # An empty endpoint means the Fluvio profile's cluster, whose address is not known here.
    assert route_acks.route_quickack("", run=answering(QUICK))[0] is None


@pytest.mark.skipif(shutil.which("ip") is None, reason="no `ip` command here (not Linux): no route to read")
def test_this_machines_loopback_route_is_read_as_ip_prints_it():
    printed = subprocess.run(["ip", "route", "get", "127.0.0.1"], capture_output=True, text=True, check=True).stdout
    assert route_acks.route_quickack("127.0.0.1:9003") == (route_acks.quickack_in(printed), "127.0.0.1")


def fluvio_settings() -> Settings:
    data = to_dict(Settings())
    data["bus"]["backend"] = "fluvio"
    data["bus"]["fluvio_endpoint"] = "127.0.0.1:9003"
    return parse(data, "test")


def test_the_doctor_warns_with_the_fix_when_acks_are_delayed(monkeypatch):
    monkeypatch.setattr(route_acks, "route_quickack", lambda endpoint: (False, "127.0.0.1"))
    check = check_bus_acks(fluvio_settings())
    assert check is not None and check.status == "warn"
    assert "40 ms" in check.detail and "ip route change" in check.detail and "quickack 1" in check.detail
    monkeypatch.setattr(route_acks, "route_quickack", lambda endpoint: (True, "127.0.0.1"))
    check = check_bus_acks(fluvio_settings())
    assert check is not None and check.status == "ok"
    monkeypatch.setattr(route_acks, "route_quickack", lambda endpoint: (None, "127.0.0.1"))
    check = check_bus_acks(fluvio_settings())
    assert check is not None and check.status == "info"
    assert check_bus_acks(Settings()) is None  # the embedded bus has no network


@pytest.mark.fluvio
@pytest.mark.skipif(not FLUVIO, reason=FLUVIO_SKIP)
async def test_a_fluvio_connect_says_once_when_the_route_delays_acks(monkeypatch, caplog):
    from tui_trader.bus import fluvio_bus

    monkeypatch.setattr(fluvio_bus, "_acks_checked", set())
    monkeypatch.setattr(route_acks, "route_quickack", lambda endpoint: (False, "127.0.0.1"))
    caplog.set_level(logging.WARNING, logger="tui_trader.bus.fluvio_bus")
    for _ in range(2):
        bus = await fluvio_bus.FluvioBus(FLUVIO, connect_timeout_s=10).connect()
        await bus.close()
    warned = [r.getMessage() for r in caplog.records if "quick ACKs" in r.getMessage()]
    assert len(warned) == 1 and "ip route change" in warned[0]
