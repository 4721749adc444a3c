"""Counter rules: reopens, ping-pong transfers, old escalations and low CSAT ratings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, col, select

from inbox.accounts import do_create_team
from inbox.conversations import InboundMessage, do_change_team, do_receive_inbound, do_set_status
from inbox.csat import do_answer_survey
from inbox.escalation import do_accept, do_escalate
from inbox.models import (
    Alert,
    Conversation,
    CsatResponse,
    Escalation,
    Message,
    MessageKind,
    Notification,
    SlaStageRun,
    Status,
    Team,
)
from inbox.policy import Policy
from inbox.policy_store import do_save_policy
from inbox.rules import do_check_escalation_age, do_csat_review
from tests.factories import World, build_world

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


@dataclass
class Company:
    world: World
    satisfaction: Team
    management: Team


def company(session: Session) -> Company:
    """build_world with three tiers, and Maria as the escalation manager."""
    world = build_world(session)
    satisfaction = do_create_team(session=session, name="Customer Satisfaction", tier=2)
    management = do_create_team(session=session, name="Management", tier=3)
    session.commit()
    policy = {
        "tiers": [
            {"level": 1, "name": "First line", "teams": ["Support L1"]},
            {"level": 2, "name": "Specialists", "teams": ["Billing", "Customer Satisfaction"]},
            {"level": 3, "name": "Management", "teams": ["Management"]},
        ],
        "people": [
            {
                "name": "Maria Lopez",
                "role": "escalation_manager",
                "email": "maria@example.com",
                "slack": "U0ESCMGR",
            }
        ],
        "notifiers": {"slack": {"channel": "#escalations"}},
    }
    do_save_policy(session=session, policy=Policy.model_validate(policy), actor=None)
    return Company(world, satisfaction, management)


def writes(session: Session, c: Company, at: datetime, who: str = "ann") -> Conversation:
    assert c.world.webchat.id is not None
    return do_receive_inbound(
        session=session,
        inbound=InboundMessage(
            inbox_id=c.world.webchat.id,
            identifier=who,
            name=who,
            content="It is broken again",
            team_id=c.world.support.id,
        ),
        now=at,
    ).conversation


def escalations(session: Session, conversation: Conversation) -> list[Escalation]:
    session.expire_all()  # the rules escalate in a session of their own
    return list(
        session.exec(
            select(Escalation)
            .where(Escalation.conversation_id == conversation.id)
            .order_by(col(Escalation.id))
        ).all()
    )


def notifications(session: Session, c: Company) -> list[str]:
    return list(
        session.exec(
            select(Notification.text)
            .where(Notification.agent_id == c.world.manager.id, Notification.kind == "escalation")
            .order_by(col(Notification.id))
        ).all()
    )


def test_the_fourth_reopen_escalates_to_customer_satisfaction_once(session: Session) -> None:
    c = company(session)
    conversation = writes(session, c, T0)
    for n in range(1, 6):
        at = T0 + timedelta(hours=n)
        session.refresh(conversation)
        do_set_status(
            session=session, conversation=conversation, status="resolved", actor=None, now=at
        )
        writes(session, c, at + timedelta(minutes=10))  # the customer comes back
        found = escalations(session, conversation)
        if n <= 3:
            assert found == [], f"reopen {n} is within the limit"
        else:
            assert len(found) == 1, f"reopen {n}: the rule fires once"
    rule = escalations(session, conversation)[0]
    assert rule.trigger == "rule" and rule.reason == "reopened 4 times"
    assert rule.to_team_id == c.satisfaction.id and rule.kind == "functional"
    assert "4 times" in rule.brief["summary"]
    session.refresh(conversation)
    assert conversation.team_id == c.satisfaction.id and conversation.reopen_count == 5
    runs = session.exec(
        select(SlaStageRun).where(SlaStageRun.conversation_id == conversation.id)
    ).all()
    assert [r.stage_key for r in runs] == ["rule:reopen"]


def test_ping_pong_beyond_the_limit_goes_up_a_tier_and_tells_the_manager(
    session: Session,
) -> None:
    c = company(session)
    conversation = writes(session, c, T0)
    teams = [c.world.billing, c.world.support] * 3
    for n, team in enumerate(teams[:4], 1):
        do_change_team(
            session=session,
            conversation=conversation,
            team=team,
            actor=c.world.dana,
            now=T0 + timedelta(minutes=n),
        )
        if n == 3:
            assert escalations(session, conversation) == [], "three transfers are allowed"
            assert notifications(session, c) == []
    (rule,) = escalations(session, conversation)
    assert rule.trigger == "rule" and rule.reason == "transferred 4 times"
    assert rule.kind == "hierarchical" and (rule.from_tier, rule.to_tier) == (1, 2)
    assert rule.to_team_id == c.world.billing.id
    assert notifications(session, c) == [
        f"Conversation #{conversation.id} was transferred 4 times (ping-pong): it goes up a tier"
    ]
    # More moves never fire it again.
    session.refresh(conversation)
    for n, team in enumerate((c.world.support, c.world.billing), 10):
        do_change_team(
            session=session,
            conversation=conversation,
            team=team,
            actor=c.world.dana,
            now=T0 + timedelta(minutes=n),
        )
    assert [e.trigger for e in escalations(session, conversation)] == ["rule"]
    assert len(notifications(session, c)) == 1


def test_an_escalation_older_than_thirty_days_raises_one_alert(session: Session) -> None:
    c = company(session)
    old = writes(session, c, T0)
    accepted = do_escalate(
        session=session,
        conversation=old,
        actor=c.world.dana,
        trigger="agent",
        brief={"summary": "Needs a refund decision"},
        to_team=c.world.billing,
        now=T0,
    )
    do_accept(session=session, escalation=accepted, agent=c.world.bob, now=T0)
    finished = writes(session, c, T0, who="ben")
    do_escalate(
        session=session,
        conversation=finished,
        actor=c.world.dana,
        trigger="agent",
        brief={"summary": "Invoice question"},
        to_team=c.world.billing,
        now=T0,
    )
    session.refresh(finished)
    do_set_status(session=session, conversation=finished, status="resolved", actor=None, now=T0)

    assert do_check_escalation_age(session=session, now=T0 + timedelta(days=29)) == []
    assert do_check_escalation_age(session=session, now=T0 + timedelta(days=30, hours=1)) == [
        accepted.id
    ]
    assert do_check_escalation_age(session=session, now=T0 + timedelta(days=31)) == []

    alerts = session.exec(select(Alert).where(col(Alert.stage_key).startswith("rule:age"))).all()
    assert [(a.channel, a.status, a.target, a.escalation_id) for a in alerts] == [
        ("slack", "pending", "U0ESCMGR", accepted.id)
    ]
    assert "open 30 days" in alerts[0].text
    assert notifications(session, c) == [alerts[0].text]


def resolved_with_survey(session: Session, c: Company, who: str) -> CsatResponse:
    conversation = writes(session, c, T0, who=who)
    do_set_status(session=session, conversation=conversation, status="resolved", actor=None, now=T0)
    return session.exec(
        select(CsatResponse).where(CsatResponse.conversation_id == conversation.id)
    ).one()


def test_a_low_csat_opens_a_review_for_the_escalation_manager(session: Session) -> None:
    c = company(session)
    unhappy = resolved_with_survey(session, c, "ann")
    happy = resolved_with_survey(session, c, "ben")
    at = T0 + timedelta(hours=2)
    do_answer_survey(session=session, survey=happy, rating=4, now=at)
    do_answer_survey(session=session, survey=unhappy, rating=2, comment="Nobody helped", now=at)

    conversation = session.get(Conversation, unhappy.conversation_id)
    assert conversation is not None
    (review,) = escalations(session, conversation)
    assert review.trigger == "rule" and review.reason == "CSAT 2"
    assert review.to_team_id == c.management.id and review.to_tier == 3
    assert review.brief["summary"] == 'The customer rated this conversation 2/5: "Nobody helped"'
    session.refresh(conversation)
    assert conversation.status == Status.open and conversation.reopen_count == 0
    assert conversation.team_id == c.management.id
    assert notifications(session, c) == [
        f"The customer rated conversation #{conversation.id} 2/5: a review is open for you"
    ]
    happy_conversation = session.get(Conversation, happy.conversation_id)
    assert happy_conversation is not None
    assert escalations(session, happy_conversation) == []
    # Asked again for the same survey, nothing more happens.
    assert do_csat_review(session=session, csat_response=unhappy, now=at) is None
    assert len(escalations(session, conversation)) == 1


def test_a_review_already_with_management_stays_a_note(session: Session) -> None:
    c = company(session)
    conversation = writes(session, c, T0)
    do_change_team(session=session, conversation=conversation, team=c.management, actor=None)
    do_set_status(session=session, conversation=conversation, status="resolved", actor=None, now=T0)
    survey = session.exec(
        select(CsatResponse).where(CsatResponse.conversation_id == conversation.id)
    ).one()
    do_answer_survey(session=session, survey=survey, rating=1, now=T0 + timedelta(hours=1))

    assert escalations(session, conversation) == []
    session.refresh(conversation)
    assert conversation.status == Status.open
    activity = session.exec(
        select(Message.content).where(
            Message.conversation_id == conversation.id, Message.kind == MessageKind.activity
        )
    ).all()
    assert any(line.startswith("Rule: CSAT 1. Not escalated") for line in activity)
    assert len(notifications(session, c)) == 1
