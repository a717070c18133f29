"""Market data feeds: the Binance USD-M parser and connection plan (pure), the live websocket client,
and the recording format (replay and record)."""
