"""Who sees what (docs/concepts/access.md). Every read path goes through here.

- an agent sees conversations of the inboxes and teams they belong to;
- a manager also sees every conversation at the tiers of their teams;
- an admin sees everything.

Saved replies (docs/concepts/saved-replies.md): everyone uses the shared ones and their teams';
admins manage all of them, managers their own teams', agents none.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, false, or_, true
from sqlmodel import Session, col, select

from .errors import NotFound
from .events import Audience, Event
from .models import Agent, Conversation, InboxMember, Membership, Role, SavedReply, Team


@dataclass(frozen=True)
class Scope:
    """What one agent may see, loaded once per request or websocket connection."""

    agent_id: int
    role: str
    team_ids: frozenset[int]
    inbox_ids: frozenset[int]
    tiers: frozenset[int]

    @property
    def is_admin(self) -> bool:
        return self.role == Role.admin


def scope_for(session: Session, agent: Agent) -> Scope:
    assert agent.id is not None
    teams = session.exec(
        select(Team.id, Team.tier).join(Membership).where(Membership.agent_id == agent.id)
    ).all()
    inboxes = session.exec(
        select(InboxMember.inbox_id).where(InboxMember.agent_id == agent.id)
    ).all()
    tiers = frozenset(t for _, t in teams) if agent.role == Role.manager else frozenset()
    return Scope(
        agent_id=agent.id,
        role=agent.role,
        team_ids=frozenset(i for i, _ in teams if i is not None),
        inbox_ids=frozenset(inboxes),
        tiers=tiers,
    )


def visible(scope: Scope) -> ColumnElement[bool]:
    """A WHERE clause on Conversation for what `scope` may see."""
    if scope.is_admin:
        return true()
    clauses: list[ColumnElement[bool]] = []
    if scope.team_ids:
        clauses.append(col(Conversation.team_id).in_(scope.team_ids))
    if scope.inbox_ids:
        clauses.append(col(Conversation.inbox_id).in_(scope.inbox_ids))
    if scope.tiers:
        clauses.append(col(Conversation.tier).in_(scope.tiers))
    return or_(*clauses) if clauses else false()


def can_see_conversation(scope: Scope, conversation: Conversation) -> bool:
    return can_see(
        scope,
        Audience(
            conversation_id=conversation.id,
            inbox_id=conversation.inbox_id,
            team_id=conversation.team_id,
            tier=conversation.tier,
        ),
    )


def can_see(scope: Scope, audience: Audience) -> bool:
    if audience.agent_ids is not None:
        return scope.agent_id in audience.agent_ids
    if scope.is_admin:
        return True
    return (
        (audience.team_id is not None and audience.team_id in scope.team_ids)
        or (audience.inbox_id is not None and audience.inbox_id in scope.inbox_ids)
        or (audience.tier is not None and audience.tier in scope.tiers)
    )


def event_filter(scope: Scope) -> EventPredicate:
    return EventPredicate(scope)


class EventPredicate:
    """The bus filter for one agent's websocket."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    def __call__(self, event: Event) -> bool:
        return can_see(self.scope, event.audience)


def get_visible_conversation(session: Session, scope: Scope, conversation_id: int) -> Conversation:
    """The conversation, or NotFound when it does not exist or `scope` may not see it.

    Both cases answer the same so that ids of other teams' conversations do not leak.
    """
    conversation = session.get(Conversation, conversation_id)
    if conversation is None or not can_see_conversation(scope, conversation):
        raise NotFound("No such conversation")
    return conversation


def audience_of(conversation: Conversation, *, customer: bool = False) -> Audience:
    return Audience(
        conversation_id=conversation.id,
        inbox_id=conversation.inbox_id,
        team_id=conversation.team_id,
        tier=conversation.tier,
        customer=customer,
    )


def usable_saved_replies(scope: Scope) -> ColumnElement[bool]:
    """A WHERE clause on SavedReply: the shared ones plus those of the agent's teams."""
    if scope.is_admin:
        return true()
    shared = col(SavedReply.team_id).is_(None)
    if not scope.team_ids:
        return shared
    return or_(shared, col(SavedReply.team_id).in_(scope.team_ids))


def can_use_saved_reply(scope: Scope, reply: SavedReply) -> bool:
    return scope.is_admin or reply.team_id is None or reply.team_id in scope.team_ids


def manages_saved_replies(scope: Scope) -> bool:
    """Whether the Saved replies settings page is for them at all."""
    return scope.is_admin or scope.role == Role.manager


def can_manage_saved_reply(scope: Scope, team_id: int | None) -> bool:
    """Admins: any. Managers: their own teams' (never the shared ones, which every team
    reads). Agents: none; they only use them."""
    if scope.is_admin:
        return True
    return scope.role == Role.manager and team_id is not None and team_id in scope.team_ids
