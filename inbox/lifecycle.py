"""One place where the escalation engine hears about every change to a conversation.

Domain functions call `changed()` inside their transaction, before the commit, so SLA due
times, routing and counter rules move in the same transaction as the change itself.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from .models import Conversation


def changed(session: Session, conversation: Conversation, change: str, now: datetime) -> None:
    """`change` is one of: created, message, reopened, reply, note, assignee, team, status,
    priority, escalated, accepted."""
    # Imported here: these modules build on conversation_writes.py, which calls this.
    from . import routing, rules, sla

    sla.on_change(session, conversation, change, now)
    routing.on_change(session, conversation, change, now)
    rules.on_change(session, conversation, change, now)
    if change == "status" and conversation.status == "resolved":
        from .escalation import close_escalation  # and tells the customer

        close_escalation(session, conversation, now)
    from . import csat  # after the others: a resolution asks the customer for a rating

    csat.on_change(session, conversation, change, now)
