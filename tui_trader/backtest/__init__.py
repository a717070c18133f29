"""Backtests: history loaders, instrument rules for any symbol, and the loop that drives the live cores over bars."""
