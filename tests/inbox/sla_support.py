"""Builders for the SLA, ladder and alert tests: a policy in force, and customers who write at
a time the test chooses."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from inbox.conversations import InboundMessage, Received, do_receive_inbound
from inbox.models import Conversation, Inbox, Notification, PolicyDocument, SlaStageRun, Team
from inbox.policy import Policy

WARSAW = ZoneInfo("Europe/Warsaw")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")

OFFICE: dict[str, Any] = {
    "name": "Office",
    "timezone": "Europe/Warsaw",
    "hours": {day: [["09:00", "12:00"], ["13:00", "17:00"]] for day in WEEKDAYS},
    "holidays_country": "PL",
}
URGENT: dict[str, Any] = {
    "name": "Urgent",
    "priorities": ["urgent"],
    "targets": {"first_response": 15, "next_response": 30, "resolution": 120},
    "calendar": "Office",
}
STANDARD: dict[str, Any] = {
    "name": "Standard",
    "targets": {"first_response": 60, "next_response": 120, "resolution": 480},
    "calendar": "Office",
    "warn_at": 0.75,
}


def warsaw(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=WARSAW)


def use_policy(session: Session, **sections: Any) -> Policy:
    """Save a policy document (SLA in Warsaw office hours unless told otherwise) as the one in
    force, the way the settings page stores it."""
    document: dict[str, Any] = {"calendars": [OFFICE], "sla": [URGENT, STANDARD], **sections}
    policy = Policy.model_validate(document)
    session.add(PolicyDocument(document=policy.model_dump(mode="json")))
    session.commit()
    return policy


def writes(
    session: Session,
    inbox: Inbox,
    at: datetime,
    text: str = "My order never arrived",
    *,
    who: str = "ann",
    team: Team | None = None,
) -> Received:
    assert inbox.id is not None
    return do_receive_inbound(
        session=session,
        inbound=InboundMessage(
            inbox_id=inbox.id,
            identifier=who,
            name=f"Ann {who.title()}",
            content=text,
            team_id=team.id if team else None,
        ),
        now=at,
    )


def reload(session: Session, conversation: Conversation) -> Conversation:
    fresh = session.get(Conversation, conversation.id, populate_existing=True)
    assert fresh is not None
    return fresh


def runs(session: Session, conversation: Conversation) -> dict[str, SlaStageRun]:
    rows = session.exec(
        select(SlaStageRun).where(SlaStageRun.conversation_id == conversation.id)
    ).all()
    return {r.stage_key: r for r in rows}


def notified(session: Session, kind: str) -> list[tuple[int, str]]:
    rows = session.exec(
        select(Notification).where(Notification.kind == kind).order_by(Notification.id)  # type: ignore[arg-type]
    ).all()
    return [(n.agent_id, n.text) for n in rows]
