"""What providers tell us after the fact: a message delivered, read or failed; an edit.

Providers deliver these out of order and more than once, so the state only moves forward:
a late "delivered" never turns a "read" message back.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from .access import audience_of
from .db import queue_event
from .events import message_created
from .models import (
    MAX_MESSAGE_CONTENT,
    ContactIdentity,
    Conversation,
    Delivery,
    Message,
    MessageKind,
    OutboxEntry,
    OutboxState,
)

# Forward order; failed stands beside sent, since a provider may report either first.
_RANK: dict[str, int] = {
    Delivery.pending: 0,
    Delivery.failed: 1,
    Delivery.sent: 1,
    Delivery.delivered: 2,
    Delivery.read: 3,
}


def _find(session: Session, inbox_id: int, external_id: str) -> Message | None:
    return session.exec(
        select(Message).where(Message.inbox_id == inbox_id, Message.external_id == external_id)
    ).first()


def announce_message(session: Session, message: Message) -> None:
    """Agents' threads re-render the message after the commit (its state or words changed)."""
    conversation = session.get(Conversation, message.conversation_id)
    assert conversation is not None and conversation.id is not None and message.id is not None
    queue_event(
        session,
        message_created(
            message_id=message.id,
            conversation_id=conversation.id,
            kind=message.kind,
            audience=audience_of(conversation),
        ),
    )


def do_update_delivery(
    *,
    session: Session,
    inbox_id: int,
    external_id: str,
    state: str,
    error: str | None = None,
) -> bool:
    """Move one sent message's delivery state forward and commit; False when nothing moved
    (unknown id, or a state at or behind the one stored)."""
    if state not in _RANK:
        return False
    message = _find(session, inbox_id, external_id)
    if message is None or message.kind != MessageKind.outgoing:
        return False
    # A "failed" report may still follow "sent"; nothing else moves back or sideways.
    forward = _RANK[state] > _RANK.get(message.delivery, 0)
    if not forward and not (state == Delivery.failed and message.delivery == Delivery.sent):
        return False
    message.delivery = state
    message.error = error if state == Delivery.failed else None
    session.add(message)
    announce_message(session, message)
    session.commit()
    return True


def do_update_deliveries_until(
    *,
    session: Session,
    inbox_id: int,
    identifier: str,
    state: str,
    until: datetime,
) -> int:
    """The provider says the customer got (or read) everything we sent them up to `until`
    (Messenger's watermark), naming no message: move each such reply forward and commit; how
    many moved.

    A reply counts once the provider took it by `until`: its outbox entry went to sent by
    then. That moment is when the provider's answer reached us, a little after its own
    timestamp, so a reply sent just before the watermark may wait for the next receipt; one
    sent after it, or still being retried, never moves.
    """
    if state not in (Delivery.delivered, Delivery.read):
        return 0
    # A failed reply stays failed: only the agent's retry moves it.
    behind = [s for s in (Delivery.sent, Delivery.delivered) if _RANK[s] < _RANK[state]]
    replies = session.exec(
        select(Message)
        .join(Conversation, col(Conversation.id) == Message.conversation_id)
        .join(ContactIdentity, col(ContactIdentity.contact_id) == Conversation.contact_id)
        .join(OutboxEntry, col(OutboxEntry.message_id) == Message.id)
        .where(
            ContactIdentity.inbox_id == inbox_id,
            ContactIdentity.identifier == identifier,
            Conversation.inbox_id == inbox_id,
            Message.kind == MessageKind.outgoing,
            col(Message.delivery).in_(behind),
            OutboxEntry.state == OutboxState.sent,
            col(OutboxEntry.updated_at) <= until,
        )
    ).all()
    for message in replies:
        message.delivery = state
        session.add(message)
        announce_message(session, message)
    session.commit()
    return len(replies)


def do_edit_inbound(*, session: Session, inbox_id: int, external_id: str, content: str) -> bool:
    """The customer edited a message: keep the new words, mark it edited, and commit."""
    message = _find(session, inbox_id, external_id)
    content = content.strip()[:MAX_MESSAGE_CONTENT]
    if message is None or message.kind != MessageKind.incoming or not content:
        return False
    if message.content == content:
        return False
    message.content = content
    message.edited = True
    session.add(message)
    announce_message(session, message)
    session.commit()
    return True
