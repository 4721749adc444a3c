"""Time, injected: domain code asks a clock so tests can move it without sleeping."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


def utcnow() -> datetime:
    """Aware UTC: every timestamp column stores UTC and hands back aware datetimes."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """`value` as aware UTC: a naive one (built by hand in a test or a script, or read back by
    a driver that drops the zone) is taken to be UTC, as every stored time is."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return utcnow()


class FrozenClock:
    """A clock tests set and advance by hand."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at
