"""The append-only audit log (docs/concepts/audit.md): who did what, when, to which conversation."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from .clock import utcnow
from .models import Agent, AuditEntry
from .rows import insert_row


def record(
    session: Session,
    action: str,
    *,
    actor: Agent | None = None,
    actor_kind: str | None = None,
    conversation_id: int | None = None,
    details: dict[str, Any] | None = None,
    at_once: bool = False,
) -> AuditEntry:
    """Log one action. `at_once` INSERTs it now rather than at the next flush: the message
    hot path's way (inbox/rows.py), for a conversation already in the database."""
    values: dict[str, Any] = {
        "at": utcnow(),
        "actor_agent_id": actor.id if actor else None,
        "actor": actor_kind or ("agent" if actor else "system"),
        "action": action,
        "conversation_id": conversation_id,
        "details": details or {},
    }
    if at_once:
        return insert_row(session, AuditEntry, **values)
    entry = AuditEntry(**values)
    session.add(entry)
    return entry
