"""The demo's four past weeks (inbox/demo_history.py): what a manager opening the escalation
report of a fresh demo reads."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, col, func, select

from inbox.access import scope_for
from inbox.clock import as_utc
from inbox.db import Database
from inbox.demo_history import DAYS, past_customer
from inbox.models import Agent, Conversation, Notification, Status
from inbox.reports import Report, escalation_report
from inbox.seed import CUSTOMERS, seed_demo


@pytest.fixture
def seeded(db: Database) -> Iterator[tuple[Session, datetime]]:
    with db.session() as session:
        before = datetime.now(UTC)
        seed_demo(session)
        yield session, before


def report_for(session: Session, email: str, now: datetime) -> Report:
    reader = session.exec(select(Agent).where(Agent.email == email)).one()
    today = now.date()
    return escalation_report(
        session, scope_for(session, reader), today - timedelta(days=DAYS), today, now=now
    )


def test_a_manager_opening_the_demo_report_reads_four_weeks_of_escalations(
    seeded: tuple[Session, datetime],
) -> None:
    session, now = seeded
    report = report_for(session, "admin@handoff.test", now)
    figures = report.figures
    past = [row for row in report.rows if row.created_at < now - timedelta(days=1)]
    # Escalations on most working days, not one lonely bar.
    assert len({row.created_at.date() for row in past}) >= 10
    assert sum(day.count > 0 for day in report.per_day) >= 10
    # Both kinds, raised by agents with the shortcuts' briefs, by the engine's own rules.
    assert {row.kind for row in past} == {"functional", "hierarchical"}
    by_agents = [row for row in past if row.trigger == "agent"]
    assert {row.reason for row in by_agents} == {
        "Escalate to Billing",
        "Technical: API issue",
        "Up a tier",
    }
    assert all(row.brief.get("problem") for row in by_agents)
    reasons = {row.reason for row in past if row.trigger == "rule"}
    # A few waited past the 30 minutes and went a tier up; low ratings opened reviews.
    assert "Not accepted within 30 minutes" in reasons
    assert any(reason.startswith("CSAT ") for reason in reasons)
    # Taken mostly within the half hour, some later; nothing left waiting from back then.
    assert figures.median_seconds_to_accept is not None
    assert 5 * 60 <= figures.median_seconds_to_accept <= 30 * 60
    assert all(row.closed_at is not None for row in past)
    assert all(row.accepted_at is not None for row in past if row.outcome != "bounced")
    assert any(row.outcome == "bounced" for row in past)
    # Late first replies breached their SLA (the timer's own breach stage, not written in).
    assert figures.breached_conversations >= 1
    # Customers rated them, and the escalated ones lower than the rest.
    assert figures.csat_after_escalation_count >= 5
    assert figures.csat_overall_count >= 3 * figures.csat_after_escalation_count
    assert figures.csat_after_escalation is not None and figures.csat_overall is not None
    assert figures.csat_after_escalation < figures.csat_overall
    rate = figures.escalation_rate
    assert rate is not None and 0.1 <= rate <= 0.4
    # The demo's manager reads her teams' part of it (the admin, all of it).
    maria = report_for(session, "maria@handoff.test", now)
    assert 0 < len(maria.rows) < len(report.rows)


def test_the_past_is_closed_and_read(seeded: tuple[Session, datetime]) -> None:
    session, now = seeded
    day_ago = now - timedelta(days=1)
    past = session.exec(select(Conversation).where(col(Conversation.created_at) < day_ago)).all()
    assert len(past) >= 2 * DAYS  # three to five a working day, one at most at weekends
    assert {c.status for c in past} == {Status.resolved}
    # Every conversation has its own customer: nobody's past case was reopened by another.
    assert len({c.contact_id for c in past}) == len(past)
    assert all(c.reopen_count == 0 for c in past)
    # The agents read the month's notifications, after they came: the bell counts today's.
    old_notifications = session.exec(
        select(Notification).where(col(Notification.created_at) < day_ago)
    ).all()
    assert old_notifications
    assert all(
        n.read_at is not None and as_utc(n.read_at) >= as_utc(n.created_at)
        for n in old_notifications
    )
    # Today's demo starts after the past is read: its mail to Billing waits unread.
    assert session.exec(
        select(func.count()).select_from(Notification).where(col(Notification.read_at).is_(None))
    ).one()
    assert all(as_utc(c.created_at) >= now - timedelta(days=DAYS + 1) for c in past)


def test_past_customers_are_not_todays() -> None:
    # Two contacts of one name in one demo would read as one customer twice.
    today = {customer[0] for customer in CUSTOMERS}
    past = {past_customer(number)[0] for number in range(128)}
    assert len(past) == 128
    assert not today & past
