"""The tables (docs/concepts/data-model.md). Migrations in migrations/ mirror these exactly."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from .clock import utcnow


class Role(StrEnum):
    admin = "admin"
    manager = "manager"
    agent = "agent"


class Status(StrEnum):
    open = "open"
    pending = "pending"
    snoozed = "snoozed"
    resolved = "resolved"


class Priority(StrEnum):
    low = "low"
    normal = "normal"
    high = "high"
    urgent = "urgent"


class MessageKind(StrEnum):
    incoming = "incoming"
    outgoing = "outgoing"
    note = "note"
    activity = "activity"


class Delivery(StrEnum):
    received = "received"
    pending = "pending"
    sent = "sent"
    delivered = "delivered"
    read = "read"
    failed = "failed"


CHANNELS = ("webchat", "email", "slack", "telegram", "whatsapp", "messenger", "x", "twilio", "api")


class Agent(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(index=True, unique=True, max_length=320)
    name: str = Field(max_length=200)
    role: str = Field(default=Role.agent, max_length=16)
    password_hash: str = Field(default="", max_length=200)
    skills: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    available: bool = True
    capacity: int = 10
    locale: str = Field(default="en", max_length=16)
    created_at: datetime = Field(default_factory=utcnow)


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"
    id: int | None = Field(default=None, primary_key=True)
    agent_id: int = Field(foreign_key="agent.id", index=True, ondelete="CASCADE")
    token_hash: str = Field(unique=True, max_length=64)
    label: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utcnow)


class Team(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=200)
    tier: int = 1
    skills: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class Membership(SQLModel, table=True):
    agent_id: int = Field(foreign_key="agent.id", primary_key=True, ondelete="CASCADE")
    team_id: int = Field(foreign_key="team.id", primary_key=True, ondelete="CASCADE", index=True)
    is_lead: bool = False


class Inbox(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    channel: str = Field(max_length=16)
    config: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    widget_token: str | None = Field(default=None, unique=True, max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


class InboxMember(SQLModel, table=True):
    __tablename__ = "inbox_member"
    agent_id: int = Field(foreign_key="agent.id", primary_key=True, ondelete="CASCADE")
    inbox_id: int = Field(foreign_key="inbox.id", primary_key=True, ondelete="CASCADE", index=True)


class Contact(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(default="", max_length=200)
    email: str | None = Field(default=None, index=True, max_length=320)
    phone: str | None = Field(default=None, max_length=64)
    customer_tier: str = Field(default="standard", max_length=32)
    lifetime_value: float = 0.0
    language: str | None = Field(default=None, max_length=16)
    notes: str = ""
    created_at: datetime = Field(default_factory=utcnow)


class ContactIdentity(SQLModel, table=True):
    """How one channel account knows a contact (an email address, a chat id, a visitor id)."""

    __tablename__ = "contact_identity"
    __table_args__ = (UniqueConstraint("inbox_id", "identifier"),)
    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contact.id", index=True, ondelete="CASCADE")
    inbox_id: int = Field(foreign_key="inbox.id", ondelete="CASCADE")
    identifier: str = Field(max_length=320)


class Conversation(SQLModel, table=True):
    __table_args__ = (
        Index("ix_conversation_activity", "last_activity_at", "id"),
        Index("ix_conversation_status_activity", "status", "last_activity_at", "id"),
        Index("ix_conversation_team_activity", "team_id", "last_activity_at", "id"),
        Index("ix_conversation_assignee_activity", "assignee_id", "last_activity_at", "id"),
        Index("ix_conversation_inbox_activity", "inbox_id", "last_activity_at", "id"),
        Index("ix_conversation_contact", "contact_id", "status"),
        Index("ix_conversation_snoozed", "snoozed_until"),
    )
    id: int | None = Field(default=None, primary_key=True)
    inbox_id: int = Field(foreign_key="inbox.id")
    contact_id: int = Field(foreign_key="contact.id")
    team_id: int | None = Field(default=None, foreign_key="team.id")
    tier: int = 1
    assignee_id: int | None = Field(default=None, foreign_key="agent.id")
    status: str = Field(default=Status.open, max_length=16)
    priority: str = Field(default=Priority.normal, max_length=16)
    subject: str = Field(default="", max_length=300)
    snoozed_until: datetime | None = None
    transfer_count: int = 0
    reopen_count: int = 0
    # Bumped on every change an agent should know about before replying (collision check).
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow)
    first_response_at: datetime | None = None
    last_customer_message_at: datetime | None = None
    last_agent_message_at: datetime | None = None
    resolved_at: datetime | None = None
    last_activity_at: datetime = Field(default_factory=utcnow)
    preview: str = Field(default="", max_length=300)


class Message(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("inbox_id", "external_id", name="uq_message_inbox_external"),
        Index("ix_message_conversation", "conversation_id", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id", ondelete="CASCADE")
    inbox_id: int = Field(foreign_key="inbox.id")
    kind: str = Field(max_length=16)
    sender_agent_id: int | None = Field(default=None, foreign_key="agent.id")
    content: str = ""
    external_id: str | None = Field(default=None, max_length=255)
    delivery: str = Field(default=Delivery.received, max_length=16)
    error: str | None = None
    attachments: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    edited: bool = False
    created_at: datetime = Field(default_factory=utcnow)


class Mention(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="message.id", ondelete="CASCADE")
    conversation_id: int = Field(foreign_key="conversation.id", ondelete="CASCADE", index=True)
    agent_id: int = Field(foreign_key="agent.id", index=True, ondelete="CASCADE")
    team_id: int | None = Field(default=None, foreign_key="team.id")
    created_at: datetime = Field(default_factory=utcnow)


class Notification(SQLModel, table=True):
    __table_args__ = (Index("ix_notification_agent_read", "agent_id", "read_at", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    agent_id: int = Field(foreign_key="agent.id", ondelete="CASCADE")
    kind: str = Field(max_length=32)
    conversation_id: int | None = Field(
        default=None, foreign_key="conversation.id", ondelete="CASCADE"
    )
    message_id: int | None = Field(default=None, foreign_key="message.id", ondelete="CASCADE")
    text: str = Field(default="", max_length=500)
    read_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


class ConversationRead(SQLModel, table=True):
    """Where each agent last read a conversation: the list's unread marker."""

    __tablename__ = "conversation_read"
    agent_id: int = Field(foreign_key="agent.id", primary_key=True, ondelete="CASCADE")
    conversation_id: int = Field(
        foreign_key="conversation.id", primary_key=True, ondelete="CASCADE"
    )
    read_at: datetime = Field(default_factory=utcnow)


class AuditEntry(SQLModel, table=True):
    """Append-only: the database refuses updates and deletes (see the migration's triggers)."""

    __tablename__ = "audit_log"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    actor_agent_id: int | None = Field(default=None, foreign_key="agent.id")
    actor: str = Field(default="agent", max_length=32)
    action: str = Field(max_length=64)
    conversation_id: int | None = Field(default=None, index=True)
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
