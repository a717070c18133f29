"""A check's result and how it is printed: `[ok  ] name: detail`, one line each; exit 1 on any failure."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import msgspec

Status = Literal["ok", "warn", "fail", "info"]

_MARK: dict[str, str] = {"ok": "ok  ", "warn": "warn", "fail": "FAIL", "info": "info"}


class Check(msgspec.Struct, frozen=True, kw_only=True):
    """One line of the doctor's report. `info` states a fact that is neither good nor bad (e.g. not checked)."""

    name: str
    status: Status
    detail: str


def line(check: Check) -> str:
    # One line whatever the exchange or the OS put in the reason.
    detail = " ".join(check.detail.split())
    return f"[{_MARK[check.status]}] {check.name}: {detail}"


def render(checks: Iterable[Check]) -> str:
    return "\n".join(line(c) for c in checks)


def exit_code(checks: Iterable[Check]) -> int:
    return 1 if any(c.status == "fail" for c in checks) else 0
