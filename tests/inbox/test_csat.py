"""CSAT after every resolution (docs/concepts/csat.md), as the customer and agents notice it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, col, select

from inbox.accounts import do_create_team
from inbox.clock import utcnow
from inbox.conversations import Received, do_set_status
from inbox.csat import OPEN_FOR, do_answer_survey, survey_by_token
from inbox.errors import Conflict, InvalidInput
from inbox.escalation import do_escalate
from inbox.events import Event
from inbox.models import (
    Conversation,
    CsatResponse,
    Escalation,
    Message,
    MessageKind,
    PolicyDocument,
    Status,
)
from inbox.policy_store import as_data, default_policy
from tests.factories import World, build_world, customer_writes


def surveys_of(session: Session, conversation_id: int | None) -> list[CsatResponse]:
    session.expire_all()
    return list(
        session.exec(
            select(CsatResponse)
            .where(CsatResponse.conversation_id == conversation_id)
            .order_by(col(CsatResponse.id))
        )
    )


def automatic_messages(session: Session, conversation_id: int | None) -> list[Message]:
    return list(
        session.exec(
            select(Message)
            .where(
                Message.conversation_id == conversation_id,
                Message.kind == MessageKind.outgoing,
                col(Message.automatic).is_(True),
            )
            .order_by(col(Message.id))
        )
    )


def resolve(session: Session, w: World, got: Received, days_ago: float = 0) -> CsatResponse:
    do_set_status(
        session=session,
        conversation=got.conversation,
        status="resolved",
        actor=w.dana,
        now=utcnow() - timedelta(days=days_ago),
    )
    return surveys_of(session, got.conversation.id)[-1]


def test_every_resolution_asks_for_a_rating_through_the_conversations_channel(
    session: Session, events: list[Event]
) -> None:
    w = build_world(session)
    got = customer_writes(session, w.webchat, "My parcel is lost", team=w.support)
    first = resolve(session, w, got)
    do_set_status(session=session, conversation=got.conversation, status="open", actor=w.dana)
    second = resolve(session, w, got)

    surveys = surveys_of(session, got.conversation.id)
    assert [s.id for s in surveys] == [first.id, second.id], "one survey per resolution"
    assert first.token != second.token and len(first.token) >= 32
    assert all(s.rating is None and not s.escalated for s in surveys)
    # The question leaves like a reply: outgoing, waiting for the dispatcher, marked automatic.
    questions = automatic_messages(session, got.conversation.id)
    assert [m.delivery for m in questions] == ["pending", "pending"]
    assert f"/csat/{first.token}" in questions[0].content
    assert f"/csat/{second.token}" in questions[1].content
    assert questions[0].sender_agent_id is None
    told = [
        e for e in events if e.type == "message.created" and e.data["message_id"] == questions[1].id
    ]
    assert told and told[0].audience.customer, "the customer's widget hears of it"


def test_reopening_asks_nothing_only_resolving_does(session: Session) -> None:
    w = build_world(session)
    got = customer_writes(session, w.webchat, team=w.support)
    do_set_status(session=session, conversation=got.conversation, status="pending", actor=w.dana)
    do_set_status(session=session, conversation=got.conversation, status="open", actor=w.dana)
    assert surveys_of(session, got.conversation.id) == []


def test_the_question_speaks_the_customers_language(session: Session) -> None:
    w = build_world(session)
    got = customer_writes(session, w.webchat, "Dzień dobry", team=w.support)
    got.contact.language = "pl_PL"
    session.add(got.contact)
    session.commit()
    survey = resolve(session, w, got)
    question = automatic_messages(session, got.conversation.id)[-1]
    assert question.content.startswith("Jak nam poszło?")
    assert question.content.endswith(f"/csat/{survey.token}")


def test_a_company_text_without_the_link_still_carries_it(session: Session) -> None:
    w = build_world(session)
    policy = default_policy()
    policy.customer_updates.templates["csat"] = {"en": "Tell us how we did, {contact}!"}
    session.add(PolicyDocument(document=as_data(policy)))
    session.commit()
    got = customer_writes(session, w.webchat, team=w.support, who="ann")
    survey = resolve(session, w, got)
    question = automatic_messages(session, got.conversation.id)[-1]
    link = f"http://127.0.0.1:8000/csat/{survey.token}"  # whole: any channel can carry it
    assert question.content == f"Tell us how we did, Customer ann!\n{link}"


def test_a_rating_is_stored_and_may_be_changed_within_a_week(session: Session) -> None:
    w = build_world(session)
    got = customer_writes(session, w.webchat, team=w.support)
    survey = resolve(session, w, got, days_ago=1)
    answered = utcnow() - timedelta(hours=20)
    do_answer_survey(
        session=session, survey=survey, rating="4", comment="  Quick and kind  ", now=answered
    )
    stored = survey_by_token(session, survey.token)
    assert (stored.rating, stored.comment) == (4, "Quick and kind")
    lines = session.exec(
        select(Message.content).where(
            Message.conversation_id == got.conversation.id, Message.kind == MessageKind.activity
        )
    ).all()
    assert 'The customer rated this conversation 4/5: "Quick and kind"' in lines

    do_answer_survey(session=session, survey=stored, rating=5, now=answered + timedelta(days=6))
    changed = survey_by_token(session, survey.token)
    assert (changed.rating, changed.comment) == (5, "")
    assert changed.answered_at is not None
    assert changed.answered_at.replace(tzinfo=None) == answered.replace(tzinfo=None), (
        "the first answer's time stays"
    )
    with pytest.raises(Conflict):
        do_answer_survey(
            session=session, survey=changed, rating=1, now=answered + timedelta(days=8)
        )
    assert survey_by_token(session, survey.token).rating == 5


def test_a_survey_closes_four_weeks_after_it_was_sent(session: Session) -> None:
    w = build_world(session)
    got = customer_writes(session, w.webchat, team=w.support)
    survey = resolve(session, w, got, days_ago=OPEN_FOR.days + 1)
    with pytest.raises(Conflict):
        do_answer_survey(session=session, survey=survey, rating=5)
    assert survey_by_token(session, survey.token).rating is None


@pytest.mark.parametrize("rating", [0, 6, "five", None, True, 3.5, "", "-1"])
def test_only_ratings_from_one_to_five_count(session: Session, rating: object) -> None:
    w = build_world(session)
    got = customer_writes(session, w.webchat, team=w.support)
    survey = resolve(session, w, got)
    with pytest.raises(InvalidInput) as refused:
        do_answer_survey(session=session, survey=survey, rating=rating)
    assert refused.value.detail == {"field": "rating"}
    with pytest.raises(InvalidInput):
        do_answer_survey(session=session, survey=survey, rating=3, comment="x" * 2001)
    assert survey_by_token(session, survey.token).rating is None


def test_a_survey_remembers_whether_the_conversation_was_escalated(session: Session) -> None:
    w = build_world(session)
    got = customer_writes(session, w.webchat, team=w.support)
    before = resolve(session, w, got)
    do_set_status(session=session, conversation=got.conversation, status="open", actor=w.dana)
    do_escalate(
        session=session,
        conversation=got.conversation,
        actor=w.dana,
        trigger="agent",
        brief={"summary": "Refund over the limit"},
        to_team=w.billing,
    )
    after = resolve(session, w, got)
    assert (before.escalated, after.escalated) == (False, True)


def test_a_low_rating_opens_a_review_for_management(session: Session) -> None:
    w = build_world(session)
    management = do_create_team(session=session, name="Management", tier=3)
    session.commit()
    happy = customer_writes(session, w.webchat, team=w.support, who="happy")
    do_answer_survey(session=session, survey=resolve(session, w, happy), rating=4)
    angry = customer_writes(session, w.webchat, team=w.support, who="angry")
    survey = resolve(session, w, angry)
    do_answer_survey(session=session, survey=survey, rating=2, comment="Nobody listened")

    session.expire_all()
    reviews = session.exec(select(Escalation).where(Escalation.trigger == "rule")).all()
    assert len(reviews) == 1, "a 4 opens nothing, a 2 opens one review"
    review = reviews[0]
    assert review.conversation_id == angry.conversation.id
    assert review.to_team_id == management.id and review.reason == "CSAT 2"
    assert "Nobody listened" in review.brief["summary"]
    # The review needs the conversation open again (not counted as a customer's reopen).
    conversation = session.get(Conversation, angry.conversation.id)
    assert conversation is not None
    assert conversation.status == Status.open and conversation.reopen_count == 0

    # Changing the answer to an even lower one does not open a second review.
    do_answer_survey(session=session, survey=survey_by_token(session, survey.token), rating=1)
    session.expire_all()
    assert len(session.exec(select(Escalation).where(Escalation.trigger == "rule")).all()) == 1
