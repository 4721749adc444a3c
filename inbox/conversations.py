"""Conversations and their messages (docs/concepts/conversations.md).

Every channel, the UI and the API call these functions; they change the database, write the
audit log and queue events that go out after the commit.

The agents' actions live here (reply, assign, change team, status, priority, snooze); the rest
beside them, re-exported below so callers import from here as before: inbound.py (a customer's
message arriving) with inbound_arrival.py (the message as channels hand it, and who sent it),
conversation_writes.py (what every change writes: messages, activity lines, the version bump,
notifications, assignment).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from .access import audience_of, can_see_conversation, scope_for
from .attachments import check_files, store_attachments
from .audit import record
from .clock import utcnow
from .conversation_writes import MAX_CONTENT as MAX_CONTENT
from .conversation_writes import _activity as _activity
from .conversation_writes import _assign, _release_if_departed, _touch
from .conversation_writes import add_message as add_message
from .conversation_writes import check_content as check_content
from .conversation_writes import check_version as check_version
from .conversation_writes import notify as notify
from .errors import InvalidInput
from .inbound import REOPEN_WINDOW as REOPEN_WINDOW
from .inbound import Received as Received
from .inbound import do_receive_inbound as do_receive_inbound
from .inbound_arrival import InboundMessage as InboundMessage
from .models import (
    Agent,
    Conversation,
    Delivery,
    Membership,
    Message,
    MessageKind,
    Priority,
    Status,
    Team,
)


def do_reply(
    *,
    session: Session,
    conversation: Conversation,
    agent: Agent,
    content: str,
    expected_version: int | None = None,
    files: Sequence[dict[str, Any]] = (),
    now: datetime | None = None,
) -> Message:
    """An agent's reply to the customer, sent through the conversation's own channel.

    `files`: `{"filename", "content_type", "data": bytes}` each; with files the text may be
    empty. Whether the channel can carry them is the caller's question (channels/registry).
    """
    now = now or utcnow()
    check_files(files)
    content = check_content(content, allow_empty=bool(files))
    check_version(conversation, expected_version)
    assert conversation.id is not None
    message = agent_reply(
        session, conversation, agent, content, now, audit="message.replied", files=files
    )
    session.commit()
    return message


def agent_reply(
    session: Session,
    conversation: Conversation,
    agent: Agent,
    content: str,
    now: datetime,
    *,
    audit: str,
    files: Sequence[dict[str, Any]] = (),
) -> Message:
    """An agent's words to the customer: sent through the channel, counted as a response,
    and the conversation taken if nobody had it. Does not commit."""
    message = add_message(
        session,
        conversation,
        kind=MessageKind.outgoing,
        content=content,
        now=now,
        sender_agent_id=agent.id,
        delivery=Delivery.pending,
    )
    if files:
        message.attachments = store_attachments(session, message, list(files))
        session.add(message)
    if conversation.first_response_at is None:
        conversation.first_response_at = now
    conversation.last_agent_message_at = now
    names = ", ".join(str(f.get("filename") or "attachment") for f in files)
    conversation.preview = (content or f"📎 {names}")[:300]
    if conversation.assignee_id is None:
        _assign(session, conversation, agent, actor=agent, now=now)
    record(
        session,
        audit,
        actor=agent,
        conversation_id=conversation.id,
        details={"message_id": message.id},
    )
    _touch(session, conversation, "reply", now)
    return message


def do_assign(
    *,
    session: Session,
    conversation: Conversation,
    assignee: Agent | None,
    actor: Agent | None,
    now: datetime | None = None,
) -> Conversation:
    now = now or utcnow()
    if (assignee.id if assignee else None) == conversation.assignee_id:
        return conversation
    if assignee is not None and assignee.deactivated_at is not None:
        # Someone who left (accounts.do_deactivate_agent) takes no work, whoever asks.
        raise InvalidInput(f"{assignee.name} is deactivated", {"field": "assignee_id"})
    if assignee is not None and not can_see_conversation(
        scope_for(session, assignee), conversation
    ):
        raise InvalidInput(
            f"{assignee.name} cannot see this conversation: move it to their team first",
            {"field": "assignee_id"},
        )
    _assign(session, conversation, assignee, actor=actor, now=now)
    _touch(session, conversation, "assignee", now)
    session.commit()
    return conversation


def do_change_team(
    *,
    session: Session,
    conversation: Conversation,
    team: Team | None,
    actor: Agent | None,
    now: datetime | None = None,
) -> Conversation:
    """Move to another team. The first team is not a transfer; every change after it is."""
    now = now or utcnow()
    new_id = team.id if team else None
    if new_id == conversation.team_id:
        return conversation
    before = audience_of(conversation)
    if conversation.team_id is not None:
        conversation.transfer_count += 1
    conversation.team_id = new_id
    if team is not None:
        conversation.tier = team.tier
    if conversation.assignee_id is not None and new_id is not None:
        member = session.get(Membership, (conversation.assignee_id, new_id))
        if member is None:
            previous = session.get(Agent, conversation.assignee_id)
            conversation.assignee_id = None
            _activity(
                session,
                conversation,
                f"Unassigned {previous.name if previous else ''}: not in the new team",
                now,
            )
    _activity(
        session,
        conversation,
        f"Moved to {team.name if team else 'no team'}" + (f" by {actor.name}" if actor else ""),
        now,
    )
    record(
        session,
        "conversation.team_changed",
        actor=actor,
        conversation_id=conversation.id,
        details={"team_id": new_id, "transfer_count": conversation.transfer_count},
    )
    _touch(session, conversation, "team", now, extra_audience=before)
    session.commit()
    return conversation


def do_set_status(
    *,
    session: Session,
    conversation: Conversation,
    status: str,
    actor: Agent | None,
    snooze_until: datetime | None = None,
    now: datetime | None = None,
) -> Conversation:
    now = now or utcnow()
    if status not in {s.value for s in Status}:
        raise InvalidInput("status must be open, pending, snoozed or resolved", {"field": "status"})
    if status == Status.snoozed and (snooze_until is None or snooze_until <= now):
        raise InvalidInput("snooze_until must be in the future", {"field": "snooze_until"})
    if status == conversation.status and status != Status.snoozed:
        return conversation
    previous = conversation.status
    conversation.status = status
    conversation.snoozed_until = snooze_until if status == Status.snoozed else None
    if status == Status.resolved:
        conversation.resolved_at = now
    elif previous == Status.resolved:
        conversation.resolved_at = None
        conversation.reopen_count += 1
        _release_if_departed(session, conversation, now)
    label = (
        f"Snoozed until {snooze_until:%Y-%m-%d %H:%M} UTC"
        if snooze_until and status == Status.snoozed
        else f"Marked {status}"
    )
    _activity(session, conversation, label + (f" by {actor.name}" if actor else ""), now)
    record(
        session,
        "conversation.status",
        actor=actor,
        conversation_id=conversation.id,
        details={"from": previous, "to": status},
    )
    _touch(session, conversation, "status", now)
    session.commit()
    return conversation


def do_set_priority(
    *,
    session: Session,
    conversation: Conversation,
    priority: str,
    actor: Agent | None,
    now: datetime | None = None,
) -> Conversation:
    now = now or utcnow()
    if priority not in {p.value for p in Priority}:
        raise InvalidInput("priority must be low, normal, high or urgent", {"field": "priority"})
    if priority == conversation.priority:
        return conversation
    conversation.priority = priority
    _activity(
        session,
        conversation,
        f"Priority set to {priority}" + (f" by {actor.name}" if actor else ""),
        now,
    )
    record(
        session,
        "conversation.priority",
        actor=actor,
        conversation_id=conversation.id,
        details={"priority": priority},
    )
    _touch(session, conversation, "priority", now)
    session.commit()
    return conversation


def do_wake_snoozed(*, session: Session, now: datetime | None = None) -> list[int]:
    """Reopen every snoozed conversation whose time has come; returns their ids."""
    now = now or utcnow()
    due = session.exec(
        select(Conversation).where(
            Conversation.status == Status.snoozed, col(Conversation.snoozed_until) <= now
        )
    ).all()
    for conversation in due:
        conversation.status = Status.open
        conversation.snoozed_until = None
        _activity(session, conversation, "Snooze ended: back to open", now)
        record(
            session, "conversation.unsnoozed", actor_kind="system", conversation_id=conversation.id
        )
        _touch(session, conversation, "status", now)
    session.commit()
    return [c.id for c in due if c.id is not None]


def next_snooze_due(session: Session) -> datetime | None:
    return session.exec(
        select(Conversation.snoozed_until)
        .where(Conversation.status == Status.snoozed, col(Conversation.snoozed_until).is_not(None))
        .order_by(col(Conversation.snoozed_until))
    ).first()
