"""Escalations (docs/concepts/escalation.md): raising a conversation to another team or tier.

Interface agreed between the engine's modules; bodies land with issue 3's escalation work.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from .models import Agent, Conversation, Escalation, Shortcut, Team


def do_escalate(
    *,
    session: Session,
    conversation: Conversation,
    actor: Agent | None,
    trigger: str,
    brief: dict[str, Any],
    to_team: Team | None = None,
    tier_up: int = 0,
    skill: str | None = None,
    reason: str = "",
    shortcut: Shortcut | None = None,
    now: datetime | None = None,
) -> Escalation:
    """Escalate in one transaction and commit: functional (to_team or skill) or hierarchical
    (tier_up). Writes the record, moves the conversation, pins the brief, mentions the target
    team in a note, tells the customer, starts the acknowledge-or-bounce clock."""
    raise NotImplementedError


def do_accept(
    *, session: Session, escalation: Escalation, agent: Agent, now: datetime | None = None
) -> Escalation:
    """Someone in the target team takes the escalation: stops the bounce clock and the ladder,
    assigns them, tells the customer a specialist has it. Commits."""
    raise NotImplementedError
