"""What providers tell us after the fact: a message delivered, read or failed; an edit.

Providers deliver these out of order and more than once, so the state only moves forward:
a late "delivered" never turns a "read" message back.
"""

from __future__ import annotations

from sqlmodel import Session, select

from .access import audience_of
from .db import queue_event
from .events import message_created
from .models import MAX_MESSAGE_CONTENT, Conversation, Delivery, Message, MessageKind

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
