"""Several messages of one key in one Fluvio record (a bundle), and taking a record apart again (pure).

On Fluvio each record costs the reader ~170 µs of Python in the client whatever its size, so one record per
market message caps a reader near 6,000 messages/s. A burst is therefore published as bundles: a record
keyed by the symbol whose value is a JSON array of that symbol's messages, in the order they were published
(`[{...},{...}]`). A record holding one message stays a plain JSON object (`{...}`), so both forms mix on one
topic and a reader tells them apart by the first byte. Messages of different keys in one burst go into
different records: order is kept per key (per symbol), as on a partitioned topic, not across keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import msgspec

from tui_trader.messages import TOPIC_TYPES

# A bundle stays well under the producer's request limit and a reader's fetch, and a consumer that handles a
# bundle's messages one by one is never held long by one record.
MAX_MESSAGES = 512
MAX_BYTES = 256 * 1024

_raws = msgspec.json.Decoder(list[msgspec.Raw])


def bundles(records: Sequence[tuple[str, bytes]]) -> list[tuple[str, list[int]]]:
    """Group a burst into records: (key, indexes into `records`) each, in the order each record's first
    message came; a key's messages keep their order and are split when a record would exceed MAX_MESSAGES
    or MAX_BYTES."""
    out: list[tuple[str, list[int]]] = []
    open_: dict[str, tuple[list[int], list[int]]] = {}  # key -> (indexes, [bytes so far])
    for i, (key, value) in enumerate(records):
        cur = open_.get(key)
        if cur is not None and (len(cur[0]) >= MAX_MESSAGES or cur[1][0] + len(value) + 1 > MAX_BYTES):
            cur = None
        if cur is None:
            cur = ([], [1])
            open_[key] = cur
            out.append((key, cur[0]))
        cur[0].append(i)
        cur[1][0] += len(value) + 1
    return out


def pack(values: Sequence[bytes]) -> bytes:
    """One record's value: the message itself when alone, else the JSON array of them."""
    if len(values) == 1:
        return values[0]
    return b"[" + b",".join(values) + b"]"


def unpack(value: bytes) -> list[bytes]:
    """The messages a record holds, in order. A value that is not a well-formed bundle is returned whole, so
    the decoder counts it as one malformed message instead of the reader failing."""
    if value[:1] != b"[":
        return [value]
    try:
        return [bytes(raw) for raw in _raws.decode(value)]
    except msgspec.DecodeError:
        return [value]


@cache
def _typed(cls: type[msgspec.Struct]) -> msgspec.json.Decoder[list[msgspec.Struct]]:
    return msgspec.json.Decoder(list[cls])  # type: ignore[valid-type]


def typed_decoder(topic: str) -> msgspec.json.Decoder[list[msgspec.Struct]] | None:
    """A decoder of a whole bundle of `topic`'s message type (found by the topic's name, with or without the
    desk's prefix), or None for a topic of no known type. One call decodes and validates a bundle's messages
    as a consumer would one by one, at about two thirds of the cost (measured on 512 market messages)."""
    for base, cls in TOPIC_TYPES.items():
        if topic == base or topic.endswith("-" + base):
            return _typed(cls)
    return None


def unpack_typed(value: bytes, decoder: msgspec.json.Decoder[list[msgspec.Struct]]) -> list[msgspec.Struct] | None:
    """A bundle's messages decoded in one call, or None when `value` is not a bundle or any of its messages is
    malformed (then `unpack` hands them out as bytes, so the consumer counts exactly the malformed ones)."""
    if value[:1] != b"[":
        return None
    try:
        return decoder.decode(value)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
