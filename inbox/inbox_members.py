"""Who works an inbox (docs/concepts/settings.md): the agents who see its conversations."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import delete
from sqlmodel import Session, col, select

from .audit import record
from .errors import InvalidInput
from .models import Agent, Inbox, InboxMember


def check_agent_ids(session: Session, agent_ids: Iterable[int]) -> list[int]:
    """The ids, sorted and once each; InvalidInput naming the first that is no agent."""
    wanted = sorted(set(agent_ids))
    found = set(session.exec(select(Agent.id).where(col(Agent.id).in_(wanted))).all())
    for agent_id in wanted:
        if agent_id not in found:
            raise InvalidInput(f"no agent {agent_id}", {"field": "member_ids"})
    return wanted


def set_inbox_members(session: Session, inbox: Inbox, agent_ids: Iterable[int]) -> list[int]:
    """Make exactly `agent_ids` the inbox's members; the caller commits."""
    assert inbox.id is not None
    wanted = check_agent_ids(session, agent_ids)
    before = member_ids_of(session, inbox.id)
    if wanted == before:
        return wanted
    session.execute(delete(InboxMember).where(col(InboxMember.inbox_id) == inbox.id))
    for agent_id in wanted:
        session.add(InboxMember(agent_id=agent_id, inbox_id=inbox.id))
    session.flush()
    record(
        session,
        "inbox.members_set",
        details={
            "inbox_id": inbox.id,
            "added": sorted(set(wanted) - set(before)),
            "removed": sorted(set(before) - set(wanted)),
        },
    )
    return wanted


def member_ids_of(session: Session, inbox_id: int) -> list[int]:
    return sorted(
        session.exec(select(InboxMember.agent_id).where(InboxMember.inbox_id == inbox_id)).all()
    )


def members_by_inbox(session: Session) -> dict[int, list[int]]:
    """Every inbox's member ids, in one query, for the settings table."""
    found: dict[int, list[int]] = defaultdict(list)
    for inbox_id, agent_id in session.exec(
        select(InboxMember.inbox_id, InboxMember.agent_id).order_by(col(InboxMember.agent_id))
    ).all():
        found[inbox_id].append(agent_id)
    return dict(found)
