"""Agents, teams, inboxes and API tokens (docs/concepts/teams-and-agents.md)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete
from sqlmodel import Session, col, select

from .audit import record
from .clock import utcnow
from .conversations import do_assign
from .errors import Conflict, InvalidInput, NotFound, Unauthorized
from .models import (
    CHANNELS,
    Agent,
    ApiToken,
    Conversation,
    Inbox,
    InboxMember,
    Membership,
    Role,
    Status,
    Team,
)
from .routing import on_agent_change, route

_hasher = PasswordHasher()
T = TypeVar("T")
TOKEN_LABEL_MAX = 200  # api_token.label's column width


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(agent: Agent, password: str) -> bool:
    if not agent.password_hash:
        return False
    try:
        return _hasher.verify(agent.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def authenticate(session: Session, email: str, password: str) -> Agent:
    agent = session.exec(select(Agent).where(Agent.email == email.strip().lower())).first()
    if agent is None:
        # Spend the same time as a real check so response time does not reveal accounts.
        _hasher.hash(password)
        raise Unauthorized("Wrong email or password")
    # A deactivated account fails exactly as a wrong password does, after the same check,
    # so nobody learns which accounts exist or were turned off.
    if not check_password(agent, password) or agent.deactivated_at is not None:
        raise Unauthorized("Wrong email or password")
    return agent


def check_role(role: str) -> str:
    if role not in {r.value for r in Role}:
        raise InvalidInput(f"role must be one of admin, manager, agent, not {role!r}")
    return role


def do_create_agent(
    *,
    session: Session,
    email: str,
    name: str,
    role: str = Role.agent,
    password: str | None = None,
    team_ids: Iterable[int] = (),
    skills: Iterable[str] = (),
    capacity: int = 10,
    available: bool = True,
    locale: str = "en",
) -> Agent:
    email = email.strip().lower()
    if not email or "@" not in email:
        raise InvalidInput("email is not an address", {"field": "email"})
    if not name.strip():
        raise InvalidInput("name is required", {"field": "name"})
    if session.exec(select(Agent).where(Agent.email == email)).first():
        raise Conflict(f"an agent with email {email} exists", {"field": "email"})
    agent = Agent(
        email=email,
        name=name.strip(),
        role=check_role(role),
        password_hash=hash_password(password) if password else "",
        skills=list(skills),
        capacity=capacity,
        available=available,
        locale=locale,
    )
    session.add(agent)
    session.flush()
    set_teams(session, agent, team_ids)
    record(session, "agent.created", details={"agent_id": agent.id, "role": role})
    return agent


def set_teams(session: Session, agent: Agent, team_ids: Iterable[int]) -> None:
    wanted = set(team_ids)
    for team_id in wanted:
        if session.get(Team, team_id) is None:
            raise InvalidInput(f"no team {team_id}", {"field": "team_ids"})
    session.execute(delete(Membership).where(col(Membership.agent_id) == agent.id))
    for team_id in sorted(wanted):
        assert agent.id is not None
        session.add(Membership(agent_id=agent.id, team_id=team_id))
    session.flush()


def team_ids_of(session: Session, agent_id: int) -> list[int]:
    return list(
        session.exec(select(Membership.team_id).where(Membership.agent_id == agent_id)).all()
    )


def do_update_agent(*, session: Session, agent: Agent, changes: dict[str, Any]) -> Agent:
    if changes.get("available") and agent.deactivated_at is not None:
        raise InvalidInput(
            f"{agent.name} is deactivated: reactivate them before making them available",
            {"field": "available"},
        )
    for key in ("name", "skills", "available", "capacity", "locale"):
        if key in changes:
            setattr(agent, key, changes[key])
    if "role" in changes:
        role = check_role(changes["role"])
        if (
            agent.role == Role.admin
            and role != Role.admin
            and not _other_active_admins(session, agent)
        ):
            raise Conflict(f"{agent.name} is the last active admin: make someone else admin first")
        agent.role = role
    if changes.get("password"):
        agent.password_hash = hash_password(changes["password"])
    if "team_ids" in changes:
        set_teams(session, agent, changes["team_ids"])
    if {"available", "capacity", "team_ids"} & changes.keys():
        on_agent_change(session, agent)
    session.add(agent)
    record(session, "agent.updated", details={"agent_id": agent.id, "fields": sorted(changes)})
    return agent


def do_create_team(
    *, session: Session, name: str, tier: int = 1, skills: Iterable[str] = ()
) -> Team:
    name = name.strip()
    if not name:
        raise InvalidInput("name is required", {"field": "name"})
    if tier not in (0, 1, 2, 3):
        raise InvalidInput("tier must be 0, 1, 2 or 3", {"field": "tier"})
    if session.exec(select(Team).where(Team.name == name)).first():
        raise Conflict(f"a team named {name} exists")
    team = Team(name=name, tier=tier, skills=list(skills))
    session.add(team)
    session.flush()
    record(session, "team.created", details={"team_id": team.id, "tier": tier})
    return team


def do_update_team(*, session: Session, team: Team, changes: dict[str, Any]) -> Team:
    if "tier" in changes and changes["tier"] not in (0, 1, 2, 3):
        raise InvalidInput("tier must be 0, 1, 2 or 3", {"field": "tier"})
    if "name" in changes:
        changes["name"] = str(changes["name"]).strip()
        if not changes["name"]:
            raise InvalidInput("name is required", {"field": "name"})
        taken = session.exec(
            select(Team).where(Team.name == changes["name"], col(Team.id) != team.id)
        ).first()
        if taken is not None:
            raise Conflict(f"a team named {changes['name']} exists", {"field": "name"})
    for key in ("name", "tier", "skills"):
        if key in changes:
            setattr(team, key, changes[key])
    session.add(team)
    record(session, "team.updated", details={"team_id": team.id, "fields": sorted(changes)})
    return team


def do_create_inbox(
    *,
    session: Session,
    name: str,
    channel: str,
    config: dict[str, Any] | None = None,
    member_ids: Iterable[int] = (),
) -> Inbox:
    if channel not in CHANNELS:
        raise InvalidInput(f"channel must be one of {', '.join(CHANNELS)}", {"field": "channel"})
    if not name.strip():
        raise InvalidInput("name is required", {"field": "name"})
    inbox = Inbox(name=name.strip(), channel=channel, config=dict(config or {}))
    if channel == "webchat":
        inbox.widget_token = secrets.token_urlsafe(16)
    if channel == "api" and "secret" not in inbox.config:
        inbox.config["secret"] = secrets.token_urlsafe(24)
    if channel == "email" and not inbox.config.get("webhook_secret"):
        # The raw-message POST is refused without one; a fresh inbox works at once.
        inbox.config["webhook_secret"] = secrets.token_urlsafe(24)
    session.add(inbox)
    session.flush()
    for agent_id in member_ids:
        assert inbox.id is not None
        session.add(InboxMember(agent_id=agent_id, inbox_id=inbox.id))
    record(session, "inbox.created", details={"inbox_id": inbox.id, "channel": channel})
    return inbox


def lock_inbox_config(session: Session, inbox: Inbox) -> None:
    """Read the inbox's config as stored now and, on PostgreSQL, lock its row until the
    commit: Handoff writes to the config too (an X inbox's renewed tokens), and a change made
    from an older read would undo it. The lock waits for a renewal under way to commit."""
    session.refresh(inbox, ["config"], with_for_update=True)


def do_update_inbox(*, session: Session, inbox: Inbox, changes: dict[str, Any]) -> Inbox:
    if "name" in changes:
        inbox.name = changes["name"]
    if "config" in changes:
        if not isinstance(changes["config"], dict):
            raise InvalidInput("config must be an object", {"field": "config"})
        lock_inbox_config(session, inbox)  # merged onto the config as stored now
        inbox.config = {**inbox.config, **changes["config"]}
    session.add(inbox)
    record(session, "inbox.updated", details={"inbox_id": inbox.id, "fields": sorted(changes)})
    return inbox


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def do_create_token(
    *,
    session: Session,
    agent: Agent,
    label: str = "",
    actor: Agent | None = None,
    expires_at: datetime | None = None,
) -> str:
    """A new API token; only its SHA-256 is stored, so this is the one time it is seen.
    `actor` is the admin who made it from Settings; the command line leaves it to the agent.
    `expires_at`: the moment it stops working (None: until revoked)."""
    assert agent.id is not None
    if expires_at is not None and expires_at <= utcnow():
        raise InvalidInput("a token's expiry must be in the future", {"field": "expires_at"})
    if agent.deactivated_at is not None:
        # Deactivation deleted their tokens; a new one would be refused anyway, so say why.
        raise InvalidInput(
            f"{agent.name} is deactivated: reactivate them before giving them an API token"
        )
    label = label.strip()
    if len(label) > TOKEN_LABEL_MAX:
        raise InvalidInput(
            f"a token label has at most {TOKEN_LABEL_MAX} characters", {"field": "label"}
        )
    token = "hnd_" + secrets.token_urlsafe(32)
    row = ApiToken(
        agent_id=agent.id, token_hash=_token_digest(token), label=label, expires_at=expires_at
    )
    session.add(row)
    session.flush()
    details: dict[str, Any] = {"agent_id": agent.id, "token_id": row.id, "label": label}
    if expires_at is not None:
        details["expires_at"] = expires_at.isoformat()
    record(session, "token.created", actor=actor or agent, details=details)
    return token


def tokens_of(session: Session, agent: Agent) -> list[ApiToken]:
    """The agent's API tokens, newest first (the id breaks ties within one clock tick)."""
    return list(
        session.exec(
            select(ApiToken)
            .where(ApiToken.agent_id == agent.id)
            .order_by(col(ApiToken.created_at).desc(), col(ApiToken.id).desc())
        ).all()
    )


def token_of(session: Session, agent: Agent, token_id: int) -> ApiToken:
    """One of `agent`'s tokens; another agent's token is NotFound, as a missing one is."""
    token = session.get(ApiToken, token_id)
    if token is None or token.agent_id != agent.id:
        raise NotFound("No such API token")
    return token


def do_revoke_token(*, session: Session, token: ApiToken, actor: Agent) -> None:
    """Delete one API token (say, the integration it was made for was retired). This
    process stops accepting it at the commit, another within 5 s (token_scopes.py)."""
    details = {"agent_id": token.agent_id, "token_id": token.id, "label": token.label}
    session.delete(token)
    record(session, "token.revoked", actor=actor, details=details)


def do_revoke_tokens(*, session: Session, agent: Agent) -> int:
    """Delete every API token of `agent`; returns how many there were. A server process
    stops accepting them at once when the revocation is its own, within 5 s otherwise
    (token_scopes.py)."""
    assert agent.id is not None
    revoked = session.execute(delete(ApiToken).where(col(ApiToken.agent_id) == agent.id))
    count = int(getattr(revoked, "rowcount", 0) or 0)
    record(session, "token.revoked", details={"agent_id": agent.id, "count": count})
    return count


def do_end_sessions(*, session: Session, agent: Agent) -> None:
    """End every browser session of `agent`: each page and websocket asks them to sign in
    again (the agent's websockets within a heartbeat). API tokens are revoked apart."""
    agent.session_epoch += 1
    session.add(agent)
    record(session, "sessions.ended", details={"agent_id": agent.id})


def do_deactivate_agent(
    *, session: Session, agent: Agent, actor: Agent, now: datetime | None = None
) -> Agent:
    """Turn off the account of someone who left: they cannot sign in, their browser sessions
    and API tokens stop working, and the conversations they held wait for someone else. The
    row stays, so their name still shows on the history they are part of. Commits, as
    unassigning each conversation does (conversations.do_assign); each goes back through its
    team's routing."""
    now = now or utcnow()
    if agent.deactivated_at is not None:
        return agent
    if agent.id == actor.id:
        raise InvalidInput("You cannot deactivate yourself; ask another admin.")
    if agent.role == Role.admin and not _other_active_admins(session, agent):
        raise Conflict(f"{agent.name} is the last active admin: make someone else admin first")
    agent.deactivated_at = now
    agent.available = False
    do_end_sessions(session=session, agent=agent)
    revoked = do_revoke_tokens(session=session, agent=agent)
    held = session.exec(
        select(Conversation)
        .where(Conversation.assignee_id == agent.id, Conversation.status != Status.resolved)
        .order_by(col(Conversation.id))
    ).all()
    record(
        session,
        "agent.deactivated",
        actor=actor,
        details={
            "agent_id": agent.id,
            "tokens_revoked": revoked,
            "unassigned": [c.id for c in held],
        },
    )
    # Unavailable before the first unassignment commits: the queue drain that each one sets
    # off must not hand their conversations straight back to them.
    session.flush()
    for conversation in held:
        do_assign(session=session, conversation=conversation, assignee=None, actor=actor, now=now)
        # Back to their team's routing, as a new conversation would go: a teammate with room
        # takes it, or it waits at the head of the team's queue.
        route(session, conversation, now)
    session.commit()
    return agent


def do_reactivate_agent(*, session: Session, agent: Agent, actor: Agent) -> Agent:
    """Let a deactivated agent sign in again with their existing password. They stay
    unavailable, taking no new work, until they (or an admin) turn availability on."""
    if agent.deactivated_at is None:
        return agent
    agent.deactivated_at = None
    session.add(agent)
    record(session, "agent.reactivated", actor=actor, details={"agent_id": agent.id})
    return agent


def _other_active_admins(session: Session, agent: Agent) -> bool:
    return (
        session.exec(
            select(Agent.id).where(
                Agent.role == Role.admin,
                col(Agent.deactivated_at).is_(None),
                col(Agent.id) != agent.id,
            )
        ).first()
        is not None
    )


def agent_for_token(session: Session, token: str) -> Agent:
    return token_holder(session, token)[0]


def token_holder(session: Session, token: str) -> tuple[Agent, datetime | None]:
    """The token's agent and when the token expires; Unauthorized for an unknown, expired or
    deactivated agent's token."""
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == _token_digest(token))).first()
    agent = session.get(Agent, row.agent_id) if row else None
    # Deactivation deletes the tokens too; this also covers a row another process left.
    if row is None or agent is None or agent.deactivated_at is not None:
        raise Unauthorized("Invalid API token")
    if row.expires_at is not None and row.expires_at <= utcnow():
        raise Unauthorized(
            "API token expired", "ask an admin for a new one (Settings → Agents → API tokens)"
        )
    return agent, row.expires_at


def get_or_404(session: Session, model: type[T], id_: int, what: str) -> T:
    obj = session.get(model, id_)
    if obj is None:
        raise NotFound(f"No such {what}")
    return obj
