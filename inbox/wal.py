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

import logging
import threading

from sqlalchemy import Engine

log = logging.getLogger(__name__)

# What the app's connections keep as their own limit: reached only if this thread stalls.
SAFETY_NET_PAGES = 10_000
EVERY_SECONDS = 0.2


class WalCheckpointer:
    def __init__(self, engine: Engine, every: float = EVERY_SECONDS) -> None:
        self._engine = engine
        self._every = every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def checkpoint(self) -> tuple[int, int, int]:
        """One PASSIVE checkpoint: (1 if it could not finish, pages in the log, pages copied)."""
        with self._engine.connect() as conn:
            row = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
        return int(row[0]), int(row[1]), int(row[2])

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self.checkpoint()
            except Exception:  # a locked or vanished file must not end the thread
                log.exception("WAL checkpoint failed; trying again shortly")
