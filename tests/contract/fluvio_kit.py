"""The Fluvio leg's cluster address and clean-up, shared by the contract and worker tests."""

from __future__ import annotations

import os

FLUVIO = os.environ.get("TUI_TRADER_FLUVIO", "")
FLUVIO_SKIP = "Fluvio leg skipped: set TUI_TRADER_FLUVIO=host:port to a reachable cluster to run it"


# Topics the Fluvio leg created, deleted once at the end of the session: on the cluster built for this
# machine (0.18.2-dev) a create right after a delete waits 60 s for the SC's answer, so deleting between
# tests would stall the suite.
CREATED: list[str] = []


def delete_fluvio_topics(names) -> None:
    """Tests leave nothing on the cluster: delete the topics they created (missing ones are fine)."""
    import fluvio

    admin = fluvio.FluvioAdmin.connect_with_config(fluvio.FluvioConfig.new(FLUVIO))
    existing = {t.name() for t in admin.list_topics(list(names))}
    for name in names:
        if name in existing:
            admin.delete_topic(name)
