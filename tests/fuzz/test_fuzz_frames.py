"""Fuzz (hypothesis) of the market-data edge: random frames and mutated real frames through the parser, the
collector, and the pure pipeline up to the router's orders.

Properties:
- nothing raises, and no frame ends in the parser's catch-all ("unreadable frame": a path nobody thought of);
- every MarketData published has finite positive prices and quantities, a plausible event time, and decodes;
- the counts add up: frames read = published + ignored + duplicates + malformed + quarantined (+ lines the
  reader skipped);
- with isolated mutations (never `confirm` in a row), every published price lies within the feed's band of
  the real prices, and the replay clock never leaves the real event times;
- end to end (parser → indicators → router, fills at the command's price): no order on a non-finite price or
  one outside `risk.price_band_pct` of the last real trade.

Example counts are modest so the suite stays fast (see EXAMPLES); set FUZZ_EXAMPLES_SCALE to run more.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import time

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tui_trader import messages as m
from tui_trader.feeds.parser import MAX_EVENT_MS, FrameParser, Limits
from tui_trader.indicators.signals import SignalEngine
from tui_trader.portfolio.router_core import RouterCore
from tui_trader.settings import (
    FeedSettings,
    IndicatorSettings,
    RiskSettings,
    Settings,
    TradingSettings,
)

SCALE = float(os.environ.get("FUZZ_EXAMPLES_SCALE", "1"))
EXAMPLES = {"random": 300, "mutated": 100, "collector": 12, "pipeline": 25}
LIMITS = Limits()
WALL_MS = int(time.time() * 1000)


def fuzz_settings(kind: str):
    return settings(
        max_examples=max(1, int(EXAMPLES[kind] * SCALE)),
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
    )


# --- strategies -------------------------------------------------------------------------------------------

ODD_VALUES = [
    "NaN",
    "nan",
    "inf",
    "-inf",
    "Infinity",
    "-Infinity",
    "0",
    "-0",
    "-1",
    "1e300",
    "1e308",
    "1e400",
    "1e-300",
    "1e9",
    "",
    " 1",
    "0x10",
    "abc",
    None,
    True,
    False,
    [],
    {},
    0,
    -1,
    1.5,
    2**63,
    2**70,
    -(2**70),
    10**18,
    1e18,
    -5,
    "5",
    "1723161256322",
]
odd = st.one_of(st.sampled_from(ODD_VALUES), st.integers(), st.floats(), st.text(max_size=12))
FIELDS = ["e", "E", "T", "s", "t", "a", "p", "q", "u", "b", "B", "A", "m", "X"]
STREAMS = [
    "btcusdt@trade",
    "btcusdt@aggTrade",
    "btcusdt@bookTicker",
    "ethusdt@trade",
    "ethusdt@bookTicker",
    "btcusdt@depth@0ms",
    "btcusdt@kline_1m",
    "!bookTicker",
    "",
    "BTCUSDT@trade",
    "btcusdt@trade@x",
]

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)),
    max_leaves=6,
)


@st.composite
def random_frame(draw) -> bytes | str:
    shape = draw(st.integers(0, 5))
    if shape == 0:
        return draw(st.binary(max_size=200))
    if shape == 1:
        return draw(st.text(max_size=120))
    if shape == 2:
        return json.dumps(draw(json_values))
    stream = draw(st.one_of(st.sampled_from(STREAMS), st.text(max_size=20)))
    data = draw(st.dictionaries(st.sampled_from(FIELDS), odd, max_size=10))
    env: dict = {"stream": stream, "data": data}
    if shape == 4:
        env = {draw(st.sampled_from(["stream", "data", "code", "id", "result"])): draw(odd)}
    return json.dumps(env, allow_nan=True)


@st.composite
def mutation(draw, frame: str) -> str | bytes:
    """One frame damaged the way a hostile file or a broken link might."""
    how = draw(st.integers(0, 7))
    if how <= 3:  # a field of the payload set to an odd value (the most telling case: the JSON stays valid)
        env = json.loads(frame)
        key = draw(st.sampled_from([*sorted(env["data"]), "p", "q", "E", "t", "u", "b", "a"]))
        env["data"][key] = draw(odd)
        return json.dumps(env, allow_nan=True)
    if how == 4:  # a field removed
        env = json.loads(frame)
        env["data"].pop(draw(st.sampled_from(sorted(env["data"]))), None)
        return json.dumps(env)
    raw = frame.encode()
    if how == 5:  # cut short
        return raw[: draw(st.integers(0, len(raw)))]
    if how == 6:  # one byte changed
        i = draw(st.integers(0, len(raw) - 1))
        return raw[:i] + bytes([draw(st.integers(0, 255))]) + raw[i + 1 :]
    env = json.loads(frame)  # another stream name
    env["stream"] = draw(st.one_of(st.sampled_from(STREAMS), st.text(max_size=20)))
    return json.dumps(env)


@st.composite
def mutated_slice(draw, frames: tuple[str, ...], length: int, isolated: bool):
    """(original frames, mutated frames, mutated indices). Isolated: mutations at least `confirm` frames apart,
    so no jump can confirm itself."""
    start = draw(st.integers(0, len(frames) - length))
    original = list(frames[start : start + length])
    gap = LIMITS.confirm + 1 if isolated else 1
    slots = list(range(0, length, gap))
    chosen = sorted(draw(st.sets(st.sampled_from(slots), max_size=min(25, len(slots)))))
    if isolated:
        chosen = [i + draw(st.integers(0, gap - 1)) for i in chosen]
        chosen = [i for i in chosen if i < length]
    mutated: list[str | bytes] = list(original)
    for i in chosen:
        mutated[i] = draw(mutation(original[i]))
    return original, mutated, set(chosen)


# --- checks ------------------------------------------------------------------------------------------------

_decode_md = msgspec.json.Decoder(m.MarketData).decode


def check_market_data(md: m.MarketData) -> None:
    if md.kind == "trade":
        assert 0 < md.price < math.inf and 0 < md.volume < math.inf, md
    else:
        assert 0 < md.bid < math.inf and 0 < md.ask < math.inf, md
        assert 0 < md.bid_qty < math.inf and 0 < md.ask_qty < math.inf, md
        assert 0 <= md.price < math.inf, md
    assert 0 <= md.event_time < MAX_EVENT_MS, md
    assert _decode_md(m.encode(md)) == md


def check_counts(p: FrameParser) -> None:
    s = p.summary()
    total = sum(sum(s[k].values()) for k in ("published", "ignored", "duplicates", "malformed", "quarantined"))
    assert s["frames"] == total, s
    assert "unreadable frame" not in s["malformed"], p.samples.get("unreadable frame")


def real_ranges(frames: list[str]) -> tuple[dict[str, tuple[float, float]], tuple[int, int]]:
    prices: dict[str, list[float]] = {}
    times = []
    for f in frames:
        env = json.loads(f)
        d = env["data"]
        sym = d["s"]
        if env["stream"].endswith("@bookTicker"):
            prices.setdefault(sym, []).extend([float(d["b"]), float(d["a"])])
        else:
            prices.setdefault(sym, []).append(float(d["p"]))
        times.append(d["E"])
    return {s: (min(v), max(v)) for s, v in prices.items()}, (min(times), max(times))


# --- the parser ---------------------------------------------------------------------------------------------


@fuzz_settings("random")
@given(st.lists(random_frame(), min_size=1, max_size=30))
def test_random_frames_never_raise_and_never_publish_a_bad_number(frames):
    p = FrameParser(symbols=["BTCUSDT", "ETHUSDT"], future_ms=lambda: WALL_MS)
    for f in frames:
        md = p.parse(f, 0)
        if md is not None:
            check_market_data(md)
    check_counts(p)


@fuzz_settings("mutated")
@given(data=st.data())
def test_mutated_real_frames_publish_only_sane_market_data(real_frames, data):
    original, mutated, hit = data.draw(mutated_slice(real_frames, 600, isolated=True))
    ranges, (first_ms, last_ms) = real_ranges(original)
    band = LIMITS.price_band
    p = FrameParser(symbols=["BTCUSDT", "ETHUSDT"], future_ms=lambda: WALL_MS)
    published = 0
    for f in mutated:
        md = p.parse(f, 0)
        if md is None:
            continue
        published += 1
        check_market_data(md)
        lo, hi = ranges[md.symbol]
        for price in (md.price,) if md.kind == "trade" else (md.bid, md.ask):
            assert lo * (1 - band) * 0.999 <= price <= hi * (1 + band) * 1.001, (md, lo, hi)
        assert first_ms - LIMITS.max_time_jump_ms <= md.event_time <= last_ms + LIMITS.max_time_jump_ms
    check_counts(p)
    assert published >= len(original) - 2 * len(hit)  # a mutation costs at most its frame and one duplicate


@fuzz_settings("mutated")
@given(data=st.data())
def test_mutations_in_a_row_never_raise_and_counts_add_up(real_frames, data):
    _, mutated, _ = data.draw(mutated_slice(real_frames, 300, isolated=False))
    p = FrameParser(symbols=["BTCUSDT"], future_ms=lambda: WALL_MS)
    for f in mutated:
        md = p.parse(f, 0)
        if md is not None:
            check_market_data(md)
    check_counts(p)


# --- the collector worker ---------------------------------------------------------------------------------


@fuzz_settings("collector")
@given(data=st.data())
def test_the_collector_replaying_a_damaged_recording_finishes_and_its_counts_add_up(
    real_frames, data, tmp_path_factory
):
    from fuzz_kit import replay_lines

    _, mutated, _ = data.draw(mutated_slice(real_frames, 200, isolated=False))
    extra = data.draw(st.lists(st.binary(max_size=60), max_size=5))  # whole lines of noise, newlines included
    lines = [(f if isinstance(f, bytes) else f.encode()) for f in mutated] + extra
    path = tmp_path_factory.mktemp("fuzz") / "damaged.txt"
    path.write_bytes(b"".join(b"%d %s\n" % (1_723_161_256_000_000_000 + i, line) for i, line in enumerate(lines)))
    summary, market = asyncio.run(replay_lines(path))
    buckets = ("published", "ignored", "duplicates", "malformed", "quarantined", "skipped")
    assert summary["read"] == sum(sum(summary[k].values()) for k in buckets), summary
    assert "unreadable frame" not in summary["malformed"]
    assert len(market) == sum(summary["published"].values())
    for md in market:
        check_market_data(md)


# --- end to end: frames → indicators → router -------------------------------------------------------------

TICK = IndicatorSettings(bar="tick", emit="every")


def pipeline(frames, settings_: Settings) -> list[tuple[int, m.OrderCommand]]:
    """The pure cores in the order the workers run them; every command fills at once at its price."""
    parser = FrameParser(
        symbols=settings_.trading.symbols,
        future_ms=lambda: WALL_MS,
        limits=Limits(price_band=settings_.feed.price_band_pct),
    )
    engine = SignalEngine(
        TICK,
        settings_.trading.min_signal_strength,
        symbols=settings_.trading.symbols,
        band=settings_.feed.price_band_pct,
    )
    core = RouterCore(settings_)
    orders: list[tuple[int, m.OrderCommand]] = []
    n = 0
    for i, f in enumerate(frames):
        md = parser.parse(f, 0)
        if md is None:
            continue
        now = md.ts
        core.on_market_data(md, now)
        if md.kind != "trade":
            continue
        for e in engine.on_trade(md.symbol, md.price, md.event_time):
            ev = e.evaluation
            n += 1
            sig = m.TradingSignal(
                id=f"s{n}",
                symbol=e.symbol,
                signal=ev.kind,
                strength=ev.strength,
                buy_score=ev.buy,
                sell_score=ev.sell,
                reasons=list(ev.reasons),
                indicators=m.Indicators(**e.values._asdict()),
                price=e.price,
                ts=now,
            )
            queue = list(core.on_signal(sig, now).commands)
            while queue:
                cmd = queue.pop(0)
                orders.append((i, cmd))
                st_ = m.OrderStatus(
                    order_id=cmd.id,
                    symbol=cmd.symbol,
                    side=cmd.side,
                    purpose=cmd.purpose,
                    status="filled",
                    filled_qty=cmd.quantity,
                    avg_price=cmd.ref_price,
                    fee=cmd.quantity * cmd.ref_price * 0.0005,
                    mode=cmd.mode,
                    ts=now,
                )
                queue.extend(core.on_status(st_, now).commands)
    return orders


def pipeline_settings() -> Settings:
    # No cooldown and a low threshold: many orders per example, so the property has something to check.
    return Settings(
        trading=TradingSettings(symbols=["BTCUSDT", "ETHUSDT"], min_signal_strength=0.55),
        indicators=TICK,
        feed=FeedSettings(),
        risk=RiskSettings(cooldown_s=0.0, on_opposite="reverse"),
    )


def last_real_trades(original: list[str], hit: set[int]) -> list[float | None]:
    """The last real (unmutated) trade price at each index, per the symbol of that frame's stream."""
    last: dict[str, float] = {}
    out: list[float | None] = []
    for i, f in enumerate(original):
        env = json.loads(f)
        sym = env["data"]["s"]
        if i not in hit and not env["stream"].endswith("@bookTicker"):
            last[sym] = float(env["data"]["p"])
        out.append(last.get(sym))
    return out


def test_the_pipeline_trades_on_the_real_frames(real_frames):
    """The property below is not vacuous: on the clean frames the pipeline does send orders."""
    assert len(pipeline(real_frames[:3000], pipeline_settings())) >= 10


@fuzz_settings("pipeline")
@given(data=st.data())
def test_no_order_on_a_non_finite_or_out_of_band_price(real_frames, data):
    original, mutated, hit = data.draw(mutated_slice(real_frames[:3000], 3000, isolated=True))
    s = pipeline_settings()
    band = s.risk.price_band_pct
    real = last_real_trades(original, hit)
    for i, cmd in pipeline(mutated, s):
        assert 0 < cmd.ref_price < math.inf and 0 < cmd.quantity < math.inf, cmd
        for price in (cmd.stop_loss, cmd.take_profit):
            assert price is None or 0 < price < math.inf, cmd
        ref = real[i]
        assert ref is not None and abs(cmd.ref_price - ref) <= ref * band * 1.02, (cmd, ref)
