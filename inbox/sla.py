"""Placeholder until the escalation engine's sla module lands (issue 3)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from .models import Conversation


def on_change(session: Session, conversation: Conversation, change: str, now: datetime) -> None:
    return None
