"""Automatic status updates to the customer: templates per language, throttling, periodic
updates only in business hours and only while escalated, and never any internal text."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlmodel import Session, col, select

from channels.dispatch import deliver, pending_ids
from channels.webchat.thread import customer_messages
from inbox import queries
from inbox.accounts import do_update_inbox
from inbox.conversations import do_set_status
from inbox.customer_updates import do_periodic_updates, do_send_customer_update
from inbox.db import Database
from inbox.escalation import do_escalate
from inbox.models import Contact, Conversation, CustomerUpdate, Message
from tests.factories import customer_writes
from tests.inbox.test_escalation import BRIEF, T0, company
from tests.standins import standin_server


def escalated(session: Session, language: str | None = None) -> Conversation:
    w, _, _ = company(session)
    c = customer_writes(session, w.webchat, "I was charged twice", team=w.support).conversation
    if language is not None:
        contact = session.get(Contact, c.contact_id)
        assert contact is not None
        contact.language = language
        session.add(contact)
        session.commit()
    do_escalate(
        session=session,
        conversation=c,
        actor=w.dana,
        trigger="agent",
        brief={**BRIEF, "tried": "Refund button in admin (broken)"},
        to_team=w.billing,
        now=T0,
    )
    return c


def automatic(session: Session, conversation: Conversation) -> list[str]:
    return list(
        session.exec(
            select(Message.content)
            .where(Message.conversation_id == conversation.id, col(Message.automatic).is_(True))
            .order_by(col(Message.id))
        ).all()
    )


def test_the_customer_is_told_in_their_language(session: Session) -> None:
    c = escalated(session, language="de-AT")
    assert automatic(session, c) == [
        "Ein Spezialist aus dem Team Billing kümmert sich um Ihr Anliegen."
    ]


def test_a_language_without_a_template_falls_back_to_english(session: Session) -> None:
    c = escalated(session, language="pt_BR")
    assert automatic(session, c) == ["A specialist from our Billing team is on your case."]


def test_the_update_goes_out_like_a_reply(session: Session) -> None:
    c = escalated(session)
    update = session.exec(select(Message).where(col(Message.automatic).is_(True))).one()
    assert update.conversation_id == c.id
    # Outgoing and pending: the dispatcher sends it through the conversation's own channel.
    assert (update.kind, update.delivery, update.sender_agent_id) == ("outgoing", "pending", None)
    row = session.exec(select(CustomerUpdate)).one()
    assert (row.kind, row.message_id, row.sent_at) == ("escalated", update.id, T0)


def test_updates_are_throttled_and_a_suppressed_one_leaves_no_trace(session: Session) -> None:
    c = escalated(session)
    early = do_send_customer_update(
        session=session,
        conversation=c,
        kind="periodic",
        now=T0 + timedelta(minutes=14),
        team="Billing",
    )
    assert early is None
    assert len(automatic(session, c)) == 1
    assert len(session.exec(select(CustomerUpdate)).all()) == 1
    later = do_send_customer_update(
        session=session,
        conversation=c,
        kind="periodic",
        now=T0 + timedelta(minutes=15),
        team="Billing",
    )
    assert later is not None and later.content == "Still on it with Billing."


def test_periodic_updates_follow_the_cadence_while_escalated(session: Session) -> None:
    c = escalated(session)
    assert do_periodic_updates(session=session, now=T0 + timedelta(minutes=59)) == []
    assert len(do_periodic_updates(session=session, now=T0 + timedelta(minutes=60))) == 1
    assert do_periodic_updates(session=session, now=T0 + timedelta(minutes=100)) == []
    assert len(do_periodic_updates(session=session, now=T0 + timedelta(minutes=120))) == 1
    assert automatic(session, c)[-1] == "Still on it with Billing."
    do_set_status(
        session=session,
        conversation=c,
        status="resolved",
        actor=None,
        now=T0 + timedelta(minutes=150),
    )
    assert do_periodic_updates(session=session, now=T0 + timedelta(hours=5)) == []


def test_periodic_updates_wait_for_business_hours(session: Session) -> None:
    escalated(session)
    # 19:00 in Warsaw on the Tuesday, then Saturday noon: the office is closed.
    assert do_periodic_updates(session=session, now=T0 + timedelta(hours=8)) == []
    assert do_periodic_updates(session=session, now=T0 + timedelta(days=4, hours=1)) == []
    # Wednesday 09:30 in Warsaw.
    morning = T0 + timedelta(hours=22, minutes=30)
    assert len(do_periodic_updates(session=session, now=morning)) == 1


def test_conversations_never_escalated_get_no_periodic_updates(session: Session) -> None:
    w, _, _ = company(session)
    customer_writes(session, w.webchat, "Just a question", team=w.support)
    assert do_periodic_updates(session=session, now=T0 + timedelta(hours=3)) == []


def test_the_customer_sees_the_update_and_never_the_brief_or_notes(session: Session) -> None:
    c = escalated(session)
    assert c.id is not None
    seen = queries.thread(session, c.id, customer_view=True)
    contents = [m.content for m in seen]
    assert "A specialist from our Billing team is on your case." in contents
    widget = [m["content"] for m in customer_messages(session, c.id)]
    assert "A specialist from our Billing team is on your case." in widget
    for text in contents + widget:
        assert "Refund button" not in text and "Charged twice" not in text
        assert "@Billing" not in text


async def test_the_update_leaves_through_the_conversations_own_channel(
    session: Session, db: Database
) -> None:
    w, _, _ = company(session)
    with standin_server() as partner:
        do_update_inbox(
            session=session, inbox=w.api, changes={"config": {"webhook_url": partner.url}}
        )
        session.commit()
        c = customer_writes(session, w.api, "Charged twice", who="partner-7", team=w.support)
        do_escalate(
            session=session,
            conversation=c.conversation,
            actor=w.dana,
            trigger="agent",
            brief=BRIEF,
            to_team=w.billing,
            now=T0,
        )
        [update_id] = pending_ids(db)
        async with httpx.AsyncClient() as http:
            await deliver(db, http, update_id)
    [sent] = partner.received
    assert sent.json()["message"]["content"] == (
        "A specialist from our Billing team is on your case."
    )
    assert sent.json()["contact"]["identifier"] == "partner-7"
    assert "Charged twice for" not in sent.body.decode()
