"""Errors the desk reports to a user: each carries a short title and a one-line message.

The CLI prints `title: message` and exits non-zero; the UI shows the same as a notification. A
traceback is never the user's error message.
"""

from __future__ import annotations


class TuiTraderError(Exception):
    title = "Error"

    def __init__(self, message: str, title: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if title is not None:
            self.title = title

    def __str__(self) -> str:
        return self.message


class SettingsError(TuiTraderError):
    title = "Settings"


class SecretsError(TuiTraderError):
    title = "Secrets"


class BusError(TuiTraderError):
    title = "Bus"


class FeedError(TuiTraderError):
    title = "Feed"


class BrokerError(TuiTraderError):
    title = "Broker"


class JournalError(TuiTraderError):
    title = "Journal"


class LogError(TuiTraderError):
    title = "Log"
