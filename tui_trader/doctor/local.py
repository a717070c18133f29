"""Checks on this machine: the journal file and the bus."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from tui_trader import paths
from tui_trader.bus import open_bus, route_acks
from tui_trader.doctor.report import Check
from tui_trader.errors import TuiTraderError
from tui_trader.journal import Journal
from tui_trader.settings import Settings


def _why(err: BaseException) -> str:
    if isinstance(err, TuiTraderError):
        return err.message
    if isinstance(err, OSError):
        where = f" {err.filename}" if err.filename else ""
        return f"cannot create or open{where}: {err.strerror or err}"
    return str(err) or type(err).__name__


def check_journal(settings: Settings, timeout: float) -> Check:
    """The journal opens as the desk opens it, and a write lock can be taken within `timeout` seconds.

    The lock is taken in a transaction that is rolled back at once: nothing is written to the journal.
    """
    path = Path(settings.journal.path) if settings.journal.path else paths.journal_file()
    try:
        # Opening takes the journal's single-writer lock: another desk or executor on this file is named.
        journal = Journal(path)
    except (TuiTraderError, sqlite3.Error, OSError, RuntimeError) as err:
        why = _why(err)
        return Check(name="journal", status="fail", detail=why if str(path) in why else f"{path}: {why}")
    try:
        version = journal.schema_version
        probe = sqlite3.connect(path, timeout=timeout, isolation_level=None)
        try:
            # BEGIN IMMEDIATE takes SQLite's write lock: it fails if the file or its folder is read-only,
            # or if another process keeps a write transaction open for longer than `timeout`.
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
        finally:
            probe.close()
    except sqlite3.OperationalError as err:
        text = str(err)
        if "locked" in text or "busy" in text:
            text = f"another process holds its write lock (no write possible within {timeout:g} s)"
        elif "readonly" in text:
            text = "not writable (read-only file or folder)"
        return Check(name="journal", status="fail", detail=f"{path}: {text}")
    except sqlite3.Error as err:
        return Check(name="journal", status="fail", detail=f"{path}: {err}")
    finally:
        journal.close()
    return Check(
        name="journal", status="ok", detail=f"{path} (schema {version}): opens, writable, no other process holds it"
    )


async def check_bus(settings: Settings, timeout: float) -> Check:
    try:
        bus = await asyncio.wait_for(open_bus(settings.bus), timeout)
    except TuiTraderError as err:
        return Check(name="bus", status="fail", detail=err.message)
    except TimeoutError:
        where = settings.bus.fluvio_endpoint or "the active profile"
        return Check(
            name="bus", status="fail", detail=f"no answer from the Fluvio cluster at {where} within {timeout:g} s"
        )
    await bus.close()
    if settings.bus.backend == "embedded":
        return Check(name="bus", status="ok", detail="embedded (in-process, no server needed)")
    return Check(
        name="bus", status="ok", detail=f"fluvio at {settings.bus.fluvio_endpoint or 'the active profile'} reachable"
    )


def check_bus_acks(settings: Settings) -> Check | None:
    """On Fluvio: whether the route to the cluster sends ACKs at once (see bus/route_acks); None on the
    embedded bus, which has no network."""
    if settings.bus.backend != "fluvio":
        return None
    on, address = route_acks.route_quickack(settings.bus.fluvio_endpoint)
    if on is None:
        return Check(name="bus acks", status="info", detail=f"not checked: the route to {address} is not known here")
    if on:
        return Check(name="bus acks", status="ok", detail=f"the route to {address} sends ACKs at once (quickack 1)")
    return Check(name="bus acks", status="warn", detail=route_acks.advice(address))
