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

from .clock import utcnow
from .conversations import agent_reply, check_content
from .customer_updates import _languages, eta, render, template_for
from .models import (
    Agent,
    Contact,
    Conversation,
    Escalation,
    Inbox,
    Message,
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
    # An agent read and edited it: it is theirs, sent like any reply (not `automatic`).
    message = agent_reply(session, conversation, agent, content, now, audit="letter.sent")
    session.commit()
    return message
