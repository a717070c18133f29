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
import uuid
from collections.abc import Iterable

import msgspec


class IdSource:
    """A uuid4-shaped id sequence: from a seed (deterministic), or from the OS's randomness."""

    def __init__(self, seed: str | None = None) -> None:
        self._seed = seed.encode() if seed is not None else None
        self._n = 0

    def new(self) -> str:
        if self._seed is None:
            return str(uuid.UUID(bytes=os.urandom(16), version=4))
        self._n += 1
        digest = hashlib.blake2b(self._seed + self._n.to_bytes(8, "big"), digest_size=16).digest()
        return str(uuid.UUID(bytes=digest, version=4))

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
