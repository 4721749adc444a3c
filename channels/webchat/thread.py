"""The conversation as the customer sees it (docs/channels/webchat.md): their messages and the
agents' replies, signed with the agent's first name. Never notes, activity or internal data.

Automatic messages say so: the bot's answers are signed "Bot" (docs/concepts/bot.md), and the
rating question after a resolution is marked `csat` for the inline rating row
(docs/concepts/csat.md). Files stored with a message are listed as `attachments`; the widget
downloads them from routes.py."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from inbox import queries
from inbox.bot import is_bot_message
from inbox.csat import survey_message_ids
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
    surveys = survey_message_ids(session, [m.id for m in messages if m.automatic and m.id])
    return [
        as_customer_sees(m, agents.get(m.sender_agent_id or 0), survey=m.id in surveys)
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
    survey = bool(message.automatic and message.id and survey_message_ids(session, [message.id]))
    return as_customer_sees(message, agent, survey=survey)


def author_of(message: Message, agent: Agent | None) -> str:
    if message.kind != MessageKind.outgoing:
        return gettext("You")
    return gettext("Bot") if is_bot_message(message) else first_name(agent)


def as_customer_sees(
    message: Message, agent: Agent | None, *, survey: bool = False
) -> dict[str, Any]:
    seen: dict[str, Any] = {
        "id": message.id,
        "kind": message.kind,
        "content": message.content,
        "author": author_of(message, agent),
        "created_at": iso(message.created_at),
    }
    # Flags only when set: an agent's reply carries exactly the fields it always did.
    if message.automatic:
        seen["automatic"] = True
    if survey:
        seen["csat"] = True
    # Only when the message has stored files, for the same reason as the flags above.
    files = stored_files(message)
    if files:
        seen["attachments"] = files
    return seen


def stored_files(message: Message) -> list[dict[str, Any]]:
    """The files of a message the customer can download from the widget: those stored here
    (with an id). A reference or a file skipped as too large has nothing to fetch."""
    if message.kind not in CUSTOMER_KINDS:
        return []  # callers check already; a note's file names are no less private
    return [
        {"id": f["id"], "filename": str(f.get("filename") or ""), "size": f.get("size") or 0}
        for f in message.attachments or []
        if isinstance(f, dict) and isinstance(f.get("id"), int)
    ]
