"""Fuzz (hypothesis): any TOML value in any settings key gives a valid Settings or one SettingsError, never
another exception; any damage to a journal file gives a usable journal or one JournalError, never another
exception, and the damaged file is never replaced. Example counts are kept modest so the suite stays fast."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tui_trader import journal as j
from tui_trader import settings as s
from tui_trader.errors import JournalError, SettingsError

from .journal_kit import make_journal, read_everything

INPUT_CLASS = "fuzz (settings values, journal bytes)"

SETTINGS_EXAMPLES = 200
FILE_EXAMPLES = 100
JOURNAL_EXAMPLES = 100

KEYS = {sec: list(fields) for sec, fields in s.to_dict(s.Settings()).items()}

scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.integers(),  # beyond TOML's 64 bits: a dict from elsewhere (the desk's form) may hold one
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, -1, 0.0, -0.0, 1e-320, 1e308, 5e-324, 2**53 + 1, "", " ", "tick", "1m", "BTCUSDT"]),
    st.text(max_size=40),
    st.datetimes(),
    st.dates(),
    st.times(),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8,
)


@st.composite
def settings_docs(draw) -> dict:
    doc: dict = {}
    for _ in range(draw(st.integers(1, 4))):
        section = draw(st.one_of(st.sampled_from(list(KEYS)), st.text(max_size=8)))
        if draw(st.integers(0, 9)) == 0:  # a section that is not a table
            doc[section] = draw(values)
            continue
        table = doc.setdefault(section, {}) if isinstance(doc.get(section, {}), dict) else {}
        doc[section] = table
        for _ in range(draw(st.integers(1, 3))):
            known = KEYS.get(section, ["x"])
            key = draw(st.one_of(st.sampled_from(known), st.text(max_size=8)))
            table[key] = draw(values)
    return doc


def check_valid(result: s.Settings) -> None:
    for section in s.SECTIONS:
        for value in msgspec_values(getattr(result, section)):
            if isinstance(value, float):
                assert math.isfinite(value)
    assert s.parse(s.to_dict(result)) == result


def msgspec_values(section) -> list:
    out = []
    for name in section.__struct_fields__:
        value = getattr(section, name)
        out.extend(value if isinstance(value, list) else [value])
    return out


@settings(max_examples=SETTINGS_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(settings_docs())
def test_any_value_in_any_settings_key_is_settings_or_one_settings_error(doc):
    try:
        result = s.parse(doc, "fuzz.toml")
    except SettingsError as err:
        assert len(str(err).splitlines()) == 1 and str(err).startswith("fuzz.toml: ")
        return
    check_valid(result)


def toml_safe(doc):
    """What a TOML file can hold: tomli_w refuses ints beyond 64 bits and needs string keys."""
    if isinstance(doc, dict):
        return {str(k): toml_safe(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [toml_safe(v) for v in doc]
    if isinstance(doc, int) and not isinstance(doc, bool) and not -(2**63) <= doc < 2**63:
        return 0
    return doc


@settings(
    max_examples=FILE_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(doc=settings_docs(), noise=st.binary(max_size=64), where=st.integers(0, 10_000), mode=st.integers(0, 2))
def test_any_settings_file_is_settings_or_one_settings_error(tmp_path, doc, noise, where, mode):
    data = tomli_w.dumps({k: v for k, v in toml_safe(doc).items() if isinstance(v, dict)}).encode()
    if mode == 1:  # bytes spliced in: encoding errors, broken syntax
        at = where % (len(data) + 1)
        data = data[:at] + noise + data[at:]
    elif mode == 2:  # cut short
        data = data[: where % (len(data) + 1)]
    path = tmp_path / "settings.toml"
    path.write_bytes(data)
    try:
        result, _ = s.load(path)
    except SettingsError as err:
        assert len(str(err).splitlines()) == 1 and str(path) in str(err)
        return
    check_valid(result)


@pytest.fixture(scope="module")
def journal_bytes(tmp_path_factory) -> bytes:
    return make_journal(tmp_path_factory.mktemp("kit") / "journal.sqlite3", commands=200)


damage = st.one_of(
    st.tuples(
        st.just("flip"), st.lists(st.tuples(st.integers(0, 2**31), st.integers(0, 255)), min_size=1, max_size=20)
    ),
    st.tuples(st.just("cut"), st.integers(0, 2**31)),
    st.tuples(st.just("block"), st.integers(0, 2**31), st.binary(min_size=1, max_size=4096)),
    st.tuples(st.just("header"), st.lists(st.tuples(st.integers(0, 99), st.integers(0, 255)), min_size=1, max_size=6)),
    st.tuples(st.just("random"), st.binary(max_size=8192)),
)


def damaged(base: bytes, how) -> bytes:
    data = bytearray(base)
    kind = how[0]
    if kind in ("flip", "header"):
        for at, byte in how[1]:
            data[at % len(data)] = byte
    elif kind == "cut":
        data = data[: how[1] % len(data)]
    elif kind == "block":
        at = how[1] % len(data)
        data[at : at + len(how[2])] = how[2]
    else:
        data = bytearray(how[1])
    return bytes(data)


@settings(
    max_examples=JOURNAL_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(how=damage)
def test_a_damaged_journal_is_usable_or_one_journal_error(tmp_path, journal_bytes, how):
    path = tmp_path / "journal.sqlite3"
    for extra in ("-wal", "-shm"):
        Path(f"{path}{extra}").unlink(missing_ok=True)
    data = damaged(journal_bytes, how)
    path.write_bytes(data)
    try:
        jr = j.Journal(path)
    except JournalError as err:
        assert len(str(err).splitlines()) == 1 and str(path) in str(err)
        assert path.read_bytes() == data  # never replaced
        return
    try:
        read_everything(jr)
    except JournalError as err:
        assert len(str(err).splitlines()) == 1 and str(path) in str(err)
    finally:
        jr.close()


def test_fuzz_counts_are_what_the_report_says():
    assert (SETTINGS_EXAMPLES, FILE_EXAMPLES, JOURNAL_EXAMPLES) == (200, 100, 100)
    assert dt  # datetimes are among the fuzzed TOML values
