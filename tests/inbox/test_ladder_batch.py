"""Many conversations due at once: their stages run a group a transaction, still each once,
whatever fails halfway (docs/performance.md#sla-timers)."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select

from inbox import ladder, ladder_writes
from inbox.db import Database
from inbox.events import Event
from inbox.models import Alert, AuditEntry, Conversation, Notification, SlaStageRun
from inbox.notifiers.alerts import alert_people, alert_targets
from inbox.policy import Policy
from inbox.scheduler import SlaTimer
from inbox.sla import current_policy, moments
from tests.factories import World, build_world

from .sla_support import reload, use_policy, warsaw, writes

MONDAY = warsaw(2026, 11, 16, 9, 0)
WARNING = MONDAY + timedelta(minutes=45)  # Standard: 60 minutes, amber at 75 %
BREACH = MONDAY + timedelta(hours=1)
PEOPLE: list[dict[str, Any]] = [
    {
        "name": "Kasia Nowak",
        "role": "team_lead",
        "email": "maria@example.com",  # also a Handoff agent: Maria Lopez
        "phone": "+48600100200",
        "slack": "U0KASIA",
    },
]
LADDER: list[dict[str, Any]] = [
    {"name": "Lead at breach", "at": "breach", "notify": ["team_lead"], "channels": ["slack"]}
]
# More than one group.
MANY = ladder.GROUP + 7


def many_write(session: Session, w: World, count: int = MANY) -> list[Conversation]:
    use_policy(session, people=PEOPLE, ladder=LADDER)
    return [
        writes(session, w.webchat, MONDAY, who=f"c{i}", team=w.support).conversation
        for i in range(count)
    ]


def stage_counts(session: Session) -> Counter[tuple[int, str]]:
    rows = session.exec(select(SlaStageRun.conversation_id, SlaStageRun.stage_key)).all()
    return Counter(rows)


def notes_by(session: Session, kind: str) -> Counter[tuple[int | None, int]]:
    rows = session.exec(
        select(Notification.conversation_id, Notification.agent_id).where(Notification.kind == kind)
    ).all()
    return Counter(rows)


def test_a_due_minute_fires_every_stage_once_with_its_effects(
    session: Session, events: list[Event]
) -> None:
    w = build_world(session)
    conversations = many_write(session, w)
    team = {w.dana.id, w.manager.id}

    warned = ladder.run_due(session, WARNING)
    assert len(warned) == MANY and all(k.endswith(".warning") for k in warned)
    warnings = notes_by(session, "sla_warning")
    assert {c for c, _ in warnings} == {c.id for c in conversations}
    assert set(warnings.values()) == {1}
    assert all({a for c, a in warnings if c == conv.id} >= team for conv in conversations)
    assert ladder.run_due(session, WARNING) == []

    fired = ladder.run_due(session, BREACH)
    assert len(fired) == 2 * MANY
    assert set(stage_counts(session).values()) == {1}
    assert len(stage_counts(session)) == 3 * MANY
    # The ladder stage: one Slack alert each, a bell for Maria (her email is the lead's).
    alerts = session.exec(select(Alert.conversation_id, Alert.channel, Alert.target)).all()
    assert sorted(alerts) == sorted((c.id, "slack", "U0KASIA") for c in conversations)
    assert notes_by(session, "sla_ladder") == Counter((c.id, w.manager.id) for c in conversations)
    ladder_runs = session.exec(
        select(SlaStageRun).where(col(SlaStageRun.stage_key).startswith("ladder."))
    ).all()
    alert_ids = {a for a in session.exec(select(Alert.id)).all()}
    assert {r.details["alerts"][0]["id"] for r in ladder_runs} == alert_ids
    audit = Counter(session.exec(select(AuditEntry.action)).all())
    assert (audit["sla.warning"], audit["sla.breach"], audit["sla.ladder"]) == (MANY, MANY, MANY)
    # Told after the commit: one event per notification and per alert.
    published = Counter(e.type for e in events)
    notes = session.exec(select(Notification.id)).all()
    assert published["notification.created"] == len(notes)
    assert published["alert.created"] == MANY
    # Next: each conversation's resolution warning.
    assert {reload(session, c).next_timer_at for c in conversations} == {
        warsaw(2026, 11, 16, 16, 0)
    }


def test_a_group_that_fails_halfway_runs_again_one_by_one_each_stage_once(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = build_world(session)
    conversations = many_write(session, w)
    ladder.run_due(session, WARNING)
    real = ladder._Effects.run
    calls = 0

    def fails_once_halfway(self: Any, conversation: Conversation, moment: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == ladder.GROUP:  # halfway through the first group (two stages each)
            raise RuntimeError("the disk hiccupped")
        return real(self, conversation, moment)

    monkeypatch.setattr(ladder._Effects, "run", fails_once_halfway)
    fired = ladder.run_due(session, BREACH)
    assert sorted(fired) == sorted(
        k for c in conversations for k in stage_keys(session, c, "breach")
    )
    assert set(stage_counts(session).values()) == {1}
    assert len(stage_counts(session)) == 3 * MANY
    assert set(notes_by(session, "sla_breach").values()) == {1}
    assert len(session.exec(select(Alert)).all()) == MANY
    assert ladder.run_due(session, BREACH) == []


class Crash(BaseException):
    """The process dies: nothing catches it, its transaction is lost."""


def test_a_crash_mid_group_loses_nothing_and_doubles_nothing(
    session: Session, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = build_world(session)
    many_write(session, w)
    real = ladder_writes.Writes.write

    def crashes(self: Any, session: Session) -> None:
        real(self, session)
        raise Crash

    monkeypatch.setattr(ladder_writes.Writes, "write", crashes)
    with pytest.raises(Crash):
        ladder.run_due(session, BREACH)
    session.rollback()
    monkeypatch.undo()
    with db.session() as restarted:
        assert restarted.exec(select(SlaStageRun)).all() == []
        fired = ladder.run_due(restarted, BREACH)
        # Down past the breach: the warnings are recorded without noise.
        assert len(fired) == 3 * MANY
        assert set(stage_counts(restarted).values()) == {1}
        assert set(notes_by(restarted, "sla_breach").values()) == {1}
        assert notes_by(restarted, "sla_warning") == Counter()


def test_a_stage_another_process_ran_is_skipped(session: Session) -> None:
    w = build_world(session)
    first, second = many_write(session, w, count=2)
    assert first.id is not None
    key = next(k for k in stage_keys(session, first, "warning"))
    session.add(SlaStageRun(conversation_id=first.id, stage_key=key, due_at=WARNING))
    session.commit()
    fired = ladder.run_due(session, WARNING)
    assert fired == stage_keys(session, second, "warning")
    assert {c for c, _ in notes_by(session, "sla_warning")} == {second.id}
    assert reload(session, first).next_timer_at == BREACH


def test_an_earlier_timer_set_meanwhile_is_kept(session: Session) -> None:
    w = build_world(session)
    (c,) = many_write(session, w, count=1)
    policy = current_policy(session)
    fired = set(stage_keys(session, c, "warning"))
    # Committed by someone else after the group read the conversation (due at 9:45).
    for meanwhile, kept in [
        (WARNING + timedelta(minutes=5), WARNING + timedelta(minutes=5)),
        (BREACH + timedelta(minutes=5), BREACH),
    ]:
        session.execute(
            update(Conversation).where(Conversation.id == c.id).values(next_timer_at=meanwhile)  # type: ignore[arg-type]
        )
        ladder_writes.store_next_timers(session, policy, [(c, fired)], WARNING)
        session.commit()
        assert reload(session, c).next_timer_at == kept


def test_alerts_go_once_to_each_place(session: Session) -> None:
    people = Policy.model_validate(
        {
            "people": [
                {"name": "Maria", "role": "manager", "email": "m@example.com", "slack": "U0M"},
                {"name": "Jan", "role": "director", "phone": "+48600100400", "slack": "U0J"},
                {"name": "Ola", "role": "director", "email": "m@example.com"},
            ]
        }
    ).people
    own = Policy.model_validate({})
    shared = Policy.model_validate({"notifiers": {"slack": {"channel": "C0ALERTS"}}})
    assert alert_targets(own, people, ["slack", "sms", "email", "email"]) == [
        ("slack", "U0M"),
        ("slack", "U0J"),
        ("sms", "+48600100400"),
        ("email", "m@example.com"),
    ]
    assert alert_targets(shared, people, ["slack"]) == [("slack", "C0ALERTS")]
    made = alert_people(
        session, shared, people=people, channels=["slack", "email"], text="x", conversation_id=None
    )
    assert [(a.channel, a.target) for a in made] == [
        ("slack", "C0ALERTS"),
        ("email", "m@example.com"),
    ]
    session.rollback()


async def test_the_loop_hands_the_event_loop_back_between_groups(
    session: Session, db: Database
) -> None:
    w = build_world(session)
    many_write(session, w)
    timer = SlaTimer(db)
    timer.load()
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0)

    beside = asyncio.create_task(ticker())
    fired = await timer.run_due_in_steps(WARNING)
    stop.set()
    await beside
    assert len(fired) == MANY
    groups = -(-MANY // ladder.GROUP)
    assert ticks > groups


def stage_keys(session: Session, conversation: Conversation, kind: str) -> list[str]:
    """The keys of the conversation's stages due at the moment of `kind`, in firing order."""
    fresh = reload(session, conversation)
    at: datetime = WARNING if kind == "warning" else BREACH
    policy = current_policy(session)
    return [
        m.key
        for m in sorted(moments(session, policy, fresh, None), key=lambda m: m.at)
        if m.at == at
    ]
