"""Models as the JSON API shows them (docs/api.md), and the small reads its lists need.

Every object carries `id`; datetimes are ISO 8601 in UTC. Lists are built in a fixed number of
queries whatever their length.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlmodel import Session, SQLModel, col, select
from starlette.responses import JSONResponse

from inbox.errors import InvalidInput
from inbox.models import (
    Agent,
    Contact,
    Conversation,
    Escalation,
    Inbox,
    InboxMember,
    Membership,
    Message,
    MessageKind,
    Team,
)
from inbox.sla import sla_json

Json = dict[str, Any]
M = TypeVar("M", bound=SQLModel)


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def ok(body: Json, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status)


def listing(items: list[Json], next_cursor: str | None) -> Json:
    return {"items": items, "next_cursor": next_cursor}


def id_page(
    session: Session, model: type[M], *, limit: int, cursor: str | None, **where: Any
) -> tuple[list[M], str | None]:
    """One page of `model` rows in id order; the cursor is the last id seen."""
    id_col = col(model.id)  # type: ignore[attr-defined]
    query = select(model).order_by(id_col)
    for name, value in where.items():
        query = query.where(col(getattr(model, name)) == value)
    if cursor:
        if not cursor.isdigit():
            raise InvalidInput("cursor is not one this server gave out", {"field": "cursor"})
        query = query.where(id_col > int(cursor))
    rows = list(session.exec(query.limit(limit + 1)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (str(rows[-1].id) if more and rows else None)  # type: ignore[attr-defined]


def team_json(team: Team) -> Json:
    return {
        "id": team.id,
        "name": team.name,
        "tier": team.tier,
        "skills": team.skills,
        "created_at": iso(team.created_at),
    }


def agents_json(session: Session, agents: list[Agent]) -> list[Json]:
    ids = [a.id for a in agents if a.id is not None]
    teams: dict[int, list[int]] = defaultdict(list)
    if ids:
        for agent_id, team_id in session.exec(
            select(Membership.agent_id, Membership.team_id)
            .where(col(Membership.agent_id).in_(ids))
            .order_by(col(Membership.team_id))
        ).all():
            teams[agent_id].append(team_id)
    return [
        {
            "id": a.id,
            "email": a.email,
            "name": a.name,
            "role": a.role,
            "team_ids": teams.get(a.id or 0, []),
            "skills": a.skills,
            "available": a.available,
            "active": a.deactivated_at is None,
            "capacity": a.capacity,
            "locale": a.locale,
            "created_at": iso(a.created_at),
        }
        for a in agents
    ]


def inboxes_json(session: Session, inboxes: list[Inbox], *, with_config: bool) -> list[Json]:
    """Inboxes; `config` holds channel secrets, so only admins get it at all."""
    ids = [i.id for i in inboxes if i.id is not None]
    members: dict[int, list[int]] = defaultdict(list)
    if ids:
        for inbox_id, agent_id in session.exec(
            select(InboxMember.inbox_id, InboxMember.agent_id)
            .where(col(InboxMember.inbox_id).in_(ids))
            .order_by(col(InboxMember.agent_id))
        ).all():
            members[inbox_id].append(agent_id)
    out: list[Json] = []
    for inbox in inboxes:
        item: Json = {"id": inbox.id, "name": inbox.name, "channel": inbox.channel}
        if inbox.channel == "webchat":
            item["widget_token"] = inbox.widget_token
        if with_config:
            item["config"] = inbox.config
        item["member_ids"] = members.get(inbox.id or 0, [])
        item["created_at"] = iso(inbox.created_at)
        out.append(item)
    return out


def contact_json(contact: Contact | None) -> Json | None:
    if contact is None:
        return None
    return {
        "id": contact.id,
        "name": contact.name,
        "email": contact.email,
        "phone": contact.phone,
        "customer_tier": contact.customer_tier,
        "lifetime_value": contact.lifetime_value,
    }


def conversations_json(session: Session, conversations: list[Conversation]) -> list[Json]:
    contact_ids = {c.contact_id for c in conversations}
    contacts = (
        {
            c.id: c
            for c in session.exec(select(Contact).where(col(Contact.id).in_(contact_ids))).all()
        }
        if contact_ids
        else {}
    )
    escalations: dict[int, list[Escalation]] = defaultdict(list)
    ids = [c.id for c in conversations if c.id is not None]
    if ids:
        for e in session.exec(
            select(Escalation)
            .where(col(Escalation.conversation_id).in_(ids))
            .order_by(col(Escalation.id))
        ).all():
            escalations[e.conversation_id].append(e)
    return [
        {
            "id": c.id,
            "status": c.status,
            "priority": c.priority,
            "subject": c.subject,
            "preview": c.preview,
            "inbox_id": c.inbox_id,
            "team_id": c.team_id,
            "tier": c.tier,
            "assignee_id": c.assignee_id,
            "contact": contact_json(contacts.get(c.contact_id)),
            "snoozed_until": iso(c.snoozed_until),
            "transfer_count": c.transfer_count,
            "reopen_count": c.reopen_count,
            "version": c.version,
            "created_at": iso(c.created_at),
            "first_response_at": iso(c.first_response_at),
            "last_customer_message_at": iso(c.last_customer_message_at),
            "last_agent_message_at": iso(c.last_agent_message_at),
            "resolved_at": iso(c.resolved_at),
            "last_activity_at": iso(c.last_activity_at),
            "escalations": [escalation_json(e) for e in escalations.get(c.id or 0, [])],
            "sla": sla_json(c),
        }
        for c in conversations
    ]


def messages_json(
    session: Session, conversation: Conversation, messages: list[Message]
) -> list[Json]:
    agent_ids = {m.sender_agent_id for m in messages if m.sender_agent_id is not None}
    agents = (
        {a.id: a for a in session.exec(select(Agent).where(col(Agent.id).in_(agent_ids))).all()}
        if agent_ids
        else {}
    )
    contact = session.get(Contact, conversation.contact_id)

    def sender(m: Message) -> Json:
        if m.kind == MessageKind.incoming:
            name = contact.name if contact else None
            return {"type": "contact", "id": conversation.contact_id, "name": name}
        agent = agents.get(m.sender_agent_id) if m.sender_agent_id else None
        if agent is not None:
            return {"type": "agent", "id": agent.id, "name": agent.name}
        return {"type": "system", "id": None, "name": None}

    return [
        {
            "id": m.id,
            "conversation_id": m.conversation_id,
            "inbox_id": m.inbox_id,
            "kind": m.kind,
            "private": m.kind in (MessageKind.note, MessageKind.activity),
            "content": m.content,
            "sender": sender(m),
            "delivery": m.delivery,
            "error": m.error,
            "external_id": m.external_id,
            "attachments": m.attachments,
            "edited": m.edited,
            "auto_submitted": m.auto_submitted,
            "html": m.html,
            "quoted": m.quoted,
            "created_at": iso(m.created_at),
        }
        for m in messages
    ]


def escalation_json(escalation: Escalation) -> Json:
    return {
        "id": escalation.id,
        "conversation_id": escalation.conversation_id,
        "kind": escalation.kind,
        "status": escalation.status,
        "trigger": escalation.trigger,
        "reason": escalation.reason,
        "brief": escalation.brief,
        "shortcut_id": escalation.shortcut_id,
        "agent_id": escalation.agent_id,
        "from_team_id": escalation.from_team_id,
        "to_team_id": escalation.to_team_id,
        "from_tier": escalation.from_tier,
        "to_tier": escalation.to_tier,
        "created_at": iso(escalation.created_at),
        "bounce_due_at": iso(escalation.bounce_due_at),
        "accepted_by_id": escalation.accepted_by_id,
        "accepted_at": iso(escalation.accepted_at),
        "closed_at": iso(escalation.closed_at),
        "parent_id": escalation.parent_id,
    }
