"""The conversation as the customer sees it (docs/channels/webchat.md): their messages and the
agents' replies, signed with the agent's first name. Never notes, activity or internal data."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from inbox import queries
from inbox.models import Agent, Message, MessageKind
from web.i18n import gettext
from web.templating import iso

CUSTOMER_KINDS = frozenset({MessageKind.incoming.value, MessageKind.outgoing.value})


def first_name(agent: Agent | None) -> str:
    parts = agent.name.split() if agent else []
    return parts[0] if parts else gettext("Support")


def customer_messages(session: Session, conversation_id: int) -> list[dict[str, Any]]:
    messages = queries.thread(session, conversation_id, customer_view=True)
    ids = {m.sender_agent_id for m in messages if m.sender_agent_id}
    agents = (
        {a.id: a for a in session.exec(select(Agent).where(col(Agent.id).in_(ids))).all()}
        if ids
        else {}
    )
    return [
        as_customer_sees(m, agents.get(m.sender_agent_id or 0))
        for m in messages
        # queries.thread already keeps only these; checked again because a leak here is a
        # privacy bug, not a cosmetic one.
        if m.kind in CUSTOMER_KINDS
    ]


def customer_message(session: Session, message: Message) -> dict[str, Any] | None:
    """One message for the widget, or None when the customer may not see it."""
    if message.kind not in CUSTOMER_KINDS:
        return None
    agent = session.get(Agent, message.sender_agent_id) if message.sender_agent_id else None
    return as_customer_sees(message, agent)


def as_customer_sees(message: Message, agent: Agent | None) -> dict[str, Any]:
    outgoing = message.kind == MessageKind.outgoing
    return {
        "id": message.id,
        "kind": message.kind,
        "content": message.content,
        "author": first_name(agent) if outgoing else gettext("You"),
        "created_at": iso(message.created_at),
    }
