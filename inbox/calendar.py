"""Business time (docs/concepts/sla.md): minutes counted only inside a calendar's opening
periods, in its own time zone, skipping its public and extra holidays.

Walks whole periods, never minutes: adding a 30-day target is some 40 steps. Periods are
local wall-clock times turned into instants day by day, so a 09:00-17:00 day is 8 hours on
either side of a daylight-saving change, and a 00:00-24:00 day on that date is 23 or 25.
Without a calendar (None), or with one that lists no hours, every minute counts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from .policy import Calendar, Weekday

log = logging.getLogger("handoff.calendar")

WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_MINUTES = 24 * 60
# A calendar with opening hours reaches any target long before this; one that never opens
# (every day a holiday) falls back to wall time rather than loop for ever.
MAX_DAYS = 3 * 366


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


@lru_cache(maxsize=8)
def _country(code: str) -> holidays.HolidayBase:
    return holidays.country_holidays(code)


@dataclass(frozen=True)
class Hours:
    """A calendar compiled for arithmetic: periods as minutes of the day, per weekday."""

    zone: ZoneInfo
    week: tuple[tuple[tuple[int, int], ...], ...]
    country: str | None
    extra: frozenset[date]
    # Each day's periods once worked out: every new conversation's due times walk the same
    # few days ahead, and a day's periods (a holiday lookup, two time-zone conversions per
    # period) cost more than the rest of the walk. A few hundred days a year at most.
    _days: dict[date, tuple[tuple[datetime, datetime], ...]] = field(
        default_factory=dict, compare=False, repr=False
    )

    @property
    def always_open(self) -> bool:
        return not any(self.week)

    def closed_on(self, day: date) -> bool:
        return day in self.extra or (self.country is not None and day in _country(self.country))

    def periods(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """The day's opening periods as UTC instants, earliest first; none on a holiday."""
        known = self._days.get(day)
        if known is None:
            known = self._days[day] = self._work_out(day)
        return known

    def _work_out(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        if self.closed_on(day):
            return ()
        out = []
        for start, end in self.week[day.weekday()]:
            opens = self._instant(day, start)
            closes = self._instant(day, end)
            if closes > opens:  # a period inside a spring-forward gap has no length
                out.append((opens, closes))
        return tuple(out)

    def _instant(self, day: date, minute: int) -> datetime:
        if minute >= DAY_MINUTES:
            day, minute = day + timedelta(days=1), minute - DAY_MINUTES
        local = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=self.zone)
        return local.astimezone(UTC)

    def local_date(self, at: datetime) -> date:
        return at.astimezone(self.zone).date()


@lru_cache(maxsize=64)
def _compile(document: str) -> Hours:
    calendar = Calendar.model_validate_json(document)
    week = tuple(
        tuple(sorted((_minutes(a), _minutes(b)) for a, b in calendar.hours.get(day, [])))
        for day in WEEKDAYS
    )
    return Hours(
        zone=ZoneInfo(calendar.timezone),
        week=week,
        country=calendar.holidays_country,
        extra=frozenset(date.fromisoformat(d) for d in calendar.holidays),
    )


def compile_calendar(calendar: Calendar | None) -> Hours | None:
    """None for wall time; compiled calendars are cached by their content."""
    if calendar is None:
        return None
    hours = _compile(calendar.model_dump_json())
    return None if hours.always_open else hours


def add_business_time(calendar: Calendar | None, start: datetime, delta: timedelta) -> datetime:
    """The instant (in UTC) `delta` of business time after `start`, or before it for a
    negative delta."""
    start = start.astimezone(UTC)
    hours = compile_calendar(calendar)
    if hours is None or not delta:
        return start + delta
    found = _forward(hours, start, delta) if delta > timedelta(0) else _back(hours, start, -delta)
    if found is None:
        log.warning("calendar %r never opens; counting wall time", calendar and calendar.name)
        return start + delta
    return found


def _forward(hours: Hours, start: datetime, remaining: timedelta) -> datetime | None:
    day = hours.local_date(start)
    for _ in range(MAX_DAYS):
        for opens, closes in hours.periods(day):
            if closes <= start:
                continue
            begin = max(opens, start)
            if remaining <= closes - begin:
                # Exactly filling a period ends at its close (17:00), not the next opening.
                return begin + remaining
            remaining -= closes - begin
        day += timedelta(days=1)
    return None


def _back(hours: Hours, start: datetime, remaining: timedelta) -> datetime | None:
    day = hours.local_date(start)
    for _ in range(MAX_DAYS):
        for opens, closes in reversed(hours.periods(day)):
            if opens >= start:
                continue
            end = min(closes, start)
            if remaining <= end - opens:
                return end - remaining
            remaining -= end - opens
        day -= timedelta(days=1)
    return None


def business_time_between(calendar: Calendar | None, a: datetime, b: datetime) -> timedelta:
    """Business time from `a` to `b`; negative when `b` comes first."""
    if b < a:
        return -business_time_between(calendar, b, a)
    hours = compile_calendar(calendar)
    if hours is None:
        return b - a
    total = timedelta(0)
    day, last = hours.local_date(a), hours.local_date(b)
    while day <= last:
        for opens, closes in hours.periods(day):
            overlap = min(closes, b) - max(opens, a)
            if overlap > timedelta(0):
                total += overlap
        day += timedelta(days=1)
    return total


def add_business_minutes(calendar: Calendar | None, start: datetime, minutes: float) -> datetime:
    return add_business_time(calendar, start, timedelta(minutes=minutes))


def business_minutes_between(calendar: Calendar | None, a: datetime, b: datetime) -> float:
    return business_time_between(calendar, a, b) / timedelta(minutes=1)


def in_business_hours(calendar: Calendar | None, at: datetime) -> bool:
    hours = compile_calendar(calendar)
    if hours is None:
        return True
    return any(opens <= at < closes for opens, closes in hours.periods(hours.local_date(at)))
