"""A customer's message arriving: where it goes (docs/concepts/conversations.md).

`do_receive_inbound` stores it once (a retry gets the stored one back) in the conversation its
thread or ticket tag names, else the contact's latest one, reopening it or starting a new one
as the rules say; an auto-reply joins its thread and changes nothing. Who sent it, and the
one-query read before the write: inbound_arrival.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from . import lifecycle
from .access import audience_of
from .attachments import store_attachments
from .audit import record
from .clock import utcnow
from .conversation_writes import MAX_CONTENT, _activity, _release_if_departed, check_content
from .db import queue_event
from .errors import InvalidInput, NotFound
from .events import conversation_changed, message_created
from .html import clean_html
from .inbound_arrival import InboundMessage, Sender, existing, new_identity, read_arrival
from .models import Contact, Conversation, Delivery, Inbox, Message, MessageKind, Status, Team
from .rows import assign, insert_row, write_changes

# The messages a threaded reply refers to, built once (building it cost as much as running
# it): every email reply asks. `refs` expands to the reply's list of external ids.
_REFERENCED = select(Message.external_id, Message.conversation_id).where(
    Message.inbox_id == bindparam("inbox_id"),
    col(Message.external_id).in_(bindparam("refs", expanding=True)),
)

# A customer who writes again within this window reopens their resolved conversation
# (and counts a reopen); later, a new conversation starts.
REOPEN_WINDOW = timedelta(days=14)


@dataclass
class Received:
    message: Message
    conversation: Conversation
    contact: Contact
    duplicate: bool = False
    new_conversation: bool = False
    reopened: bool = False


def _duplicate(session: Session, message: Message) -> Received:
    conversation = session.get(Conversation, message.conversation_id)
    assert conversation is not None
    contact = session.get(Contact, conversation.contact_id)
    assert contact is not None
    return Received(message, conversation, contact, duplicate=True)


def do_receive_inbound(
    *, session: Session, inbound: InboundMessage, now: datetime | None = None
) -> Received:
    """Store a customer's message once, in the right conversation, and commit.

    A repeated `external_id` returns the stored message (concurrent duplicates included:
    the unique index decides, and the loser reads the winner's row).
    """
    now = now or utcnow()
    content = check_content(inbound.content) if not inbound.attachments else inbound.content
    # The lookups below are Core statements, which do not flush what the caller left pending
    # the way ORM queries do; with nothing pending this costs nothing.
    session.flush()
    arrival = read_arrival(session, inbound)
    if arrival is None:
        raise NotFound("No such inbox")
    inbox, found = arrival.inbox, arrival.existing
    if inbound.expected_channel not in (None, inbox.channel):
        raise InvalidInput(
            f"inbox {inbox.id} is a {inbox.channel} inbox; only {inbound.expected_channel} "
            "inboxes take messages here",
            {"field": "channel"},
        )
    if found is not None:
        return _duplicate(session, found)
    try:
        sender = arrival.sender or new_identity(session, inbox, inbound)
        received = _store_inbound(session, inbox, sender, inbound, content, now)
        session.commit()
    except IntegrityError:
        session.rollback()
        found = existing(session, inbox.id or 0, inbound.external_id)
        if found is None:
            raise
        return _duplicate(session, found)
    return received


def _thread_of(
    session: Session, inbox: Inbox, sender: Sender, inbound: InboundMessage
) -> Conversation | None:
    """The conversation this message belongs to, or None for a new one."""
    refs = inbound.thread_refs[:50]
    if refs:
        # One query for every reference; the nearest known one picks the conversation.
        found = dict(session.exec(_REFERENCED, params={"inbox_id": inbox.id, "refs": refs}).all())
        for ref in refs:
            if ref in found:
                return session.get(Conversation, found[ref])
    if inbound.ticket_conversation_id is not None:
        tagged = session.get(Conversation, inbound.ticket_conversation_id)
        if (
            tagged is not None
            and tagged.contact_id == sender.contact.id
            and tagged.inbox_id == inbox.id
        ):
            return tagged
    if inbound.starts_thread or sender.created:
        # A contact inserted in this transaction has no conversation yet: no other
        # transaction can have seen its id.
        return None
    return sender.latest


def _store_inbound(
    session: Session,
    inbox: Inbox,
    sender: Sender,
    inbound: InboundMessage,
    content: str,
    now: datetime,
) -> Received:
    contact = sender.contact
    conversation = _thread_of(session, inbox, sender, inbound)
    if inbound.auto_submitted and conversation is not None:
        return _store_auto_submitted(session, conversation, contact, inbound, content, now)
    new = reopened = False
    if conversation is None or (
        conversation.status == Status.resolved
        and (conversation.resolved_at or now) < now - REOPEN_WINDOW
    ):
        conversation = _open_conversation(session, inbox, contact, inbound, now)
        new = True
    elif conversation.status == Status.resolved:
        conversation.status = Status.open
        conversation.reopen_count += 1
        conversation.resolved_at = None
        reopened = True
        _activity(session, conversation, "Reopened by the customer's new message", now)
        _release_if_departed(session, conversation, now)
        record(
            session,
            "conversation.reopened",
            actor_kind="customer",
            conversation_id=conversation.id,
            details={"reopen_count": conversation.reopen_count},
        )
    elif conversation.status in (Status.snoozed, Status.pending):
        was = conversation.status
        conversation.status = Status.open
        conversation.snoozed_until = None
        _activity(session, conversation, f"Back to open: the customer wrote while {was}", now)
    assert conversation.id is not None and inbox.id is not None
    message = insert_row(
        session,
        Message,
        conversation_id=conversation.id,
        inbox_id=inbox.id,
        kind=MessageKind.incoming,
        content=content,
        external_id=inbound.external_id,
        delivery=Delivery.received,
        created_at=now,
        auto_submitted=inbound.auto_submitted,
        html=clean_html(inbound.html),
        quoted=inbound.quoted[:MAX_CONTENT],
    )
    if inbound.attachments:
        session.flush()
        message.attachments = store_attachments(session, message, inbound.attachments)
    assign(
        conversation,
        last_customer_message_at=now,
        last_activity_at=now,
        preview=content[:300],
        version=conversation.version + 1,
    )
    lifecycle.changed(
        session, conversation, "created" if new else "reopened" if reopened else "message", now
    )
    write_changes(session, conversation)
    session.flush()  # whatever the engine added (a timer, an activity line)
    assert message.id is not None
    # The list row shows the contact's name and the inbox's channel: both are in hand.
    loaded = (message, conversation, contact, inbox)
    queue_event(
        session,
        message_created(
            message_id=message.id,
            conversation_id=conversation.id,
            kind=message.kind,
            audience=audience_of(conversation, customer=True),
            loaded=loaded,
        ),
    )
    queue_event(
        session,
        conversation_changed(
            conversation_id=conversation.id,
            audience=audience_of(conversation),
            change="reopened" if reopened else "message",
            created=new,
            loaded=loaded,
        ),
    )
    return Received(message, conversation, contact, new_conversation=new, reopened=reopened)


def _store_auto_submitted(
    session: Session,
    conversation: Conversation,
    contact: Contact,
    inbound: InboundMessage,
    content: str,
    now: datetime,
) -> Received:
    """An out-of-office or a bounce joins its thread for the record, and changes nothing:
    no reopen, no SLA clock, no bot, no status update (which would answer a robot)."""
    assert conversation.id is not None
    message = Message(
        conversation_id=conversation.id,
        inbox_id=conversation.inbox_id,
        kind=MessageKind.incoming,
        content=content,
        external_id=inbound.external_id,
        delivery=Delivery.received,
        created_at=now,
        auto_submitted=True,
        html=clean_html(inbound.html),
        quoted=inbound.quoted[:MAX_CONTENT],
    )
    session.add(message)
    session.flush()
    if inbound.attachments:
        message.attachments = store_attachments(session, message, inbound.attachments)
    assert message.id is not None
    queue_event(
        session,
        message_created(
            message_id=message.id,
            conversation_id=conversation.id,
            kind=message.kind,
            audience=audience_of(conversation),
        ),
    )
    return Received(message, conversation, contact)


def _open_conversation(
    session: Session, inbox: Inbox, contact: Contact, inbound: InboundMessage, now: datetime
) -> Conversation:
    team = session.get(Team, inbound.team_id) if inbound.team_id else None
    assert inbox.id is not None and contact.id is not None
    conversation = insert_row(
        session,
        Conversation,
        inbox_id=inbox.id,
        contact_id=contact.id,
        team_id=team.id if team else None,
        tier=team.tier if team else 1,
        subject=inbound.subject[:300],
        created_at=now,
        last_activity_at=now,
    )
    record(
        session,
        "conversation.created",
        actor_kind="customer",
        conversation_id=conversation.id,
        details={"inbox_id": inbox.id, "team_id": conversation.team_id},
        at_once=True,
    )
    return conversation
