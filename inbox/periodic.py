"""A daemon thread that does one piece of upkeep a few times a second until stopped.

SQLite's background work (wal.py, search_index.py) runs on threads rather than the event
loop: the sqlite3 module lets go of the GIL while SQLite works, so the requests go on.
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)

MAX_BACK_OFF = 5.0  # seconds between tries while a tick keeps failing


class Periodic:
    """Runs `tick` every `every` seconds on a thread named `name`; a failing tick (a locked
    or vanished file) is logged and tried again at the next one, never ends the thread."""

    name = "periodic"

    def __init__(self, every: float) -> None:
        self._every = every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> object:
        raise NotImplementedError

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        wait = self._every
        while not self._stop.wait(wait):
            try:
                self.tick()
                wait = self._every
            except Exception:
                log.exception("%s failed; trying again shortly", self.name)
                # A fault that stays (a file gone, a schema not migrated) is logged every
                # few seconds, not ten times a second.
                wait = min(MAX_BACK_OFF, wait * 2)
