"""The bounded hand-off between the live websocket readers and the publisher (pure: no I/O, no clock of its own).

A reader must never wait on the bus: while it waits, the socket is not read, the exchange's frames pile up in
the kernel and the library, and a slow or stuck bus turns into a feed that silently stops. So the reader
parses a frame and `put`s what it gives here at once; the publisher `take`s batches out when the bus is
ready. What happens when the bus is slower than the market is a policy, stated here and counted:

- Book (best bid/ask) and mark records conflate: a symbol's newer record replaces its older one of the same
  kind still waiting, provided no trade of that symbol was put between them. Each symbol's records so go out
  in the order they came, minus the replaced ones (a consumer wants the latest book, and every trade record
  carries the book as it stood anyway). Replaced records are counted per kind (`conflated`).
- Trades are never replaced or reordered. At most `max_trades` wait; a trade beyond that is dropped, counted
  per symbol (`lost`), and its symbol has a gap from then on. A gap closes once the feed is whole again: every
  trade that was waiting when the last one was lost has gone out, and `clear_ms` have passed since then
  without another loss (a fresh stretch without holes). `gaps()` says which symbols have one; the collector
  marks their records, tells the desk, and the router takes no entries on them until it closes.

Waiting records are bounded too: a symbol has at most one waiting book and one waiting mark between two of its
trades, so at most `2 × max_trades + 2 × symbols` entries wait, whatever the input.
"""

from __future__ import annotations

from array import array
from collections import deque

from tui_trader.messages import MarketData

# A waiting record: [receipt time in ns, record]. A list, so a conflating book replaces it in place.
Entry = list


class Handoff:
    def __init__(self, max_trades: int, clear_ms: int) -> None:
        if max_trades < 1:
            raise ValueError("max_trades must be >= 1")
        self.max_trades = max_trades
        self.clear_ms = clear_ms
        self._queue: deque[Entry] = deque()
        # The waiting book (mark) entry of a symbol that no trade of that symbol has followed yet.
        self._book: dict[str, Entry] = {}
        self._mark: dict[str, Entry] = {}
        self.trades_in = 0  # trades put and kept, ever
        self.trades_out = 0  # trades taken, ever
        self.conflated: dict[str, int] = {}  # per kind
        self.lost: dict[str, int] = {}  # trades dropped per symbol, ever
        # Open gaps: symbol → (trades_in when its last trade was lost, the time of that loss).
        self._gaps: dict[str, tuple[int, int]] = {}
        self.high_water = 0  # most records ever waiting at once

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def waiting_trades(self) -> int:
        return self.trades_in - self.trades_out

    def put(self, md: MarketData, recv_ns: int, now_ms: int) -> bool:
        """Hand one record over; False when it was a trade that had to be dropped (the bound was hit)."""
        symbol = md.symbol
        kind = md.kind
        if kind == "trade":
            if self.trades_in - self.trades_out >= self.max_trades:
                self.lost[symbol] = self.lost.get(symbol, 0) + 1
                self._gaps[symbol] = (self.trades_in, now_ms)
                return False
            self.trades_in += 1
            # Later books of this symbol must not jump ahead of this trade: they start a new waiting entry.
            self._book.pop(symbol, None)
            self._mark.pop(symbol, None)
            self._queue.append([recv_ns, md])
        else:
            slots = self._book if kind == "book" else self._mark
            entry = slots.get(symbol)
            if entry is not None:
                entry[0] = recv_ns
                entry[1] = md
                self.conflated[kind] = self.conflated.get(kind, 0) + 1
                return True
            entry = [recv_ns, md]
            slots[symbol] = entry
            self._queue.append(entry)
        if len(self._queue) > self.high_water:
            self.high_water = len(self._queue)
        return True

    def take(self, most: int) -> list[Entry]:
        """Up to `most` waiting entries, oldest first (their order is the order to publish them in)."""
        queue = self._queue
        n = min(most, len(queue))
        out = [queue.popleft() for _ in range(n)]
        book, mark = self._book, self._mark
        trades = 0
        for entry in out:
            md = entry[1]
            kind = md.kind
            if kind == "trade":
                trades += 1
            elif kind == "book":
                if book.get(md.symbol) is entry:
                    del book[md.symbol]
            elif mark.get(md.symbol) is entry:
                del mark[md.symbol]
        self.trades_out += trades
        return out

    def gaps(self, now_ms: int) -> dict[str, int]:
        """The symbols with an open gap → trades lost on them so far; closes the gaps that are whole again."""
        if not self._gaps:
            return {}
        out = self._gaps
        whole = [s for s, (mark, at) in out.items() if self.trades_out >= mark and now_ms - at >= self.clear_ms]
        for symbol in whole:
            del out[symbol]
        return {s: self.lost[s] for s in out}

    def counters(self) -> dict[str, int]:
        out = {f"conflated:{kind}": n for kind, n in self.conflated.items()}
        out.update({f"lost_trades:{s}": n for s, n in self.lost.items()})
        out["waiting"] = len(self._queue)
        out["waiting_most"] = self.high_water
        return out


class LagStats:
    """Receipt → publish lag of the latest `window` records (ns in, µs out): p50, p99 and max over the window,
    and the largest ever. A fixed ring of ints: recording a lag costs no allocation."""

    def __init__(self, window: int = 4096) -> None:
        self._ring = array("q", bytes(8 * window))
        self._window = window
        self._i = 0
        self.count = 0
        self.max_ns = 0

    def add(self, lag_ns: int) -> None:
        self._ring[self._i] = lag_ns
        self._i = (self._i + 1) % self._window
        self.count += 1
        if lag_ns > self.max_ns:
            self.max_ns = lag_ns

    def summary(self) -> dict[str, int]:
        """`lag_p50_us`, `lag_p99_us`, `lag_max_us` (the window's) and `lag_max_ever_us`; {} before any record."""
        n = min(self.count, self._window)
        if not n:
            return {}
        recent = sorted(self._ring[:n])
        return {
            "lag_p50_us": recent[(n - 1) // 2] // 1000,
            "lag_p99_us": recent[min(n - 1, (n * 99) // 100)] // 1000,
            "lag_max_us": recent[-1] // 1000,
            "lag_max_ever_us": self.max_ns // 1000,
        }


def describe_lag(lag: dict[str, int]) -> str:
    """ "publish lag p50 0.1 ms, p99 2.3 ms, max 9.0 ms" (the collector's Health detail and log)."""
    if not lag:
        return ""
    return (
        f"publish lag p50 {lag['lag_p50_us'] / 1000:.1f} ms, p99 {lag['lag_p99_us'] / 1000:.1f} ms, "
        f"max {lag['lag_max_us'] / 1000:.1f} ms"
    )
