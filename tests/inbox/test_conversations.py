"""The domain's conversation rules, as an agent or a customer would notice them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError
from sqlmodel import Session, select

from inbox.clock import as_utc, utcnow
from inbox.conversations import (
    do_assign,
    do_change_team,
    do_reply,
    do_set_status,
    do_wake_snoozed,
)
from inbox.errors import Conflict, InvalidInput
from inbox.events import Event
from inbox.models import AuditEntry, Message, Notification, Status
from inbox.notes import do_add_note
from tests.factories import build_world, customer_writes


def test_first_message_opens_a_conversation_for_a_new_contact(session: Session) -> None:
    w = build_world(session)
    got = customer_writes(session, w.webchat, "My order never arrived", team=w.support)
    assert got.new_conversation and not got.duplicate
    assert got.conversation.status == Status.open
    assert got.conversation.team_id == w.support.id and got.conversation.tier == 1
    assert got.contact.email == "cust-1@example.org"
    again = customer_writes(session, w.webchat, "Any news?")
    assert again.conversation.id == got.conversation.id and not again.new_conversation
    assert again.conversation.preview == "Any news?"


def test_repeated_external_id_is_stored_once(session: Session, events: list[Event]) -> None:
    w = build_world(session)
    first = customer_writes(session, w.api, "hi", external_id="ext-1")
    count = len(events)
    second = customer_writes(session, w.api, "hi", external_id="ext-1")
    assert second.duplicate and second.message.id == first.message.id
    assert len(session.exec(select(Message).where(Message.external_id == "ext-1")).all()) == 1
    assert len(events) == count, "a duplicate must not push anything"


def test_resolved_conversation_reopens_and_counts(session: Session) -> None:
    w = build_world(session)
    got = customer_writes(session, w.webchat)
    do_set_status(session=session, conversation=got.conversation, status="resolved", actor=w.dana)
    back = customer_writes(session, w.webchat, "It broke again")
    assert back.reopened and back.conversation.id == got.conversation.id
    assert back.conversation.status == Status.open and back.conversation.reopen_count == 1


def test_change_of_team_counts_transfers_but_not_the_first(session: Session) -> None:
    w = build_world(session)
    got = customer_writes(session, w.webchat)
    c = got.conversation
    do_change_team(session=session, conversation=c, team=w.support, actor=w.admin)
    assert c.transfer_count == 0
    do_change_team(session=session, conversation=c, team=w.billing, actor=w.admin)
    do_change_team(session=session, conversation=c, team=w.support, actor=w.admin)
    assert c.transfer_count == 2 and c.tier == 1


def test_reply_records_first_response_and_assigns_the_replier(session: Session) -> None:
    w = build_world(session)
    c = customer_writes(session, w.webchat, team=w.support).conversation
    msg = do_reply(session=session, conversation=c, agent=w.dana, content="On it!")
    assert msg.delivery == "pending" and c.first_response_at is not None
    assert c.assignee_id == w.dana.id


def test_reply_on_a_changed_conversation_is_refused_until_forced(session: Session) -> None:
    w = build_world(session)
    c = customer_writes(session, w.webchat, team=w.support).conversation
    seen = c.version
    customer_writes(session, w.webchat, "one more thing")
    with pytest.raises(Conflict):
        do_reply(session=session, conversation=c, agent=w.dana, content="x", expected_version=seen)
    do_reply(session=session, conversation=c, agent=w.dana, content="x", expected_version=None)


def test_note_mentions_notify_agents_and_teams(session: Session, events: list[Event]) -> None:
    w = build_world(session)
    c = customer_writes(session, w.webchat, team=w.support).conversation
    do_add_note(
        session=session,
        conversation=c,
        agent=w.dana,
        content="@MariaLopez can you check? cc @SupportL1 and @dana",
    )
    notes = session.exec(select(Notification)).all()
    assert {n.agent_id for n in notes} == {w.manager.id}, "the author is never notified"
    pushed = [e for e in events if e.type == "notification.created"]
    assert pushed and pushed[0].audience.agent_ids == frozenset({w.manager.id})
    note_events = [e for e in events if e.type == "message.created" and e.data["kind"] == "note"]
    assert note_events and not note_events[0].audience.customer


def test_a_notification_is_dated_by_the_domain_clock_like_its_message(session: Session) -> None:
    # A replayed past (the demo's history) or a test's clock: the bell shows when it happened.
    w = build_world(session)
    c = customer_writes(session, w.webchat, team=w.support).conversation
    then = utcnow() - timedelta(days=9)
    note = do_add_note(
        session=session, conversation=c, agent=w.dana, content="@MariaLopez look", now=then
    )
    [notification] = session.exec(select(Notification)).all()
    assert as_utc(notification.created_at) == as_utc(note.created_at) == then


def test_a_mention_never_reaches_someone_who_cannot_see_it(session: Session) -> None:
    w = build_world(session)
    c = customer_writes(session, w.webchat, team=w.support).conversation
    do_add_note(session=session, conversation=c, agent=w.dana, content="@BobStone @billing look")
    assert session.exec(select(Notification)).all() == []
    activity = session.exec(select(Message).where(Message.kind == "activity")).all()
    assert any("Not notified" in m.content and "Bob Stone" in m.content for m in activity)


def test_assigning_someone_who_cannot_see_it_is_refused(session: Session) -> None:
    w = build_world(session)
    c = customer_writes(session, w.webchat, team=w.support).conversation
    with pytest.raises(InvalidInput):
        do_assign(session=session, conversation=c, assignee=w.bob, actor=w.admin)


def test_assignment_notifies_the_assignee(session: Session) -> None:
    w = build_world(session)
    c = customer_writes(session, w.webchat, team=w.support).conversation
    do_assign(session=session, conversation=c, assignee=w.dana, actor=w.manager)
    note = session.exec(select(Notification)).one()
    assert note.agent_id == w.dana.id and note.kind == "assignment"


def test_snooze_wakes_when_due_or_when_the_customer_writes(session: Session) -> None:
    w = build_world(session)
    c = customer_writes(session, w.webchat).conversation
    now = utcnow()
    with pytest.raises(InvalidInput):
        do_set_status(
            session=session,
            conversation=c,
            status="snoozed",
            actor=w.dana,
            snooze_until=now - timedelta(minutes=1),
        )
    do_set_status(
        session=session,
        conversation=c,
        status="snoozed",
        actor=w.dana,
        snooze_until=now + timedelta(hours=1),
    )
    assert do_wake_snoozed(session=session, now=now) == []
    assert do_wake_snoozed(session=session, now=now + timedelta(hours=1)) == [c.id]
    assert c.status == Status.open
    do_set_status(
        session=session,
        conversation=c,
        status="snoozed",
        actor=w.dana,
        snooze_until=now + timedelta(hours=1),
    )
    customer_writes(session, w.webchat, "hello?")
    session.refresh(c)
    assert c.status == Status.open and c.snoozed_until is None


def test_events_wait_for_the_commit(session: Session, events: list[Event]) -> None:
    w = build_world(session)
    c = customer_writes(session, w.webchat).conversation
    before = len(events)
    c.priority = "high"
    from inbox.conversations import _activity

    _activity(session, c, "uncommitted", utcnow())
    assert len(events) == before
    session.rollback()
    assert len(events) == before, "a rolled-back change is never announced"


def test_audit_log_refuses_changes(session: Session) -> None:
    build_world(session)
    entry = session.exec(select(AuditEntry)).first()
    assert entry is not None
    with pytest.raises(DatabaseError):
        session.execute(text("UPDATE audit_log SET action = 'x'"))
        session.commit()
    session.rollback()
    with pytest.raises(DatabaseError):
        session.execute(text("DELETE FROM audit_log"))
        session.commit()
