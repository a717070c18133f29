"""The deployment tests' Fluvio topics are deleted when the session ends: on the local cluster a create right
after a delete waits 60 s for the SC's answer, so deleting after each test would stall the next one."""

from __future__ import annotations

import pytest
from contract.fluvio_kit import CREATED, FLUVIO, delete_fluvio_topics


@pytest.fixture(scope="session", autouse=True)
def _delete_fluvio_topics_at_the_end():
    yield
    if FLUVIO and CREATED:
        delete_fluvio_topics(CREATED)
