"""SLA due times with business hours, holidays and pauses; warnings and breaches, once each."""

from __future__ import annotations

from datetime import UTC, timedelta

from sqlmodel import Session
from starlette.testclient import TestClient

from inbox.clock import utcnow
from inbox.conversations import do_reply, do_set_priority, do_set_status, do_wake_snoozed
from inbox.db import Database
from inbox.ladder import run_due
from tests.conftest import login
from tests.factories import build_world

from .sla_support import notified, reload, runs, use_policy, warsaw, writes


def test_first_response_and_resolution_are_due_in_business_time_skipping_a_holiday(
    session: Session,
) -> None:
    w = build_world(session)
    use_policy(session)
    # Tuesday 16:30; Wednesday 2026-11-11 is Poland's Independence Day.
    c = writes(session, w.webchat, warsaw(2026, 11, 10, 16, 30)).conversation
    assert c.sla_policy == "Standard"
    assert c.first_response_due_at == warsaw(2026, 11, 12, 9, 30)
    assert c.resolution_due_at == warsaw(2026, 11, 13, 9, 30)
    assert c.next_response_due_at is None
    # Amber at 75% of the first response target: 15 business minutes before it is due.
    assert c.sla_warn_at == warsaw(2026, 11, 12, 9, 15)
    assert c.next_timer_at == warsaw(2026, 11, 12, 9, 15)


def test_a_reply_settles_the_first_response_and_each_customer_message_owes_a_next_one(
    session: Session,
) -> None:
    w = build_world(session)
    use_policy(session)
    c = writes(session, w.webchat, warsaw(2026, 11, 16, 9, 0)).conversation
    do_reply(
        session=session,
        conversation=c,
        agent=w.dana,
        content="Looking",
        now=warsaw(2026, 11, 16, 9, 20),
    )
    assert c.first_response_due_at is None and c.next_response_due_at is None
    writes(session, w.webchat, warsaw(2026, 11, 16, 11, 30), "Any news?")
    c = reload(session, c)
    # Two hours of business time, lunch (12:00-13:00) not counted.
    assert c.next_response_due_at == warsaw(2026, 11, 16, 14, 30)
    writes(session, w.webchat, warsaw(2026, 11, 16, 11, 45), "Hello?")
    c = reload(session, c)
    assert c.next_response_due_at == warsaw(2026, 11, 16, 14, 30), "counts from the first"
    do_reply(
        session=session,
        conversation=c,
        agent=w.dana,
        content="Found it",
        now=warsaw(2026, 11, 16, 12, 10),
    )
    assert c.next_response_due_at is None
    assert c.resolution_due_at == warsaw(2026, 11, 17, 10, 0)


def test_pending_and_snoozed_pause_the_clock_and_resuming_pushes_every_due_time(
    session: Session,
) -> None:
    w = build_world(session)
    use_policy(session)
    c = writes(session, w.webchat, warsaw(2026, 11, 16, 10, 0)).conversation
    assert c.first_response_due_at == warsaw(2026, 11, 16, 11, 0)
    assert c.resolution_due_at == warsaw(2026, 11, 17, 11, 0)
    do_set_status(
        session=session,
        conversation=c,
        status="pending",
        actor=w.dana,
        now=warsaw(2026, 11, 16, 10, 30),
    )
    assert c.sla_paused_at == warsaw(2026, 11, 16, 10, 30)
    assert c.next_timer_at is None and c.sla_warn_at is None, "nothing fires while paused"
    # The customer answers at 14:00: 150 business minutes were paused (lunch excluded).
    c = writes(session, w.webchat, warsaw(2026, 11, 16, 14, 0), "Here is the photo").conversation
    assert c.status == "open" and c.sla_paused_at is None
    assert c.first_response_due_at == warsaw(2026, 11, 16, 14, 30)
    assert c.resolution_due_at == warsaw(2026, 11, 17, 14, 30)
    # Snoozed from 14:10 until 16:00: 110 more minutes.
    do_set_status(
        session=session,
        conversation=c,
        status="snoozed",
        snooze_until=warsaw(2026, 11, 16, 16, 0),
        actor=w.dana,
        now=warsaw(2026, 11, 16, 14, 10),
    )
    do_wake_snoozed(session=session, now=warsaw(2026, 11, 16, 16, 0))
    c = reload(session, c)
    assert c.status == "open"
    assert c.first_response_due_at == warsaw(2026, 11, 16, 16, 20)


def test_a_pause_after_the_breach_leaves_the_target_breached(session: Session) -> None:
    w = build_world(session)
    use_policy(session)
    c = writes(session, w.webchat, warsaw(2026, 11, 16, 9, 0)).conversation
    do_set_status(
        session=session,
        conversation=c,
        status="pending",
        actor=w.dana,
        now=warsaw(2026, 11, 16, 10, 30),
    )
    do_set_status(
        session=session,
        conversation=c,
        status="open",
        actor=w.dana,
        now=warsaw(2026, 11, 16, 15, 0),
    )
    assert c.first_response_due_at == warsaw(2026, 11, 16, 10, 0)


def test_a_higher_priority_picks_the_tighter_policy_and_keeps_the_time_already_spent(
    session: Session,
) -> None:
    w = build_world(session)
    use_policy(session)
    c = writes(session, w.webchat, warsaw(2026, 11, 16, 10, 0)).conversation
    do_set_priority(
        session=session,
        conversation=c,
        priority="urgent",
        actor=w.dana,
        now=warsaw(2026, 11, 16, 10, 10),
    )
    assert c.sla_policy == "Urgent"
    assert c.first_response_due_at == warsaw(2026, 11, 16, 10, 15)
    # Two business hours from 10:00 end at the lunch break, not after it.
    assert c.resolution_due_at == warsaw(2026, 11, 16, 12, 0)
    do_set_priority(
        session=session,
        conversation=c,
        priority="normal",
        actor=w.dana,
        now=warsaw(2026, 11, 16, 10, 11),
    )
    assert c.first_response_due_at == warsaw(2026, 11, 16, 11, 0)


def test_resolving_clears_the_clock_and_a_reopen_starts_a_new_cycle(session: Session) -> None:
    w = build_world(session)
    use_policy(session)
    c = writes(session, w.webchat, warsaw(2026, 11, 16, 10, 0)).conversation
    do_reply(
        session=session,
        conversation=c,
        agent=w.dana,
        content="Done",
        now=warsaw(2026, 11, 16, 10, 5),
    )
    do_set_status(
        session=session,
        conversation=c,
        status="resolved",
        actor=w.dana,
        now=warsaw(2026, 11, 16, 10, 30),
    )
    assert (c.first_response_due_at, c.next_response_due_at, c.resolution_due_at) == (
        None,
        None,
        None,
    )
    assert c.next_timer_at is None and c.sla_warn_at is None
    c = writes(session, w.webchat, warsaw(2026, 11, 17, 10, 0), "It broke again").conversation
    assert c.reopen_count == 1
    assert c.sla_started_at == warsaw(2026, 11, 17, 10, 0)
    assert c.first_response_due_at is None, "the first response happened in the first cycle"
    assert c.next_response_due_at == warsaw(2026, 11, 17, 12, 0)
    assert c.resolution_due_at == warsaw(2026, 11, 18, 11, 0)


def test_due_times_hold_across_the_autumn_clock_change(session: Session) -> None:
    w = build_world(session)
    use_policy(session)
    # Friday 16:30 CEST; the clocks go back on Sunday 2026-10-25.
    c = writes(session, w.webchat, warsaw(2026, 10, 23, 16, 30)).conversation
    assert c.first_response_due_at == warsaw(2026, 10, 26, 9, 30)
    assert c.first_response_due_at is not None
    assert c.first_response_due_at.astimezone(UTC).hour == 8


def test_the_warning_and_the_breach_notify_the_assignee_and_the_team_once_each(
    session: Session,
) -> None:
    w = build_world(session)
    use_policy(session)
    c = writes(session, w.webchat, warsaw(2026, 11, 16, 9, 0), team=w.support).conversation
    assert run_due(session, warsaw(2026, 11, 16, 9, 44)) == []
    fired = run_due(session, warsaw(2026, 11, 16, 9, 45))
    assert len(fired) == 1 and fired[0].startswith("first_response.")
    assert fired[0].endswith(".warning")
    team = {w.dana.id, w.manager.id}
    warned = notified(session, "sla_warning")
    assert {agent for agent, _ in warned} >= team
    assert all("First response due" in text and f"#{c.id}" in text for _, text in warned)
    assert run_due(session, warsaw(2026, 11, 16, 9, 45)) == [], "never twice"
    assert run_due(session, warsaw(2026, 11, 16, 9, 59)) == []
    breached = run_due(session, warsaw(2026, 11, 16, 10, 0))
    assert len(breached) == 1 and breached[0].endswith(".breach")
    assert {agent for agent, _ in notified(session, "sla_breach")} >= team
    assert len(notified(session, "sla_warning")) == len(warned)
    # Next: the resolution warning, two business hours before Tuesday 10:00.
    assert reload(session, c).next_timer_at == warsaw(2026, 11, 16, 16, 0)
    assert set(runs(session, c)) == {fired[0], breached[0]}


def test_a_late_timer_records_a_stale_warning_without_noise(session: Session) -> None:
    w = build_world(session)
    use_policy(session)
    c = writes(session, w.webchat, warsaw(2026, 11, 16, 9, 0), team=w.support).conversation
    # Down all morning: by 11:00 the warning and the breach are both past.
    fired = run_due(session, warsaw(2026, 11, 16, 11, 0))
    assert [k.rsplit(".", 1)[1] for k in fired] == ["warning", "breach"]
    assert notified(session, "sla_warning") == []
    assert notified(session, "sla_breach") != []
    warning = next(r for k, r in runs(session, c).items() if k.endswith("warning"))
    assert warning.details["skipped"] == "breach came first"


def test_the_list_shows_a_countdown_to_the_next_due_time(
    app_client: TestClient, db: Database
) -> None:
    with db.session() as session:
        w = build_world(session)
        use_policy(
            session,
            calendars=[],
            sla=[{"name": "Round the clock", "targets": {"first_response": 30}}],
        )
        now = utcnow()
        c = writes(session, w.webchat, now, team=w.support).conversation
        due = c.first_response_due_at
        assert due is not None and c.sla_warn_at is not None
    login(app_client, "dana@example.com")
    page = app_client.get("/inbox").text
    row = page[page.index(f'id="row-{c.id}"') :]
    row = row[: row.index("</li>")]
    assert f'data-due="{due.isoformat()}"' in row
    assert f'data-warn="{c.sla_warn_at.isoformat()}"' in row
    assert "First reply" in row
    assert due - now == timedelta(minutes=30)
