"""Where message and order ids come from.

Live, ids are random uuid4s. A replay draws them from a seeded sequence instead: the same recording with
the same settings gives every worker the same ids in the same order, so a replay restarted after a crash
issues the very commands it issued before, and the executor's journal recognises them (never executing one
twice). The ids keep the uuid4 form (version and variant bits), so exchanges and the desk see no difference.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import weakref
from collections.abc import Iterable

import msgspec

_POOL = 16 * 256  # random bytes drawn from the OS at once: one system call per 256 live ids
_blake2b = hashlib.blake2b
_LIVE: weakref.WeakSet[IdSource] = weakref.WeakSet()


def _forget_pools() -> None:
    # A forked child must not hand out the random bytes its parent drew (the same ids twice).
    for source in _LIVE:
        source._pool, source._at = b"", 0


os.register_at_fork(after_in_child=_forget_pools)


# The variant's hex digit for each hex digit the bytes have there: its two top bits set to 10.
_VARIANT_DIGIT = {d: "89ab"[int(d, 16) & 3] for d in "0123456789abcdef"}


def uuid4_text(raw: bytes) -> str:
    """`str(uuid.UUID(bytes=raw, version=4))` for 16 bytes, without building the UUID object (the router
    takes an id for every denial: the object cost more than the hash). The version digit is 4 and the
    variant digit one of 89ab, set on the hex text (no int round trip)."""
    x = raw.hex()
    return f"{x[:8]}-{x[8:12]}-4{x[13:16]}-{_VARIANT_DIGIT[x[16]]}{x[17:20]}-{x[20:]}"


class IdSource:
    """A uuid4-shaped id sequence: from a seed (deterministic), or from the OS's randomness."""

    def __init__(self, seed: str | None = None) -> None:
        self._seed = seed.encode() if seed is not None else None
        # The hash state after the seed: an id hashes only its number on a copy (the same digest as hashing
        # seed + number).
        self._seeded = _blake2b(self._seed, digest_size=16) if self._seed is not None else None
        self._n = 0
        self._pool = b""
        self._at = 0
        if seed is None:
            _LIVE.add(self)

    def new(self) -> str:
        seeded = self._seeded
        if seeded is None:
            at = self._at
            if at >= len(self._pool):
                self._pool, at = os.urandom(_POOL), 0
            self._at = at + 16
            return uuid4_text(self._pool[at : at + 16])
        self._n += 1
        h = seeded.copy()
        h.update(self._n.to_bytes(8, "big"))
        return uuid4_text(h.digest())

    def child(self, name: str) -> IdSource:
        """An independent sequence for one worker (its ids do not depend on other workers' timing)."""
        return IdSource(None if self._seed is None else f"{self._seed.decode()}/{name}")


def replay_seed(files: Iterable[str], settings: msgspec.Struct) -> str:
    """The identity of a replay run: the recordings (name and size) and every setting."""
    h = hashlib.blake2b(digest_size=16)
    for f in files:
        h.update(os.path.abspath(f).encode())
        with contextlib.suppress(OSError):  # a file that cannot be read fails later, where it is opened
            h.update(str(os.path.getsize(f)).encode())
    h.update(msgspec.json.encode(settings))
    return h.hexdigest()
