"""SQLite's write-ahead log, copied back into the database file by a thread of its own.

Left to itself, SQLite checkpoints inside whichever commit finds the log past 1,000 pages:
that commit copies the pages and syncs the file before it returns. A customer message
dirties about 25 pages (the row and every index it touches), so one message in 35 or so
took 3 to 10 ms instead of 0.7, and that message's agents waited for it (docs/performance.md).
Here the app's connections checkpoint only as a safety net, at 10,000 pages, and this thread
runs a PASSIVE checkpoint a few times a second: it copies what no reader still needs, never
waits for a lock, and lets the writers go on appending meanwhile (the sqlite3 module lets go
of the GIL while SQLite works).
"""

from __future__ import annotations

from sqlalchemy import Engine

from .periodic import Periodic

# What the app's connections keep as their own limit: reached only if this thread stalls.
SAFETY_NET_PAGES = 10_000
EVERY_SECONDS = 0.2


class WalCheckpointer(Periodic):
    name = "wal-checkpoint"

    def __init__(self, engine: Engine, every: float = EVERY_SECONDS) -> None:
        super().__init__(every)
        self._engine = engine

    def tick(self) -> object:
        return self.checkpoint()

    def checkpoint(self) -> tuple[int, int, int]:
        """One PASSIVE checkpoint: (1 if it could not finish, pages in the log, pages copied)."""
        with self._engine.connect() as conn:
            row = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
        return int(row[0]), int(row[1]), int(row[2])
