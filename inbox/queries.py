"""Reading conversations: the list views, keyset pages, the thread and the contact panel."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, true, tuple_
from sqlalchemy.orm.util import identity_key
from sqlmodel import Session, col, select

from .access import Scope, visible
from .clock import utcnow
from .errors import InvalidInput
from .models import Conversation, ConversationRead, Mention, Message, Notification, Status
from .search import matching

OPEN_STATUSES = (Status.open, Status.pending, Status.snoozed)
VIEWS = ("mine", "unassigned", "teams", "mentions", "all")


@dataclass(frozen=True)
class ConversationFilter:
    view: str = "all"
    status: str | None = None  # None: everything not resolved; "all": every status
    team_id: int | None = None
    assignee_id: int | None = None
    inbox_id: int | None = None
    tier: int | None = None
    q: str | None = None
    escalated: bool | None = None  # an open escalation, or none
    breaching: bool | None = None  # past its SLA warning point (so due or overdue soon)


@dataclass
class Page:
    items: list[Conversation]
    next_cursor: str | None


def encode_cursor(conversation: Conversation) -> str:
    raw = f"{conversation.last_activity_at.isoformat()}|{conversation.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, id_ = raw.split("|")
        return datetime.fromisoformat(at), int(id_)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("cursor is not one this server gave out", {"field": "cursor"}) from exc


def _visible_unindexed(session: Session, scope: Scope) -> ColumnElement[bool]:
    """`visible(scope)` in a form SQLite's planner filters on instead of driving the query.

    Without statistics SQLite guesses that `team_id IN (...) OR inbox_id IN (...)` matches a
    handful of rows, so it fetches every conversation of the agent's teams and inboxes and
    sorts them (40 ms with 100,000 stored). Read as `(...) IS 1` it walks the activity or
    status index newest first and stops at the page size (0.1 ms); see docs/performance.md.
    """
    clause = visible(scope)
    if scope.is_admin or session.get_bind().dialect.name != "sqlite":
        return clause
    return clause.is_(true())


def _where(session: Session, scope: Scope, f: ConversationFilter) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = [_visible_unindexed(session, scope)]
    if f.view not in VIEWS:
        raise InvalidInput(f"view must be one of {', '.join(VIEWS)}", {"field": "view"})
    if f.view == "mine":
        clauses.append(col(Conversation.assignee_id) == scope.agent_id)
    elif f.view == "unassigned":
        clauses.append(col(Conversation.assignee_id).is_(None))
    elif f.view == "teams":
        clauses.append(col(Conversation.team_id).in_(scope.team_ids or {-1}))
    elif f.view == "mentions":
        mentioned = select(Mention.conversation_id).where(Mention.agent_id == scope.agent_id)
        clauses.append(col(Conversation.id).in_(mentioned))
    if f.status is None:
        clauses.append(col(Conversation.status).in_(OPEN_STATUSES))
    elif f.status != "all":
        if f.status not in {s.value for s in Status}:
            raise InvalidInput(
                "status must be open, pending, snoozed, resolved or all", {"field": "status"}
            )
        clauses.append(col(Conversation.status) == f.status)
    if f.team_id is not None:
        clauses.append(col(Conversation.team_id) == f.team_id)
    if f.assignee_id is not None:
        clauses.append(col(Conversation.assignee_id) == f.assignee_id)
    if f.inbox_id is not None:
        clauses.append(col(Conversation.inbox_id) == f.inbox_id)
    if f.tier is not None:
        clauses.append(col(Conversation.tier) == f.tier)
    if f.escalated is not None:
        escalated = col(Conversation.escalation_id)
        clauses.append(escalated.is_not(None) if f.escalated else escalated.is_(None))
    if f.breaching is not None:
        warned = col(Conversation.sla_warn_at) <= utcnow()
        clauses.append(
            warned if f.breaching else or_(~warned, col(Conversation.sla_warn_at).is_(None))
        )
    if f.q and (found := matching(session, f.q)) is not None:
        clauses.append(found)
    return clauses


def list_conversations(
    session: Session,
    scope: Scope,
    f: ConversationFilter,
    *,
    limit: int = 25,
    cursor: str | None = None,
) -> Page:
    """Newest activity first, one keyset page at a time (no OFFSET: page 400 is as fast as 1)."""
    if not 1 <= limit <= 100:
        raise InvalidInput("limit must be between 1 and 100", {"field": "limit"})
    clauses = _where(session, scope, f)
    if cursor:
        at, id_ = decode_cursor(cursor)
        clauses.append(tuple_(col(Conversation.last_activity_at), col(Conversation.id)) < (at, id_))
    rows = list(
        session.exec(
            select(Conversation)
            .where(and_(*clauses))
            .order_by(col(Conversation.last_activity_at).desc(), col(Conversation.id).desc())
            .limit(limit + 1)
        ).all()
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, encode_cursor(rows[-1]) if more and rows else None)


def thread(session: Session, conversation_id: int, *, customer_view: bool = False) -> list[Message]:
    query = select(Message).where(Message.conversation_id == conversation_id)
    if customer_view:
        query = query.where(or_(col(Message.kind) == "incoming", col(Message.kind) == "outgoing"))
    return list(session.exec(query.order_by(col(Message.id))).all())


def unread_ids(session: Session, agent_id: int, conversations: list[Conversation]) -> set[int]:
    """Which of these conversations have customer messages the agent has not opened since."""
    ids = [c.id for c in conversations if c.id is not None]
    if not ids:
        return set()
    reads = dict(
        session.exec(
            select(ConversationRead.conversation_id, ConversationRead.read_at).where(
                ConversationRead.agent_id == agent_id,
                col(ConversationRead.conversation_id).in_(ids),
            )
        ).all()
    )
    return {
        c.id
        for c in conversations
        if c.id is not None
        and c.last_customer_message_at is not None
        and (c.id not in reads or reads[c.id] < c.last_customer_message_at)
    }


def mark_read(session: Session, agent_id: int, conversation_id: int, at: datetime) -> None:
    row = session.get(ConversationRead, (agent_id, conversation_id))
    if row is None:
        session.add(
            ConversationRead(agent_id=agent_id, conversation_id=conversation_id, read_at=at)
        )
    else:
        row.read_at = at
        session.add(row)
    session.commit()


def contact_history(
    session: Session, scope: Scope, contact_id: int, exclude: int | None = None
) -> list[Conversation]:
    return list(
        session.exec(
            select(Conversation)
            .where(
                Conversation.contact_id == contact_id,
                visible(scope),
                col(Conversation.id) != (exclude or -1),
            )
            .order_by(col(Conversation.id).desc())
            .limit(10)
        ).all()
    )


def notifications(session: Session, agent_id: int, limit: int = 20) -> list[Notification]:
    return list(
        session.exec(
            select(Notification)
            .where(Notification.agent_id == agent_id)
            .order_by(col(Notification.id).desc())
            .limit(limit)
        ).all()
    )


def unread_notification_count(session: Session, agent_id: int) -> int:
    from sqlalchemy import func

    return session.exec(
        select(func.count())
        .select_from(Notification)
        .where(Notification.agent_id == agent_id, col(Notification.read_at).is_(None))
    ).one()


def mark_notifications_read(session: Session, agent_id: int, at: datetime) -> None:
    for note in session.exec(
        select(Notification).where(
            Notification.agent_id == agent_id, col(Notification.read_at).is_(None)
        )
    ).all():
        note.read_at = at
        session.add(note)
    session.commit()


@dataclass
class Card:
    """A conversation as the list and the thread header show it."""

    conversation: Conversation
    contact_name: str
    channel: str
    inbox_name: str
    team_name: str | None
    assignee_name: str | None
    unread: bool = False
    queue_position: int | None = None


def cards(
    session: Session, conversations: list[Conversation], unread: set[int] | None = None
) -> list[Card]:
    """Cards for a page of conversations, in four queries whatever the page size."""
    from .models import Agent, Contact, Inbox, Team

    def by_id(model: type[Any], ids: set[int]) -> dict[int, Any]:
        # Rows the session already holds (a fragment rendered from what the domain committed)
        # are not read again.
        held = {
            i: o for i in ids if (o := session.identity_map.get(identity_key(model, i))) is not None
        }
        missing = ids - held.keys()
        if missing:
            held.update(
                (o.id, o) for o in session.exec(select(model).where(col(model.id).in_(missing)))
            )
        return held

    contacts = by_id(Contact, {c.contact_id for c in conversations})
    inboxes = by_id(Inbox, {c.inbox_id for c in conversations})
    teams = by_id(Team, {c.team_id for c in conversations if c.team_id})
    agents = by_id(Agent, {c.assignee_id for c in conversations if c.assignee_id})
    unread = unread or set()
    from .routing import queue_positions  # routing builds on this module's callers

    positions = queue_positions(session, conversations)
    return [
        Card(
            conversation=c,
            contact_name=contacts[c.contact_id].name if c.contact_id in contacts else "",
            channel=inboxes[c.inbox_id].channel if c.inbox_id in inboxes else "",
            inbox_name=inboxes[c.inbox_id].name if c.inbox_id in inboxes else "",
            team_name=teams[c.team_id].name if c.team_id in teams else None,
            assignee_name=agents[c.assignee_id].name if c.assignee_id in agents else None,
            unread=c.id in unread,
            queue_position=positions.get(c.id) if c.id is not None else None,
        )
        for c in conversations
    ]
