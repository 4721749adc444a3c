"""The tables (docs/concepts/data-model.md). Migrations in migrations/ mirror these exactly."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, LargeBinary, UniqueConstraint, text
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


# Longest text a message may hold: anything longer is refused (or cut, for an edit).
MAX_MESSAGE_CONTENT = 65_536

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
    last_assigned_at: datetime | None = None
    # Each browser session remembers the value it signed in under; raising it ends them all
    # (accounts.do_end_sessions), since a signed cookie cannot be taken back.
    session_epoch: int = 0
    # Set when an admin deactivates the agent (accounts.do_deactivate_agent): the row stays so
    # their name still shows on the messages, audit entries and reports they are part of.
    deactivated_at: datetime | None = None


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"
    id: int | None = Field(default=None, primary_key=True)
    agent_id: int = Field(foreign_key="agent.id", index=True, ondelete="CASCADE")
    token_hash: str = Field(unique=True, max_length=64)
    label: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utcnow)
    # None: until revoked. Past it, the token is refused (accounts.token_holder).
    expires_at: datetime | None = None


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
        # Routing counts open conversations per agent without reading the rows.
        Index("ix_conversation_assignee_status", "assignee_id", "status"),
        Index("ix_conversation_inbox_activity", "inbox_id", "last_activity_at", "id"),
        Index("ix_conversation_contact", "contact_id", "status"),
        Index("ix_conversation_snoozed", "snoozed_until"),
        Index("ix_conversation_next_timer", "next_timer_at"),
        Index("ix_conversation_escalation", "escalation_id"),
        Index("ix_conversation_queue", "team_id", "queued_at"),
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
    # Escalation engine: the open escalation, SLA due times and the next timer to act on.
    escalation_id: int | None = Field(default=None)
    sla_policy: str | None = Field(default=None, max_length=120)
    first_response_due_at: datetime | None = None
    next_response_due_at: datetime | None = None
    resolution_due_at: datetime | None = None
    sla_paused_at: datetime | None = None
    next_timer_at: datetime | None = None
    queued_at: datetime | None = None
    severity: str = Field(default="normal", max_length=16)
    # SLA clock (migration 0003): when the current cycle began (created or reopened), when the
    # soonest running target turns amber, since when the customer waits for a next response.
    sla_started_at: datetime | None = None
    sla_warn_at: datetime | None = None
    next_response_since: datetime | None = None


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
    # Sent by Handoff itself (a status update, the bot), not typed by an agent.
    automatic: bool = False
    pinned: bool = False
    # An auto-reply or a bounce (Auto-Submitted, Precedence, a DSN): stored, never answered.
    auto_submitted: bool = False
    # An email's HTML body, already sanitized (nh3) when stored; `content` keeps its text.
    html: str | None = None
    # Earlier messages the customer's mail quoted, shown folded under the new words.
    quoted: str = ""


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


class SavedReply(SQLModel, table=True):
    """A canned answer agents insert by typing /shortcut in the reply box
    (docs/concepts/saved-replies.md)."""

    __tablename__ = "saved_reply"
    __table_args__ = (
        UniqueConstraint("team_id", "shortcut", name="uq_saved_reply_team_shortcut"),
        # A unique constraint counts NULLs as distinct, so the shared replies' (no team) get
        # their own index; inbox/saved_replies.py checks both before the database does.
        Index(
            "uq_saved_reply_shared_shortcut",
            "shortcut",
            unique=True,
            sqlite_where=text("team_id IS NULL"),
            postgresql_where=text("team_id IS NULL"),
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    shortcut: str = Field(max_length=40)
    title: str = Field(max_length=120)
    content: str = ""
    # None: shared with everyone.
    team_id: int | None = Field(default=None, foreign_key="team.id", ondelete="CASCADE")
    created_by_id: int | None = Field(default=None, foreign_key="agent.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


# --- The escalation engine (docs/concepts/escalation.md) ---


class EscalationKind(StrEnum):
    functional = "functional"
    hierarchical = "hierarchical"


class EscalationStatus(StrEnum):
    open = "open"  # waiting for someone in the target team to accept
    accepted = "accepted"
    bounced = "bounced"  # nobody accepted in time: it went a tier up (a new record)
    returned = "returned"  # handed back down
    resolved = "resolved"


class Trigger(StrEnum):
    agent = "agent"
    rule = "rule"
    sla = "sla"
    bot = "bot"
    customer = "customer"


class PolicyDocument(SQLModel, table=True):
    """The one escalation policy; each save is a new row, so history is kept."""

    __tablename__ = "policy_document"
    id: int | None = Field(default=None, primary_key=True)
    document: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    saved_by_agent_id: int | None = Field(default=None, foreign_key="agent.id")
    saved_at: datetime = Field(default_factory=utcnow)


class Shortcut(SQLModel, table=True):
    """An escalation button: label, target, the brief to ask for, and extra actions."""

    id: int | None = Field(default=None, primary_key=True)
    label: str = Field(max_length=120)
    # {"team_id": 3} or {"tier_up": 1} or {"skill": "billing"}
    target: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # [{"name": "problem", "label": "Problem", "required": true}, ...]
    brief_fields: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    # {"priority": "high", "label": "refund", "customer_template": "escalated",
    #  "slack_channel": "C123", "webhook_url": "https://..."}
    actions: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    position: int = 0
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)


class Escalation(SQLModel, table=True):
    __table_args__ = (
        Index("ix_escalation_conversation", "conversation_id", "id"),
        Index("ix_escalation_status_created", "status", "created_at"),
        Index("ix_escalation_bounce", "bounce_due_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id", ondelete="CASCADE")
    kind: str = Field(max_length=16)
    status: str = Field(default=EscalationStatus.open, max_length=16)
    trigger: str = Field(default=Trigger.agent, max_length=16)
    reason: str = Field(default="", max_length=500)
    brief: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    shortcut_id: int | None = Field(default=None, foreign_key="shortcut.id", ondelete="SET NULL")
    agent_id: int | None = Field(default=None, foreign_key="agent.id")
    from_team_id: int | None = Field(default=None, foreign_key="team.id")
    to_team_id: int | None = Field(default=None, foreign_key="team.id")
    from_tier: int = 1
    to_tier: int = 1
    created_at: datetime = Field(default_factory=utcnow)
    bounce_due_at: datetime | None = None
    accepted_by_id: int | None = Field(default=None, foreign_key="agent.id")
    accepted_at: datetime | None = None
    closed_at: datetime | None = None
    parent_id: int | None = Field(default=None, foreign_key="escalation.id")


class SlaStageRun(SQLModel, table=True):
    """A stage that fired; the unique key makes each fire exactly once, across restarts."""

    __tablename__ = "sla_stage_run"
    __table_args__ = (UniqueConstraint("conversation_id", "stage_key", name="uq_stage_once"),)
    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id", ondelete="CASCADE")
    stage_key: str = Field(max_length=120)
    due_at: datetime
    fired_at: datetime = Field(default_factory=utcnow)
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Alert(SQLModel, table=True):
    """One alert sent to a person by Slack, email or SMS, and what came of it."""

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int | None = Field(
        default=None, foreign_key="conversation.id", ondelete="CASCADE", index=True
    )
    escalation_id: int | None = Field(default=None, foreign_key="escalation.id")
    stage_key: str = Field(default="", max_length=120)
    channel: str = Field(max_length=16)
    target: str = Field(default="", max_length=320)
    text: str = ""
    status: str = Field(default="pending", max_length=16)
    error: str | None = None
    external_ref: str | None = Field(default=None, max_length=255)
    created_at: datetime = Field(default_factory=utcnow)


class CsatResponse(SQLModel, table=True):
    __tablename__ = "csat_response"
    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id", ondelete="CASCADE", index=True)
    token: str = Field(unique=True, max_length=64)
    rating: int | None = None
    comment: str = ""
    escalated: bool = False
    requested_at: datetime = Field(default_factory=utcnow)
    answered_at: datetime | None = None


class CustomerUpdate(SQLModel, table=True):
    """An automatic status message sent to the customer, kept for throttling and the report."""

    __tablename__ = "customer_update"
    __table_args__ = (Index("ix_customer_update_conversation", "conversation_id", "sent_at"),)
    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id", ondelete="CASCADE")
    kind: str = Field(max_length=32)
    message_id: int | None = Field(default=None, foreign_key="message.id")
    sent_at: datetime = Field(default_factory=utcnow)


class Attachment(SQLModel, table=True):
    """A file that came with a customer's message or an agent's reply; its bytes live here,
    within size limits."""

    id: int | None = Field(default=None, primary_key=True)
    inbox_id: int = Field(foreign_key="inbox.id")
    message_id: int | None = Field(
        default=None, foreign_key="message.id", ondelete="CASCADE", index=True
    )
    filename: str = Field(default="", max_length=255)
    content_type: str = Field(default="application/octet-stream", max_length=255)
    size: int = 0
    data: bytes = Field(default=b"", sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class OutboxState(StrEnum):
    pending = "pending"
    sent = "sent"
    failed = "failed"


class OutboxEntry(SQLModel, table=True):
    """A message waiting to go out through its channel; a background worker sends it."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "state", "next_attempt_at"),)
    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="message.id", ondelete="CASCADE", unique=True)
    inbox_id: int = Field(foreign_key="inbox.id")
    state: str = Field(default=OutboxState.pending, max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow)
    last_error: str | None = None
    # [name, provider id] of each part of a reply that went out before an attempt failed
    # ("text 1", "file 2"...): the next attempt, in any process, resumes after them.
    parts_sent: list[list[str]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class DeliveryAttempt(SQLModel, table=True):
    """One try at sending an outbox entry, kept so nobody has to guess what happened."""

    __tablename__ = "delivery_attempt"
    id: int | None = Field(default=None, primary_key=True)
    outbox_id: int = Field(foreign_key="outbox.id", ondelete="CASCADE", index=True)
    number: int
    started_at: datetime = Field(default_factory=utcnow)
    duration_ms: int = 0
    ok: bool = False
    error: str | None = None
    retry_after_seconds: float | None = None


class ChannelReceipt(SQLModel, table=True):
    """A provider delivery already handled (Slack event_id, Telegram update_id)."""

    __tablename__ = "channel_receipt"
    __table_args__ = (UniqueConstraint("inbox_id", "key", name="uq_receipt_inbox_key"),)
    id: int | None = Field(default=None, primary_key=True)
    inbox_id: int = Field(foreign_key="inbox.id", ondelete="CASCADE")
    key: str = Field(max_length=255)
    created_at: datetime = Field(default_factory=utcnow, index=True)


class MailCursor(SQLModel, table=True):
    """How far IMAP polling has read one folder: a UIDVALIDITY change starts it over."""

    __tablename__ = "mail_cursor"
    __table_args__ = (UniqueConstraint("inbox_id", "folder", name="uq_mail_cursor"),)
    id: int | None = Field(default=None, primary_key=True)
    inbox_id: int = Field(foreign_key="inbox.id", ondelete="CASCADE")
    folder: str = Field(max_length=255)
    uidvalidity: int = 0
    last_uid: int = 0
    updated_at: datetime = Field(default_factory=utcnow)
