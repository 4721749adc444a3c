"""Internal notes and @mentions (docs/concepts/notes-and-mentions.md).

A mention is `@` followed by an agent's handle (their name without spaces, e.g. @DanaKowalski),
their first name when only one agent has it, their email's local part, or a team's handle
(@Billing, @SupportL1), which mentions every member of that team.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from .access import audience_of, can_see_conversation, scope_for
from .attachments import check_files, store_attachments
from .audit import record
from .clock import utcnow
from .conversation_writes import _activity, _touch, check_content, notify
from .db import queue_event
from .events import message_created
from .models import Agent, Conversation, Delivery, Membership, Mention, Message, MessageKind, Team

MENTION = re.compile(r"(?<![\w@])@([\w][\w.\-]*)", re.UNICODE)


def handle(name: str) -> str:
    """The @handle of an agent or team: its name's words joined, letters of any script kept."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^\w]+", name) if part)


@dataclass(frozen=True)
class Mentioned:
    agent_ids: frozenset[int]
    team_ids: frozenset[int]


def parse_mentions(session: Session, content: str) -> Mentioned:
    tokens = {t.rstrip(".-").lower() for t in MENTION.findall(content)}
    if not tokens:
        return Mentioned(frozenset(), frozenset())
    # A deactivated agent is nobody's to mention: `@Dana` then names the Dana still here.
    agents = session.exec(select(Agent).where(col(Agent.deactivated_at).is_(None))).all()
    teams = session.exec(select(Team)).all()
    first_names: dict[str, list[Agent]] = {}
    for agent in agents:
        first_names.setdefault(agent.name.split()[0].lower() if agent.name else "", []).append(
            agent
        )
    agent_ids: set[int] = set()
    team_ids: set[int] = set()
    for token in tokens:
        for agent in agents:
            if token in (handle(agent.name).lower(), agent.email.split("@")[0].lower()):
                agent_ids.add(agent.id or 0)
        same_first = first_names.get(token, [])
        if len(same_first) == 1:
            agent_ids.add(same_first[0].id or 0)
        for team in teams:
            if token == handle(team.name).lower():
                team_ids.add(team.id or 0)
    return Mentioned(frozenset(agent_ids - {0}), frozenset(team_ids - {0}))


def do_add_note(
    *,
    session: Session,
    conversation: Conversation,
    agent: Agent,
    content: str,
    files: Sequence[dict[str, Any]] = (),
    now: datetime | None = None,
) -> Message:
    """An internal note: agents only. Its mentions notify each named agent once. `files` as
    for a reply (conversations.do_reply); they never reach the customer."""
    now = now or utcnow()
    check_files(files)
    content = check_content(content, allow_empty=bool(files))
    assert conversation.id is not None and agent.id is not None
    note = Message(
        conversation_id=conversation.id,
        inbox_id=conversation.inbox_id,
        kind=MessageKind.note,
        sender_agent_id=agent.id,
        content=content,
        delivery=Delivery.sent,
        created_at=now,
    )
    session.add(note)
    session.flush()
    assert note.id is not None
    if files:
        note.attachments = store_attachments(session, note, list(files))
    mentioned = parse_mentions(session, content)
    # agent id -> the team they were mentioned through (None: by name)
    targets: dict[int, int | None] = dict.fromkeys(mentioned.agent_ids)
    for mentioned_team in sorted(mentioned.team_ids):
        members = session.exec(
            select(Membership.agent_id).where(Membership.team_id == mentioned_team)
        )
        for member_id in members.all():
            targets.setdefault(member_id, mentioned_team)
    notified: set[int] = set()
    unable: list[str] = []
    for agent_id, via_team in sorted(targets.items()):
        target = session.get(Agent, agent_id)
        if target is None or target.deactivated_at is not None:
            continue  # gone, or a deactivated member of a mentioned team
        # A mention never shows a note to someone the access rules keep out.
        if not can_see_conversation(scope_for(session, target), conversation):
            unable.append(target.name)
            continue
        session.add(
            Mention(
                message_id=note.id,
                conversation_id=conversation.id,
                agent_id=agent_id,
                team_id=via_team,
            )
        )
        notified.add(agent_id)
    for agent_id in sorted(notified - {agent.id}):
        notify(
            session,
            at=now,
            agent_id=agent_id,
            kind="mention",
            text=f"{agent.name} mentioned you on conversation #{conversation.id}: {content}",
            conversation_id=conversation.id,
            message_id=note.id,
        )
    if unable:
        _activity(
            session,
            conversation,
            "Not notified, they cannot see this conversation: " + ", ".join(sorted(unable)),
            now,
        )
    record(
        session,
        "note.added",
        actor=agent,
        conversation_id=conversation.id,
        details={"message_id": note.id, "mentioned": sorted(notified)},
    )
    queue_event(
        session,
        message_created(
            message_id=note.id,
            conversation_id=conversation.id,
            kind=note.kind,
            audience=audience_of(conversation),
        ),
    )
    _touch(session, conversation, "note", now)
    session.commit()
    return note
