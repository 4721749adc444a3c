"""What every change to a conversation writes (docs/concepts/conversations.md).

The building blocks the customer's and the agents' actions share: the checks (`check_content`,
`check_version`), a message in the thread (`add_message`; `_activity` for a change's line),
the version bump and event every change makes (`_touch`), a notification (`notify`), and
(un)assigning (`_assign`, `_release_if_departed`). None of them commits.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from . import lifecycle, outbox
from .access import audience_of
from .audit import record
from .db import queue_event
from .errors import Conflict, InvalidInput
from .events import Audience, conversation_changed, message_created, notification_created
from .models import (
    MAX_MESSAGE_CONTENT,
    Agent,
    Conversation,
    Delivery,
    Message,
    MessageKind,
    Notification,
)

MAX_CONTENT = MAX_MESSAGE_CONTENT  # the public name channels import


def check_content(content: str, *, allow_empty: bool = False) -> str:
    content = content.strip()
    if not content and not allow_empty:
        raise InvalidInput("content is empty", {"field": "content"})
    if len(content) > MAX_CONTENT:
        raise InvalidInput(f"content is longer than {MAX_CONTENT} characters", {"field": "content"})
    return content


def add_message(
    session: Session,
    conversation: Conversation,
    *,
    kind: str,
    content: str,
    now: datetime,
    sender_agent_id: int | None = None,
    delivery: str = Delivery.sent,
    automatic: bool = False,
    pinned: bool = False,
) -> Message:
    """Add one message to the thread and announce it after the commit; does not commit.

    The customer's widget hears of incoming and outgoing messages only; an outgoing one left
    `pending` is sent through the conversation's channel by the dispatcher.
    """
    assert conversation.id is not None
    message = Message(
        conversation_id=conversation.id,
        inbox_id=conversation.inbox_id,
        kind=kind,
        sender_agent_id=sender_agent_id,
        content=content,
        delivery=delivery,
        automatic=automatic,
        pinned=pinned,
        created_at=now,
    )
    session.add(message)
    session.flush()
    assert message.id is not None
    if kind == MessageKind.outgoing and delivery == Delivery.pending:
        outbox.enqueue(session, message, now)
    customer = kind in (MessageKind.incoming, MessageKind.outgoing)
    queue_event(
        session,
        message_created(
            message_id=message.id,
            conversation_id=conversation.id,
            kind=message.kind,
            audience=audience_of(conversation, customer=customer),
        ),
    )
    return message


def _activity(session: Session, conversation: Conversation, text: str, now: datetime) -> Message:
    """A line in the thread that records a change; agents see it, customers never do."""
    return add_message(session, conversation, kind=MessageKind.activity, content=text, now=now)


def _touch(
    session: Session,
    conversation: Conversation,
    change: str,
    now: datetime,
    extra_audience: Audience | None = None,
) -> None:
    conversation.version += 1
    conversation.last_activity_at = now
    session.add(conversation)
    assert conversation.id is not None
    lifecycle.changed(session, conversation, change, now)
    queue_event(
        session,
        conversation_changed(
            conversation_id=conversation.id, audience=audience_of(conversation), change=change
        ),
    )
    if extra_audience is not None:
        queue_event(
            session,
            conversation_changed(
                conversation_id=conversation.id, audience=extra_audience, change=change
            ),
        )


def check_version(conversation: Conversation, expected_version: int | None) -> None:
    """Collision check: refuse when the conversation changed since the agent loaded it."""
    if expected_version is not None and expected_version != conversation.version:
        raise Conflict(
            "This conversation changed since you opened it. Review the new activity, then send.",
            {"version": conversation.version},
        )


def notify(
    session: Session,
    *,
    agent_id: int,
    kind: str,
    text: str,
    conversation_id: int | None,
    message_id: int | None = None,
    at: datetime,
) -> Notification:
    """A notification for `agent_id`, pushed once the transaction commits. `at` is the domain's
    `now`, as for the message or change it is about (a replay of the past, a test's clock)."""
    note = Notification(
        agent_id=agent_id,
        kind=kind,
        text=text[:500],
        conversation_id=conversation_id,
        message_id=message_id,
        created_at=at,
    )
    session.add(note)
    session.flush()
    assert note.id is not None
    queue_event(
        session,
        notification_created(notification_id=note.id, agent_id=agent_id, kind=kind, text=note.text),
    )
    return note


def _assign(
    session: Session,
    conversation: Conversation,
    assignee: Agent | None,
    *,
    actor: Agent | None,
    now: datetime,
) -> None:
    conversation.assignee_id = assignee.id if assignee else None
    if assignee is not None and actor is not None and actor.id == assignee.id:
        text = f"{assignee.name} took this conversation"
    elif assignee is None:
        text = "Unassigned" + (f" by {actor.name}" if actor else "")
    else:
        text = f"Assigned to {assignee.name}" + (f" by {actor.name}" if actor else "")
    _activity(session, conversation, text, now)
    record(
        session,
        "conversation.assigned",
        actor=actor,
        conversation_id=conversation.id,
        details={"assignee_id": conversation.assignee_id},
    )
    if (
        assignee is not None
        and assignee.id is not None
        and (actor is None or actor.id != assignee.id)
    ):
        notify(
            session,
            at=now,
            agent_id=assignee.id,
            kind="assignment",
            text=f"{actor.name if actor else 'Handoff'} assigned you conversation "
            f"#{conversation.id}",
            conversation_id=conversation.id,
        )


def _release_if_departed(session: Session, conversation: Conversation, now: datetime) -> None:
    """A reopened conversation whose assignee was deactivated after it was resolved goes back
    to its team: nobody would answer it otherwise (the customer's reopen routes it)."""
    if conversation.assignee_id is None:
        return
    assignee = session.get(Agent, conversation.assignee_id)
    if assignee is not None and assignee.deactivated_at is not None:
        _assign(session, conversation, None, actor=None, now=now)
