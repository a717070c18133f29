"""Ids built without uuid.UUID objects are the same text uuid.UUID gives, and live ids never repeat."""

from __future__ import annotations

import hashlib
import os
import uuid

from tui_trader.ids import IdSource


def test_seeded_ids_are_the_ones_earlier_versions_issued():
    # A replay restarted after an upgrade must re-issue the very ids its journal holds.
    source = IdSource("seed/router")
    for n in range(1, 2001):
        digest = hashlib.blake2b(b"seed/router" + n.to_bytes(8, "big"), digest_size=16).digest()
        assert source.new() == str(uuid.UUID(bytes=digest, version=4))


def test_live_ids_are_distinct_uuid4s_across_refills_of_the_random_pool():
    source = IdSource()
    ids = [source.new() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    assert all(uuid.UUID(i).version == 4 and str(uuid.UUID(i)) == i for i in ids)


def test_a_forked_child_does_not_repeat_its_parents_ids():
    source = IdSource()
    source.new()  # the pool is drawn: the child must not reuse what is left of it
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: one id to the parent, then out without running the parent's cleanup
        os.write(write, source.new().encode())
        os._exit(0)
    os.close(write)
    child_id = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert child_id and child_id != source.new()
