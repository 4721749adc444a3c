"""A clock for benchmarks that run timers against stored due times."""

from __future__ import annotations

from datetime import datetime, timedelta

from inbox.clock import utcnow


class ShiftedClock:
    """Real time, shifted so that `at` is `lead` seconds from now."""

    def __init__(self, at: datetime, lead: float) -> None:
        self.offset = at - timedelta(seconds=lead) - utcnow()

    def now(self) -> datetime:
        return utcnow() + self.offset
