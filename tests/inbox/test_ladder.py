"""Ladder stages: each runs once (twice called, or across a restart), alerts the people the
policy names, escalates, stops when someone accepts; the timer loop fires on time."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session, col, select

from inbox.accounts import do_create_inbox, do_create_team
from inbox.clock import FrozenClock, utcnow
from inbox.db import Database
from inbox.escalation import do_accept
from inbox.events import Event
from inbox.ladder import DuePass, run_due
from inbox.models import Alert, AuditEntry, Escalation, Inbox, SlaStageRun, Team
from inbox.scheduler import SlaTimer
from inbox.sla import timer_moved
from tests.factories import World, build_world

from .sla_support import notified, reload, runs, use_policy, warsaw, writes

PEOPLE: list[dict[str, Any]] = [
    {
        "name": "Kasia Nowak",
        "role": "team_lead",
        "email": "kasia@example.com",
        "phone": "+48600100200",
        "slack": "U0KASIA",
    },
    {
        "name": "Maria Lopez",
        "role": "manager",
        "email": "maria@example.com",
        "phone": "+48600100300",
        "slack": "U0MARIA",
    },
    {
        "name": "Jan Kowalczyk",
        "role": "director",
        "email": "jan@example.com",
        "phone": "+48600100400",
    },
]
LADDER: list[dict[str, Any]] = [
    {
        "name": "Team lead at breach",
        "at": "breach",
        "notify": ["team_lead"],
        "channels": ["slack", "email"],
    },
    {
        "name": "Manager at 24 hours",
        "after_hours": 24,
        "notify": ["manager"],
        "channels": ["slack", "sms", "email"],
        "escalate_tiers": 1,
    },
    {
        "name": "Director at 48 hours",
        "after_hours": 48,
        "notify": ["director"],
        "channels": ["sms", "email"],
        "escalate_tiers": 1,
    },
]
TIERS = [
    {"level": 1, "name": "First line", "teams": ["Support L1"]},
    {"level": 2, "name": "Specialists", "teams": ["Billing"]},
    {"level": 3, "name": "Management", "teams": ["Management"]},
]
MONDAY = warsaw(2026, 11, 16, 9, 0)


def ladder_world(session: Session, acknowledge_minutes: int = 5000) -> tuple[World, Team]:
    w = build_world(session)
    management = do_create_team(session=session, name="Management", tier=3)
    session.commit()
    use_policy(
        session,
        people=PEOPLE,
        ladder=LADDER,
        tiers=TIERS,
        rules={"acknowledge_minutes": acknowledge_minutes},
    )
    return w, management


def keys_by_stage(session: Session) -> dict[str, int]:
    rows = session.exec(select(SlaStageRun.stage_key)).all()
    return {key: rows.count(key) for key in rows}


def stage(fired: list[str], name: str) -> str:
    return next(k for k in fired if k.endswith(name))


def alerts_of(session: Session, key: str) -> list[tuple[str, str, int | None]]:
    rows = session.exec(select(Alert).where(Alert.stage_key == key).order_by(col(Alert.id))).all()
    return [(a.channel, a.target, a.escalation_id) for a in rows]


def test_every_stage_runs_once_even_called_twice_and_across_a_restart(
    session: Session, db: Database
) -> None:
    w, _ = ladder_world(session)
    c = writes(session, w.webchat, MONDAY, team=w.support).conversation
    run_due(session, MONDAY + timedelta(minutes=45))  # the first response warning

    fired = run_due(session, MONDAY + timedelta(hours=1))
    breach = stage(fired, "Team lead at breach")
    assert len(fired) == 2 and fired[0].endswith(".breach")
    assert alerts_of(session, breach) == [
        ("slack", "U0KASIA", None),
        ("email", "kasia@example.com", None),
    ]
    assert run_due(session, MONDAY + timedelta(hours=1)) == []

    fired = run_due(session, MONDAY + timedelta(hours=24))
    manager = stage(fired, "Manager at 24 hours")
    first = session.exec(select(Escalation).where(Escalation.conversation_id == c.id)).one()
    assert (first.trigger, first.kind, first.to_tier) == ("sla", "hierarchical", 2)
    assert "Manager at 24 hours" in first.brief["summary"]
    assert reload(session, c).team_id == w.billing.id
    # Each alert offers the escalation it made, so "Accept" in Slack can take it.
    assert alerts_of(session, manager) == [
        ("slack", "U0MARIA", first.id),
        ("sms", "+48600100300", first.id),
        ("email", "maria@example.com", first.id),
    ]
    # Maria is also a Handoff agent (same email): she sees it in the bell too.
    assert [agent for agent, _ in notified(session, "sla_ladder")] == [w.manager.id]
    assert run_due(session, MONDAY + timedelta(hours=24)) == []

    # A restart: a new timer, built from the database alone.
    timer = SlaTimer(db, clock=FrozenClock(MONDAY + timedelta(hours=48)))
    timer.load()
    assert timer.next_at() == reload(session, c).next_timer_at
    later = timer.run_due_now(MONDAY + timedelta(hours=48))
    director = stage(later, "Director at 48 hours")
    escalations = session.exec(
        select(Escalation).where(Escalation.conversation_id == c.id).order_by(col(Escalation.id))
    ).all()
    assert [e.to_tier for e in escalations] == [2, 3]
    assert [a[:2] for a in alerts_of(session, director)] == [
        ("sms", "+48600100400"),
        ("email", "jan@example.com"),
    ]

    again = SlaTimer(db)
    again.load()
    assert again.run_due_now(MONDAY + timedelta(hours=48)) == []
    assert run_due(session, MONDAY + timedelta(hours=72)) == []
    counts = keys_by_stage(session)
    assert set(counts.values()) == {1}
    assert {breach, manager, director} <= set(counts)
    ladder_audit = session.exec(select(AuditEntry).where(AuditEntry.action == "sla.ladder")).all()
    assert sorted(e.details["stage"] for e in ladder_audit) == [
        "Director at 48 hours",
        "Manager at 24 hours",
        "Team lead at breach",
    ]


def test_accepting_the_escalation_stops_the_ladder(session: Session) -> None:
    w, _ = ladder_world(session)
    c = writes(session, w.webchat, MONDAY, team=w.support).conversation
    run_due(session, MONDAY + timedelta(hours=24))
    escalation = session.exec(select(Escalation).where(Escalation.conversation_id == c.id)).one()
    do_accept(session=session, escalation=escalation, agent=w.bob, now=MONDAY + timedelta(hours=25))
    c = reload(session, c)
    assert c.next_timer_at is None or c.next_timer_at < MONDAY + timedelta(hours=48)
    fired = run_due(session, MONDAY + timedelta(hours=49))
    assert not [k for k in fired if k.startswith("ladder.")]
    assert not [k for k in runs(session, c) if k.endswith("Director at 48 hours")]
    assert len(session.exec(select(Escalation)).all()) == 1


def test_an_escalation_nobody_accepts_bounces_on_time(session: Session) -> None:
    w, _ = ladder_world(session, acknowledge_minutes=30)
    c = writes(session, w.webchat, MONDAY, team=w.support).conversation
    run_due(session, MONDAY + timedelta(hours=24))
    first = session.exec(select(Escalation).where(Escalation.conversation_id == c.id)).one()
    assert reload(session, c).next_timer_at == first.bounce_due_at
    assert first.bounce_due_at == MONDAY + timedelta(hours=24, minutes=30)
    run_due(session, MONDAY + timedelta(hours=24, minutes=29))
    session.refresh(first)
    assert first.status == "open"
    run_due(session, MONDAY + timedelta(hours=24, minutes=30))
    session.refresh(first)
    assert first.status == "bounced"
    tiers = session.exec(
        select(Escalation.to_tier)
        .where(Escalation.conversation_id == c.id)
        .order_by(col(Escalation.id))
    ).all()
    assert tiers == [2, 3]


def test_a_stage_that_cannot_escalate_still_alerts_and_says_why(session: Session) -> None:
    _, management = ladder_world(session)
    w_inbox = session.exec(select(Inbox).where(Inbox.channel == "webchat")).one()
    c = writes(session, w_inbox, MONDAY, team=management).conversation
    assert c.tier == 3
    fired = run_due(session, MONDAY + timedelta(hours=24))
    key = stage(fired, "Manager at 24 hours")
    refused = runs(session, c)[key]
    # No tier above L3: the stage still ran once, alerted, and recorded why it did not escalate.
    assert refused.details["escalation_refused"]
    assert "escalation_id" not in refused.details
    assert [a[0] for a in alerts_of(session, key)] == ["slack", "sms", "email"]
    assert session.exec(select(Escalation)).all() == []
    assert run_due(session, MONDAY + timedelta(hours=24)) == []


async def test_the_loop_fires_a_stage_within_a_second_of_its_due_time(
    session: Session, db: Database
) -> None:
    use_policy(
        session,
        calendars=[],
        sla=[],
        ladder=[{"name": "Soon", "after_hours": 0.3 / 3600, "notify": [], "channels": []}],
    )
    # A long bounded wait: only the wake-up event can make the loop fire on time.
    timer = SlaTimer(db, max_wait=timedelta(seconds=30))
    task = asyncio.create_task(timer.run())
    try:
        await asyncio.sleep(0.05)  # let it load its (empty) heap and go to sleep
        inbox = do_create_inbox(session=session, name="Chat", channel="webchat", config={})
        session.commit()
        c = writes(session, inbox, utcnow()).conversation
        due = c.next_timer_at
        assert due is not None
        run = await _stage_run(db, deadline=due + timedelta(seconds=2))
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            async with asyncio.timeout(5):  # a swallowed cancel fails here, not hangs
                await task
    assert run is not None, "the stage did not fire"
    assert timedelta(0) <= run.fired_at - run.due_at < timedelta(seconds=1)


async def _stage_run(db: Database, deadline: datetime) -> SlaStageRun | None:
    while utcnow() < deadline:
        with db.session() as s:
            found = s.exec(select(SlaStageRun)).first()
        if found is not None:
            return found
        await asyncio.sleep(0.05)
    return None


async def test_a_cancel_that_meets_a_wake_up_still_stops_the_timer(db: Database) -> None:
    """asyncio.wait_for on 3.11 returned the event and dropped the cancel when both came in
    the same loop turn: the loop then ran on, and the app's shutdown waited for it forever."""
    timer = SlaTimer(db, max_wait=timedelta(seconds=30))
    wakes: asyncio.Queue[Event] = asyncio.Queue()
    sleeping = asyncio.create_task(timer._sleep(wakes))
    await asyncio.sleep(0)  # waiting on the queue now
    wakes.put_nowait(timer_moved(1, utcnow() + timedelta(minutes=5)))
    sleeping.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        async with asyncio.timeout(2):
            await sleeping
    assert sleeping.cancelled(), "the cancel was swallowed"


async def test_a_cancel_during_a_step_lets_the_thread_finish_before_its_session_closes(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Closing the session under the worker thread failed with an error that replaced the
    cancel, and the timer loop ran on: a shutdown that never ended."""
    timer = SlaTimer(db)
    timer.push(utcnow() - timedelta(seconds=1), 0)
    entered, release = threading.Event(), threading.Event()
    order: list[str] = []

    def slow_step(self: DuePass, session: Session) -> bool:
        entered.set()
        release.wait(5)
        order.append("step done")
        return False

    @contextlib.contextmanager
    def recorded_session() -> Iterator[Session]:
        with db.open_session() as session:
            try:
                yield session
            finally:
                order.append("closed")

    monkeypatch.setattr(DuePass, "step", slow_step)
    monkeypatch.setattr(db, "session", recorded_session)
    task = asyncio.create_task(timer.run_due_in_steps(utcnow()))
    await asyncio.to_thread(entered.wait, 5)
    task.cancel()
    await asyncio.sleep(0.05)
    assert order == [], "the session stays open while the thread uses it"
    release.set()
    with contextlib.suppress(asyncio.CancelledError):
        async with asyncio.timeout(5):
            await task
    assert task.cancelled()
    assert order == ["step done", "closed"]
