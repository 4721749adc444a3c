"""Escalations in the domain, with an injected clock: functional and hierarchical records, the
pinned brief, the team mention, acknowledge-or-bounce, accepting, and closing on resolve."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, col, select

from inbox.accounts import do_create_agent, do_create_team
from inbox.conversations import do_set_status
from inbox.errors import Forbidden, InvalidInput, NotFound
from inbox.escalation import (
    do_accept,
    do_bounce_due,
    do_escalate,
    escalations_of,
    next_bounce_due,
)
from inbox.events import Event
from inbox.inbox_members import set_inbox_members
from inbox.models import (
    Agent,
    Alert,
    AuditEntry,
    Conversation,
    CustomerUpdate,
    Escalation,
    Mention,
    Message,
    Notification,
    Team,
)
from inbox.policy import (
    Calendar,
    CustomerUpdates,
    MatrixRow,
    Policy,
    Rules,
    Tier,
)
from inbox.policy_store import do_save_policy
from inbox.shortcuts_store import do_create_shortcut
from tests.factories import PASSWORD, World, build_world, customer_writes

# A Tuesday, 11:00 in Warsaw: inside the test policy's business hours.
T0 = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)
BRIEF = {"summary": "Charged twice for the March invoice"}


def company(session: Session) -> tuple[World, Team, Agent]:
    """build_world plus a management tier, under a policy with no automatic routing."""
    w = build_world(session)
    management = do_create_team(session=session, name="Management", tier=3, skills=["management"])
    assert management.id is not None
    boss = do_create_agent(
        session=session,
        email="boss@example.com",
        name="Grace Hopper",
        password=PASSWORD,
        team_ids=[management.id],
    )
    session.commit()
    use_policy(session)
    return w, management, boss


def use_policy(session: Session, **updates: object) -> Policy:
    weekdays = ("mon", "tue", "wed", "thu", "fri")
    policy = Policy(
        tiers=[
            Tier(level=1, name="First line", teams=["Support L1"]),
            Tier(level=2, name="Specialists", teams=["Billing"]),
            Tier(level=3, name="Management", teams=["Management"]),
        ],
        matrix=[
            MatrixRow(
                problem="billing",
                skill="billing",
                tiers={1: "Support L1", 2: "Billing", 3: "Management"},
            )
        ],
        calendars=[
            Calendar.model_validate(
                {
                    "name": "Office",
                    "timezone": "Europe/Warsaw",
                    "hours": {day: [["09:00", "17:00"]] for day in weekdays},
                }
            )
        ],
        rules=Rules(acknowledge_minutes=30, reopen_team="Billing"),
        customer_updates=CustomerUpdates(
            cadence_minutes=60,
            business_hours_only=True,
            calendar="Office",
            min_gap_minutes=15,
            templates={
                "escalated": {
                    "en": "A specialist from our {team} team is on your case.",
                    "de": "Ein Spezialist aus dem Team {team} kümmert sich um Ihr Anliegen.",
                },
                "accepted": {"en": "{agent} from {team} has your case."},
                "periodic": {"en": "Still on it with {team}."},
                "resolved": {"en": "Case #{conversation_id} is resolved."},
            },
        ),
    )
    policy = policy.model_copy(update=updates)
    do_save_policy(session=session, policy=policy, actor=None, now=T0 - timedelta(days=1))
    return policy


def fresh(session: Session, conversation: Conversation) -> Conversation:
    session.refresh(conversation)
    return conversation


def test_functional_escalation_writes_the_record_and_moves_the_conversation(
    session: Session, events: list[Event]
) -> None:
    w, _, _ = company(session)
    c = customer_writes(session, w.webchat, "I was charged twice", team=w.support).conversation
    escalation = do_escalate(
        session=session,
        conversation=c,
        actor=w.dana,
        trigger="agent",
        brief=BRIEF,
        to_team=w.billing,
        reason="double charge",
        now=T0,
    )
    assert escalation.kind == "functional" and escalation.status == "open"
    assert (escalation.from_team_id, escalation.to_team_id) == (w.support.id, w.billing.id)
    assert (escalation.from_tier, escalation.to_tier) == (1, 2)
    assert escalation.agent_id == w.dana.id and escalation.trigger == "agent"
    assert escalation.bounce_due_at == T0 + timedelta(minutes=30)
    c = fresh(session, c)
    assert c.team_id == w.billing.id and c.tier == 2
    assert c.transfer_count == 1, "moving from a first team counts as a transfer"
    assert c.escalation_id == escalation.id
    actions = session.exec(select(AuditEntry.action)).all()
    assert "escalation.created" in actions
    created = [e for e in events if e.type == "escalation.created"]
    assert created and created[0].audience.team_id == w.billing.id


def test_the_brief_is_pinned_and_the_target_team_is_mentioned(session: Session) -> None:
    w, _, _ = company(session)
    c = customer_writes(session, w.webchat, "Refund?", team=w.support).conversation
    brief = {"summary": "Wants a refund", "tried": "Checked Stripe"}
    do_escalate(
        session=session,
        conversation=c,
        actor=w.dana,
        trigger="agent",
        brief=brief,
        to_team=w.billing,
        now=T0,
    )
    notes = session.exec(
        select(Message).where(Message.conversation_id == c.id, Message.kind == "note")
    ).all()
    pinned = [m for m in notes if m.pinned]
    assert len(pinned) == 1
    assert pinned[0].content == "Summary: Wants a refund\nTried: Checked Stripe"
    mention_note = next(m for m in notes if not m.pinned)
    assert "@Billing" in mention_note.content
    mentioned = session.exec(select(Mention.agent_id).where(Mention.conversation_id == c.id)).all()
    assert w.bob.id in mentioned
    told = session.exec(select(Notification).where(Notification.agent_id == w.bob.id)).all()
    assert any("escalated conversation" in n.text for n in told)
    assert not session.exec(select(Notification).where(Notification.agent_id == w.dana.id)).all()


def test_hierarchical_escalation_goes_to_the_next_tier_by_the_matrix(session: Session) -> None:
    w, management, _ = company(session)
    c = customer_writes(session, w.webchat, "Not happy", team=w.billing).conversation
    escalation = do_escalate(
        session=session,
        conversation=c,
        actor=w.bob,
        trigger="agent",
        brief=BRIEF,
        tier_up=1,
        now=T0,
    )
    assert escalation.kind == "hierarchical"
    assert escalation.to_team_id == management.id and escalation.to_tier == 3
    assert fresh(session, c).tier == 3


def test_escalating_by_skill_finds_the_team_with_it(session: Session) -> None:
    w, _, _ = company(session)
    c = customer_writes(session, w.webchat, "Invoice wrong", team=w.support).conversation
    escalation = do_escalate(
        session=session,
        conversation=c,
        actor=w.dana,
        trigger="agent",
        brief=BRIEF,
        skill="billing",
        now=T0,
    )
    assert escalation.to_team_id == w.billing.id and escalation.kind == "functional"


def test_refusals_store_nothing(session: Session) -> None:
    w, _, _ = company(session)
    c = customer_writes(session, w.webchat, "Hi", team=w.support).conversation
    shortcut = do_create_shortcut(
        session=session,
        label="Escalate to Billing",
        target={"team_id": w.billing.id},
        brief_fields=[
            {"name": "problem", "label": "Problem", "required": True},
            {"name": "tried", "label": "What was tried", "required": True},
        ],
    )
    with pytest.raises(InvalidInput) as missing:
        do_escalate(
            session=session,
            conversation=c,
            actor=w.dana,
            trigger="agent",
            brief={"problem": "Charged twice"},
            shortcut=shortcut,
            now=T0,
        )
    assert missing.value.detail == {"field": "brief.tried"}
    assert "What was tried" in missing.value.message
    with pytest.raises(InvalidInput):
        do_escalate(
            session=session,
            conversation=c,
            actor=w.dana,
            trigger="agent",
            brief={},
            to_team=w.billing,
            now=T0,
        )
    with pytest.raises(InvalidInput, match="already with Support L1"):
        do_escalate(
            session=session,
            conversation=c,
            actor=w.dana,
            trigger="agent",
            brief=BRIEF,
            to_team=w.support,
            now=T0,
        )
    with pytest.raises(InvalidInput, match="L3"):
        do_escalate(
            session=session,
            conversation=c,
            actor=w.dana,
            trigger="agent",
            brief=BRIEF,
            tier_up=3,
            now=T0,
        )
    assert session.exec(select(Escalation)).all() == []
    c = fresh(session, c)
    assert c.team_id == w.support.id and c.transfer_count == 0 and c.escalation_id is None
    assert not session.exec(select(Message).where(col(Message.pinned).is_(True))).all()


def test_a_shortcut_escalates_and_runs_its_actions(session: Session) -> None:
    w, _, _ = company(session)
    c = customer_writes(session, w.webchat, "Hi", team=w.support).conversation
    shortcut = do_create_shortcut(
        session=session,
        label="Escalate to Billing",
        target={"team_id": w.billing.id},
        brief_fields=[{"name": "problem", "label": "Problem", "required": True}],
        actions={
            "priority": "urgent",
            "label": "refund",
            "slack_channel": "C0BILLING",
            "webhook_url": "https://tickets.example.com/hook",
        },
    )
    escalation = do_escalate(
        session=session,
        conversation=c,
        actor=w.dana,
        trigger="agent",
        brief={"problem": "Double charge"},
        shortcut=shortcut,
        now=T0,
    )
    assert escalation.to_team_id == w.billing.id and escalation.shortcut_id == shortcut.id
    assert escalation.brief["labels"] == ["refund"]
    assert fresh(session, c).priority == "urgent"
    alerts = session.exec(select(Alert).where(Alert.escalation_id == escalation.id)).all()
    assert {(a.channel, a.target, a.status) for a in alerts} == {
        ("slack", "C0BILLING", "pending"),
        ("webhook", "https://tickets.example.com/hook", "pending"),
    }


def test_nobody_accepting_bounces_a_tier_up_exactly_once_and_says_so(session: Session) -> None:
    w, management, boss = company(session)
    c = customer_writes(session, w.webchat, "Charged twice", team=w.support).conversation
    first = do_escalate(
        session=session,
        conversation=c,
        actor=w.dana,
        trigger="agent",
        brief=BRIEF,
        to_team=w.billing,
        now=T0,
    )
    assert next_bounce_due(session) == T0 + timedelta(minutes=30)
    assert do_bounce_due(session=session, now=T0 + timedelta(minutes=29)) == []
    bounced = do_bounce_due(session=session, now=T0 + timedelta(minutes=30))
    assert len(bounced) == 1
    second = bounced[0]
    assert (second.kind, second.trigger, second.parent_id) == ("hierarchical", "rule", first.id)
    assert second.to_team_id == management.id and second.to_tier == 3
    assert second.brief == first.brief
    session.refresh(first)
    assert first.status == "bounced" and first.closed_at is not None
    c = fresh(session, c)
    assert c.escalation_id == second.id and c.team_id == management.id
    assert c.transfer_count == 2
    lines = session.exec(
        select(Message.content).where(Message.conversation_id == c.id, Message.kind == "activity")
    ).all()
    assert any("Nobody in Billing accepted in time" in line for line in lines)
    assert session.exec(select(Notification).where(Notification.agent_id == boss.id)).all()
    # Once: a later sweep finds nothing more to bounce (Management is the top tier).
    assert do_bounce_due(session=session, now=T0 + timedelta(minutes=45)) == []
    assert do_bounce_due(session=session, now=T0 + timedelta(hours=5)) == []
    assert len(escalations_of(session, c.id or 0)) == 2


def test_accepting_stops_the_bounce_and_assigns(session: Session) -> None:
    w, _, _ = company(session)
    c = customer_writes(session, w.webchat, "Charged twice", team=w.support).conversation
    escalation = do_escalate(
        session=session,
        conversation=c,
        actor=w.dana,
        trigger="agent",
        brief=BRIEF,
        to_team=w.billing,
        now=T0,
    )
    with pytest.raises(NotFound):  # Dana no longer sees it: it left her team
        do_accept(session=session, escalation=escalation, agent=w.dana, now=T0)
    desk = do_create_agent(session=session, email="desk@example.com", name="Front Desk")
    set_inbox_members(session, w.webchat, [desk.id or 0])
    session.commit()
    with pytest.raises(Forbidden):  # sees the inbox, but is not in Billing
        do_accept(session=session, escalation=escalation, agent=desk, now=T0)
    do_accept(session=session, escalation=escalation, agent=w.bob, now=T0 + timedelta(minutes=20))
    assert escalation.status == "accepted" and escalation.accepted_by_id == w.bob.id
    assert escalation.accepted_at == T0 + timedelta(minutes=20)
    assert fresh(session, c).assignee_id == w.bob.id
    assert do_bounce_due(session=session, now=T0 + timedelta(hours=2)) == []
    assert next_bounce_due(session) is None
    kinds = session.exec(select(CustomerUpdate.kind).order_by(col(CustomerUpdate.id))).all()
    assert kinds == ["escalated", "accepted"]
    accepted = session.exec(
        select(Message).where(col(Message.automatic).is_(True)).order_by(col(Message.id).desc())
    ).first()
    assert accepted is not None and accepted.content == "Bob from Billing has your case."


def test_resolving_closes_the_escalation_and_tells_the_customer(session: Session) -> None:
    w, _, _ = company(session)
    c = customer_writes(session, w.webchat, "Charged twice", team=w.support).conversation
    escalation = do_escalate(
        session=session,
        conversation=c,
        actor=w.dana,
        trigger="agent",
        brief=BRIEF,
        to_team=w.billing,
        now=T0,
    )
    do_set_status(
        session=session,
        conversation=c,
        status="resolved",
        actor=w.bob,
        now=T0 + timedelta(hours=1),
    )
    session.refresh(escalation)
    assert escalation.status == "resolved"
    assert escalation.closed_at == T0 + timedelta(hours=1)
    assert fresh(session, c).escalation_id is None
    resolved = session.exec(
        select(Message)
        .join(CustomerUpdate, col(CustomerUpdate.message_id) == col(Message.id))
        .where(CustomerUpdate.kind == "resolved")
    ).one()
    assert resolved.content == f"Case #{c.id} is resolved."
    assert resolved.kind == "outgoing" and resolved.delivery == "pending"
