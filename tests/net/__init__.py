"""Loopback servers that stand in for exchanges in tests (and in demos: python -m tests.net.mock_binance)."""
