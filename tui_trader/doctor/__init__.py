"""`tui-trader doctor`: checks that the desk can really run here, one line per check.

Each check tries the thing for real, within a bounded time: the journal is opened and a write lock taken,
the feed is connected the way the collector connects and must deliver a market frame, the exchange must
answer over REST with a clock close to ours, the API keys must pass a signed read, the account must be in
one-way position mode, and the configured leverage must be allowed for the largest position by the
exchange's leverage brackets. `report` holds the result type and the printing; `verdicts` the pure rules
that turn what was seen into ok/warn/fail; `local`, `feed` and `venue` do the I/O; `runner` puts them
together.
"""
