"""Business time: periods, holidays, time zones, daylight saving and midnight."""

from __future__ import annotations

from datetime import UTC, datetime

from inbox.calendar import (
    add_business_minutes,
    business_minutes_between,
    in_business_hours,
)
from inbox.policy import Calendar

from .sla_support import warsaw

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")


def office(*periods: tuple[str, str], **extra: object) -> Calendar:
    hours = {day: list(periods or [("09:00", "17:00")]) for day in WEEKDAYS}
    return Calendar.model_validate(
        {"name": "Office", "timezone": "Europe/Warsaw", "hours": hours, **extra}
    )


def test_without_a_calendar_every_minute_counts() -> None:
    start = datetime(2026, 11, 7, 23, 0, tzinfo=UTC)  # a Saturday night
    assert add_business_minutes(None, start, 90) == datetime(2026, 11, 8, 0, 30, tzinfo=UTC)
    assert business_minutes_between(None, start, datetime(2026, 11, 8, 1, 0, tzinfo=UTC)) == 120
    assert in_business_hours(None, start)


def test_a_target_that_does_not_fit_today_goes_on_next_working_day() -> None:
    # Friday 16:00 + 2 business hours: one hour on Friday, one on Monday morning.
    due = add_business_minutes(office(), warsaw(2026, 11, 6, 16, 0), 120)
    assert due == warsaw(2026, 11, 9, 10, 0)


def test_a_target_started_at_night_starts_counting_at_opening_time() -> None:
    due = add_business_minutes(office(), warsaw(2026, 11, 5, 22, 0), 30)
    assert due == warsaw(2026, 11, 6, 9, 30)


def test_filling_a_period_exactly_ends_at_its_close() -> None:
    assert add_business_minutes(office(), warsaw(2026, 11, 5, 16, 0), 60) == warsaw(
        2026, 11, 5, 17, 0
    )


def test_several_periods_a_day_skip_the_lunch_break() -> None:
    split = office(("09:00", "12:00"), ("13:00", "17:00"))
    assert add_business_minutes(split, warsaw(2026, 11, 5, 11, 30), 60) == warsaw(
        2026, 11, 5, 13, 30
    )
    assert not in_business_hours(split, warsaw(2026, 11, 5, 12, 30))
    assert in_business_hours(split, warsaw(2026, 11, 5, 13, 0))
    assert business_minutes_between(
        split, warsaw(2026, 11, 5, 8, 0), warsaw(2026, 11, 5, 18, 0)
    ) == (7 * 60)


def test_public_holidays_of_the_calendars_country_are_closed() -> None:
    # 2026-11-11 is a Wednesday and Poland's Independence Day.
    polish = office(holidays_country="PL")
    assert not in_business_hours(polish, warsaw(2026, 11, 11, 10, 0))
    due = add_business_minutes(polish, warsaw(2026, 11, 10, 16, 30), 60)
    assert due == warsaw(2026, 11, 12, 9, 30)
    # Without the country the same Wednesday is a working day.
    assert add_business_minutes(office(), warsaw(2026, 11, 10, 16, 30), 60) == warsaw(
        2026, 11, 11, 9, 30
    )


def test_extra_holidays_are_closed_too() -> None:
    closed = office(holidays=["2026-12-24"])
    due = add_business_minutes(closed, warsaw(2026, 12, 23, 16, 0), 120)
    assert due == warsaw(2026, 12, 25, 10, 0)
    assert (
        business_minutes_between(closed, warsaw(2026, 12, 23, 17, 0), warsaw(2026, 12, 25, 9, 0))
        == 0
    )


def test_office_hours_keep_their_length_across_daylight_saving_changes() -> None:
    # Warsaw springs forward on Sunday 2026-03-29: Friday 16:00 CET + 2 h is Monday 10:00 CEST.
    due = add_business_minutes(office(), warsaw(2026, 3, 27, 16, 0), 120)
    assert due == warsaw(2026, 3, 30, 10, 0)
    assert due.astimezone(UTC) == datetime(2026, 3, 30, 8, 0, tzinfo=UTC)
    # And falls back on 2026-10-25: the same holds in autumn.
    due = add_business_minutes(office(), warsaw(2026, 10, 23, 16, 0), 120)
    assert due.astimezone(UTC) == datetime(2026, 10, 26, 9, 0, tzinfo=UTC)


def test_a_round_the_clock_calendar_has_a_23_hour_day_in_spring() -> None:
    always = Calendar.model_validate(
        {
            "name": "24/7",
            "timezone": "Europe/Warsaw",
            "hours": {d: [["00:00", "24:00"]] for d in (*WEEKDAYS, "sat", "sun")},
        }
    )
    start = warsaw(2026, 3, 28, 12, 0)
    due = add_business_minutes(always, start, 24 * 60)
    # 24 real hours later, which the wall clock reads as 13:00.
    assert due == warsaw(2026, 3, 29, 13, 0)
    assert business_minutes_between(
        always, warsaw(2026, 3, 29, 0, 0), warsaw(2026, 3, 30, 0, 0)
    ) == (23 * 60)
    assert business_minutes_between(
        always, warsaw(2026, 10, 25, 0, 0), warsaw(2026, 10, 26, 0, 0)
    ) == (25 * 60)


def test_periods_on_both_sides_of_midnight_join_up() -> None:
    night = Calendar.model_validate(
        {
            "name": "Night desk",
            "timezone": "Europe/Warsaw",
            "hours": {d: [["00:00", "02:00"], ["22:00", "24:00"]] for d in WEEKDAYS},
        }
    )
    assert add_business_minutes(night, warsaw(2026, 11, 5, 23, 30), 60) == warsaw(
        2026, 11, 6, 0, 30
    )


def test_going_back_in_business_time_mirrors_going_forward() -> None:
    cal = office(("09:00", "12:00"), ("13:00", "17:00"), holidays_country="PL")
    start = warsaw(2026, 11, 10, 15, 0)
    for minutes in (1, 45, 120, 300, 481, 2000):
        due = add_business_minutes(cal, start, minutes)
        assert add_business_minutes(cal, due, -minutes) == start
        assert business_minutes_between(cal, start, due) == minutes
        assert business_minutes_between(cal, due, start) == -minutes
    # Back from Monday 09:15 by 15 minutes is Monday 09:00, not Friday 17:00.
    assert add_business_minutes(cal, warsaw(2026, 11, 16, 9, 15), -15) == warsaw(2026, 11, 16, 9, 0)


def test_long_targets_walk_days_not_minutes() -> None:
    # 60 working days of 8 hours from Monday 2026-01-05 09:00 in Poland, Epiphany (6 January)
    # skipped: the 60th ends on Monday 30 March, the day after the clocks go forward.
    due = add_business_minutes(office(holidays_country="PL"), warsaw(2026, 1, 5, 9, 0), 60 * 8 * 60)
    assert due == warsaw(2026, 3, 30, 17, 0)
