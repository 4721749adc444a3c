"""The escalation letter (docs/concepts/escalation-letter.md): an apology, what has been done so
far, the expected timeline and a named contact, drafted from the policy's `letter` template in
the customer's language; the agent previews and edits it, then it leaves through the
conversation's own channel like a reply.

What was done comes only from the escalation briefs' "tried" fields, which agents write
knowing the customer may read them; the rest of the brief and the notes stay internal.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from .access import audience_of
from .audit import record
from .clock import utcnow
from .conversations import _assign, _touch, check_content
from .customer_updates import _languages, eta, render, template_for
from .db import queue_event
from .events import message_created
from .models import (
    Agent,
    Contact,
    Conversation,
    Delivery,
    Escalation,
    Inbox,
    Message,
    MessageKind,
    Team,
)
from .policy_store import current_policy

TRIED = "tried"
# The templates leave this mark where what was done goes (the policy allows only whitelisted
# placeholders); with nothing tried on record it stays for the agent to fill in.
TO_FILL = "…"


def done_so_far(session: Session, conversation_id: int) -> str:
    """The "tried" fields of the conversation's escalation briefs, oldest first, once each."""
    briefs = session.exec(
        select(Escalation.brief)
        .where(Escalation.conversation_id == conversation_id)
        .order_by(col(Escalation.id))
    ).all()
    tried = [b.get(TRIED) for b in briefs if isinstance(b, dict)]
    return " ".join(dict.fromkeys(t.strip() for t in tried if isinstance(t, str) and t.strip()))


def draft_letter(session: Session, conversation: Conversation, agent: Agent, now: datetime) -> str:
    """The letter as the agent first sees it: the template filled in, ready to edit."""
    assert conversation.id is not None
    policy = current_policy(session)
    contact = session.get(Contact, conversation.contact_id)
    inbox = session.get(Inbox, conversation.inbox_id)
    found = template_for(policy, "letter", _languages(contact, inbox))
    if found is None:
        return ""
    language, template = found
    team = session.get(Team, conversation.team_id) if conversation.team_id else None
    done = done_so_far(session, conversation.id)
    values = {
        "contact": contact.name if contact and contact.name else "",
        "team": team.name if team else "",
        "agent": agent.name,
        "conversation_id": str(conversation.id),
        "eta": eta(conversation, policy, language, now),
    }
    text = render(template, values)
    return (text.replace(TO_FILL, done, 1) if done else text).strip()


def do_send_letter(
    *, session: Session, conversation: Conversation, agent: Agent, text: str, now: datetime | None
) -> Message:
    """Send the letter as the agent left it, through the conversation's own channel; commit."""
    now = now or utcnow()
    content = check_content(text)
    assert conversation.id is not None
    message = Message(
        conversation_id=conversation.id,
        inbox_id=conversation.inbox_id,
        kind=MessageKind.outgoing,
        sender_agent_id=agent.id,
        content=content,
        delivery=Delivery.pending,
        automatic=False,  # an agent read and edited it: it is theirs
        created_at=now,
    )
    session.add(message)
    if conversation.first_response_at is None:
        conversation.first_response_at = now
    conversation.last_agent_message_at = now
    conversation.preview = content[:300]
    if conversation.assignee_id is None:
        _assign(session, conversation, agent, actor=agent, now=now)
    session.flush()
    assert message.id is not None
    record(
        session,
        "letter.sent",
        actor=agent,
        conversation_id=conversation.id,
        details={"message_id": message.id},
    )
    # The same event as a reply: the dispatcher sends it, the widget shows it.
    queue_event(
        session,
        message_created(
            message_id=message.id,
            conversation_id=conversation.id,
            kind=message.kind,
            audience=audience_of(conversation, customer=True),
        ),
    )
    _touch(session, conversation, "reply", now)
    session.commit()
    return message
