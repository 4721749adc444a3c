"""Routing (docs/concepts/routing.md): from a team to one of its agents, or to its queue.

A conversation that arrives in a team, moves to one or is escalated to one goes to an agent
by the team's method in the policy (direct, round robin, least busy, least idle, skills).
Only available members under their capacity qualify; when nobody does, it waits in the team
queue and is handed out, oldest first, the moment someone frees up. Everything here runs
inside the caller's transaction (lifecycle.changed) and never commits, except
`do_drain_queue`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, event, func
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import object_session
from sqlmodel import Session, col, select

from . import lifecycle
from .access import audience_of
from .audit import record
from .clock import utcnow
from .conversation_writes import _activity, notify
from .db import queue_event
from .events import conversation_changed
from .models import Agent, Conversation, Escalation, Membership, Shortcut, Status, Team
from .policy import RoutingMethod
from .policy_store import current_policy

# A conversation is routed when one of these changes leaves it in a team without an assignee.
ROUTE_ON = frozenset({"created", "reopened", "team", "escalated"})
# Waiting on the customer: these do not count against an agent's capacity.
NOT_BUSY = frozenset({Status.pending, Status.snoozed, Status.resolved})
# How many queued conversations one drain looks at, so one event never does unbounded work.
DRAIN_LIMIT = 200
METHOD_LABELS: dict[str, str] = {
    "direct": "direct, round robin",
    "round_robin": "round robin",
    "least_busy": "least busy",
    "least_idle": "least idle",
    "skills": "skills",
}

NEVER = datetime.min.replace(tzinfo=UTC)

# session.info keys, cleared at the end of each transaction.
_ROUTED = "handoff_routed"  # {(conversation id, team id)} routed in this transaction
_MOVES = "handoff_assignee_moves"  # [(previous assignee id, new assignee id)]


def on_change(session: Session, conversation: Conversation, change: str, now: datetime) -> None:
    """Called by lifecycle.changed for every change, inside the caller's transaction."""
    _settle_assignee_moves(session, now)
    if conversation.queued_at is not None and (
        conversation.assignee_id is not None
        or conversation.status == Status.resolved
        or conversation.team_id is None
    ):
        conversation.queued_at = None  # taken by hand, finished or moved out while it waited
        session.add(conversation)
    if change in ROUTE_ON:
        route(session, conversation, now, moved=change in ("team", "escalated"))
    elif (
        change == "status"
        and conversation.status in NOT_BUSY
        and conversation.assignee_id is not None
    ):
        _drain_for_agent(session, conversation.assignee_id, now)


def on_agent_change(session: Session, agent: Agent, now: datetime | None = None) -> None:
    """An agent became available, took a higher capacity or joined a team: hand them work
    from their teams' queues. Does not commit (the caller's update does)."""
    if agent.id is not None and agent.available and agent.deactivated_at is None:
        _drain_for_agent(session, agent.id, now or utcnow())


def do_drain_queue(*, session: Session, team: Team, now: datetime | None = None) -> list[int]:
    """Assign the team's oldest queued conversations to whoever is free; commit.
    Returns the ids of the conversations assigned."""
    assigned = drain_queue(session, team, now or utcnow())
    session.commit()
    return assigned


# --- Choosing an agent


def method_of(session: Session, team: Team) -> RoutingMethod | None:
    """The team's method, or None: a team the policy does not name is routed by hand."""
    return current_policy(session).routing.get(team.name)


def route(
    session: Session, conversation: Conversation, now: datetime, *, moved: bool = False
) -> Agent | None:
    """Give an unassigned conversation to an agent of its team, or queue it. Once per
    conversation and team in a transaction; never touches one someone already has.
    `moved`: it just came from another team, so any place it held in a queue is gone."""
    if (
        conversation.id is None
        or conversation.team_id is None
        or conversation.assignee_id is not None
        or conversation.status == Status.resolved
    ):
        return None
    routed: set[tuple[int, int]] = session.info.setdefault(_ROUTED, set())
    if (conversation.id, conversation.team_id) in routed:
        return None
    routed.add((conversation.id, conversation.team_id))
    if moved:
        conversation.queued_at = None  # each team has its own queue: it joins at the back
    team = session.get(Team, conversation.team_id)
    method = method_of(session, team) if team is not None else None
    if team is None or method is None:
        return None
    skill = required_skill(session, conversation, team) if method == "skills" else None
    agent = pick_agent(session, team, method, skill)
    if agent is not None:
        assign_routed(session, conversation, agent, team, method, skill, now)
    elif conversation.queued_at is None:
        conversation.queued_at = now
        session.add(conversation)
        why = f" with the skill {skill}" if skill else ""
        _activity(
            session, conversation, f"Waiting in the {team.name} queue: no one{why} is free", now
        )
        record(
            session,
            "conversation.queued",
            actor_kind="routing",
            conversation_id=conversation.id,
            details={"team_id": team.id, "method": method, "skill": skill},
        )
    return agent


def required_skill(session: Session, conversation: Conversation, team: Team) -> str | None:
    """The skill a skills-routed conversation needs: its escalation shortcut's target skill,
    else the skill of the matrix row that sends this tier's problems to this team."""
    if conversation.escalation_id is not None:
        escalation = session.get(Escalation, conversation.escalation_id)
        if escalation is not None and escalation.shortcut_id is not None:
            shortcut = session.get(Shortcut, escalation.shortcut_id)
            if shortcut is not None and isinstance(shortcut.target.get("skill"), str):
                return str(shortcut.target["skill"])
    return next(
        (
            row.skill
            for row in current_policy(session).matrix
            if row.skill and row.tiers.get(conversation.tier) == team.name
        ),
        None,
    )


def members(session: Session, team: Team) -> list[Agent]:
    """Every member of the team, in a fixed order (the round-robin circle)."""
    return list(
        session.exec(
            select(Agent)
            .join(Membership, col(Membership.agent_id) == col(Agent.id))
            .where(Membership.team_id == team.id)
            .order_by(col(Agent.id))
        ).all()
    )


def open_load(session: Session, agent_ids: list[int]) -> dict[int, int]:
    """Open conversations each agent holds (pending, snoozed and resolved do not count)."""
    if not agent_ids:
        return {}
    rows = session.exec(
        select(Conversation.assignee_id, func.count())
        .where(col(Conversation.assignee_id).in_(agent_ids), Conversation.status == Status.open)
        .group_by(col(Conversation.assignee_id))
    ).all()
    return {agent_id: count for agent_id, count in rows if agent_id is not None}


def pick_agent(
    session: Session, team: Team, method: RoutingMethod, skill: str | None = None
) -> Agent | None:
    """The agent `method` chooses among the team's available, active members under their
    cap. Deactivated members stay in the circle, so round robin keeps its place."""
    circle = members(session, team)
    load = open_load(session, [a.id for a in circle if a.id is not None])
    free = [
        a
        for a in circle
        if a.available and a.deactivated_at is None and load.get(a.id or 0, 0) < a.capacity
    ]
    if method == "skills" and skill is not None:
        free = [a for a in free if skill in a.skills]
    if not free:
        return None
    if method in ("round_robin", "direct"):
        return _next_in_circle(circle, free)
    if method == "least_idle":
        return min(free, key=lambda a: (_stamp(a), a.id or 0))
    # least_busy, and skills among those who have the skill
    return min(free, key=lambda a: (load.get(a.id or 0, 0), _stamp(a), a.id or 0))


def _stamp(agent: Agent) -> datetime:
    return agent.last_assigned_at or NEVER


def _next_in_circle(circle: list[Agent], free: list[Agent]) -> Agent:
    """Round robin from the database: the free member after the one assigned last, in the
    circle's fixed order. Any process reaches the same answer, and restarts lose nothing."""
    assigned = [a for a in circle if a.last_assigned_at is not None]
    if not assigned:
        return free[0]
    last = max(assigned, key=lambda a: (_stamp(a), a.id or 0))
    start = circle.index(last) + 1
    free_ids = {a.id for a in free}
    for agent in circle[start:] + circle[:start]:
        if agent.id in free_ids:
            return agent
    return free[0]


# --- Assigning


def assign_routed(
    session: Session,
    conversation: Conversation,
    agent: Agent,
    team: Team,
    method: RoutingMethod,
    skill: str | None,
    now: datetime,
) -> None:
    """Assign without committing: activity line, audit, the agent's notification."""
    assert agent.id is not None and conversation.id is not None
    conversation.assignee_id = agent.id
    conversation.queued_at = None
    session.add(conversation)
    # Strictly later than anyone in the team, so several assignments at one `now` (a drain)
    # still leave the round-robin circle a clear "last".
    latest = max(
        (a.last_assigned_at for a in members(session, team) if a.last_assigned_at), default=None
    )
    agent.last_assigned_at = (
        now if latest is None or latest < now else latest + timedelta(microseconds=1)
    )
    session.add(agent)
    how = METHOD_LABELS[method] + (f": {skill}" if skill else "")
    _activity(session, conversation, f"Routed to {agent.name} ({how})", now)
    record(
        session,
        "conversation.assigned",
        actor_kind="routing",
        conversation_id=conversation.id,
        details={"assignee_id": agent.id, "team_id": team.id, "method": method, "skill": skill},
    )
    notify(
        session,
        at=now,
        agent_id=agent.id,
        kind="assignment",
        text=f"Handoff routed conversation #{conversation.id} to you ({team.name}, {how})",
        conversation_id=conversation.id,
    )


# --- The queue


def _waiting_in(team_id: int) -> list[ColumnElement[bool]]:
    """Where a team's queue is: queued, still unassigned, not resolved."""
    return [
        col(Conversation.team_id) == team_id,
        col(Conversation.queued_at).is_not(None),
        col(Conversation.assignee_id).is_(None),
        col(Conversation.status) != Status.resolved,
    ]


IN_LINE = (col(Conversation.queued_at), col(Conversation.id))


def queue_position(session: Session, conversation: Conversation) -> int:
    """1 for the next in line in its team's queue; 0 when it is not waiting."""
    if (
        conversation.queued_at is None
        or conversation.assignee_id is not None
        or conversation.team_id is None
    ):
        return 0
    ahead = session.exec(
        select(func.count())
        .select_from(Conversation)
        .where(
            *_waiting_in(conversation.team_id),
            (col(Conversation.queued_at) < conversation.queued_at)
            | (
                (col(Conversation.queued_at) == conversation.queued_at)
                & (col(Conversation.id) < conversation.id)
            ),
        )
    ).one()
    return int(ahead) + 1


def queue_positions(session: Session, conversations: list[Conversation]) -> dict[int, int]:
    """Positions for a page of the list: one query per team that has a waiting conversation."""
    waiting = {
        c.team_id
        for c in conversations
        if c.queued_at is not None and c.assignee_id is None and c.team_id is not None
    }
    positions: dict[int, int] = {}
    for team_id in waiting:
        ids = session.exec(
            select(Conversation.id).where(*_waiting_in(team_id)).order_by(*IN_LINE)
        ).all()
        positions.update({id_: i for i, id_ in enumerate(ids, 1) if id_ is not None})
    return {c.id: positions[c.id] for c in conversations if c.id is not None and c.id in positions}


def drain_queue(session: Session, team: Team, now: datetime) -> list[int]:
    """Hand the team's queued conversations, oldest first, to free agents. No commit."""
    method = method_of(session, team)
    if method is None or team.id is None:
        return []
    assigned: list[int] = []
    # Other processes draining the same queue skip the rows this one holds (PostgreSQL).
    waiting = session.exec(
        select(Conversation)
        .where(*_waiting_in(team.id))
        .order_by(*IN_LINE)
        .limit(DRAIN_LIMIT)
        .with_for_update(skip_locked=True)
    ).all()
    for conversation in waiting:
        skill = required_skill(session, conversation, team) if method == "skills" else None
        agent = pick_agent(session, team, method, skill)
        if agent is None:
            if method == "skills" and pick_agent(session, team, method, None) is not None:
                continue  # someone is free, just not with this skill: try the next in line
            break
        assign_routed(session, conversation, agent, team, method, skill, now)
        _announce(session, conversation, now)
        assert conversation.id is not None
        assigned.append(conversation.id)
    return assigned


def _announce(session: Session, conversation: Conversation, now: datetime) -> None:
    """What any assignment does to a conversation: a new version, lifecycle, a live update."""
    assert conversation.id is not None
    conversation.version += 1
    conversation.last_activity_at = now
    session.add(conversation)
    lifecycle.changed(session, conversation, "assignee", now)
    queue_event(
        session,
        conversation_changed(
            conversation_id=conversation.id, audience=audience_of(conversation), change="assignee"
        ),
    )


def _drain_for_agent(session: Session, agent_id: int, now: datetime) -> None:
    teams = session.exec(
        select(Team).join(Membership).where(Membership.agent_id == agent_id).order_by(col(Team.id))
    ).all()
    for team in teams:
        drain_queue(session, team, now)


# --- Capacity that frees up wherever an assignee changes


def _settle_assignee_moves(session: Session, now: datetime) -> None:
    """Assignments made since the last change: the new assignee was just assigned (least
    idle and round robin read that), the previous one has room for the queue."""
    moves: list[tuple[int | None, int | None]] = session.info.pop(_MOVES, [])
    for previous, new in moves:
        agent = session.get(Agent, new) if new is not None else None
        if agent is not None and (agent.last_assigned_at is None or agent.last_assigned_at < now):
            agent.last_assigned_at = now
            session.add(agent)
        if previous is not None and previous != new:
            _drain_for_agent(session, previous, now)


@event.listens_for(Conversation.assignee_id, "set", active_history=True)
def _remember_assignee_move(
    target: Conversation, value: int | None, previous: Any, _initiator: Any
) -> None:
    # Whatever module changes the assignee (a reply that assigns, a move to another team,
    # an escalation, an agent's own choice), routing hears of it at the next lifecycle call.
    session = object_session(target)
    if session is None or value == previous:
        return
    before = previous if isinstance(previous, int) else None
    session.info.setdefault(_MOVES, []).append((before, value))


@event.listens_for(OrmSession, "after_commit")
@event.listens_for(OrmSession, "after_rollback")
def _forget(session: OrmSession) -> None:
    session.info.pop(_ROUTED, None)
    session.info.pop(_MOVES, None)
