"""Conversations and their messages (docs/concepts/conversations.md).

Every channel, the UI and the API call these functions; they change the database, write the
audit log and queue events that go out after the commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from . import lifecycle, outbox
from .access import audience_of, can_see_conversation, scope_for
from .attachments import check_files, store_attachments
from .audit import record
from .clock import utcnow
from .db import queue_event
from .errors import Conflict, InvalidInput, NotFound
from .events import Audience, conversation_changed, message_created, notification_created
from .html import clean_html
from .models import (
    MAX_MESSAGE_CONTENT,
    Agent,
    Contact,
    ContactIdentity,
    Conversation,
    Delivery,
    Inbox,
    Membership,
    Message,
    MessageKind,
    Notification,
    Priority,
    Status,
    Team,
)
from .rows import insert_row, load_row, lookup, select_columns, write_changes

# A customer who writes again within this window reopens their resolved conversation
# (and counts a reopen); later, a new conversation starts.
REOPEN_WINDOW = timedelta(days=14)
MAX_CONTENT = MAX_MESSAGE_CONTENT  # the public name channels import


@dataclass
class InboundMessage:
    """A customer's message as any channel hands it to the domain."""

    inbox_id: int
    identifier: str
    content: str
    name: str = ""
    email: str | None = None
    phone: str | None = None
    external_id: str | None = None
    team_id: int | None = None
    language: str | None = None
    attachments: list[dict[str, Any]] = field(default_factory=list)
    subject: str = ""
    # False when nobody checked the address (the widget's pre-chat form): a visitor who types
    # someone else's email must not join that person's contact and read their conversations.
    match_email: bool = True
    # Threaded channels (email, Slack threads): external_ids this message answers, nearest
    # first (In-Reply-To, then References). The first one found in this inbox picks the
    # conversation, whoever's it is: the provider put the message in that thread.
    thread_refs: list[str] = field(default_factory=list)
    # A message that threads to nothing starts a conversation of its own (a new email, a new
    # Slack thread) instead of joining the contact's latest one (chat channels).
    starts_thread: bool = False
    # A ticket tag in an email subject ("[#123]"): honoured only when the sender is that
    # conversation's contact, so a guessed number reads nobody else's case.
    ticket_conversation_id: int | None = None
    # An auto-reply or bounce: stored and flagged, never answered, never reopens anything.
    auto_submitted: bool = False
    # Email: the HTML body (sanitized here before it is stored) and the quoted history that
    # the thread shows folded; `content` holds the new words as text.
    html: str | None = None
    quoted: str = ""
    # The inbox's channel as the sender knows it (the API channel's route): another kind of
    # inbox refuses the message. Checked here, on the row the duplicate check reads anyway.
    expected_channel: str | None = None


@dataclass
class Received:
    message: Message
    conversation: Conversation
    contact: Contact
    duplicate: bool = False
    new_conversation: bool = False
    reopened: bool = False


# The inbound path's lookups, built once: building a statement costs about as much as running
# it on SQLite, and every customer message runs four of them.
_MESSAGE_BY_EXTERNAL_ID = select(Message).where(
    Message.inbox_id == bindparam("inbox_id"), Message.external_id == bindparam("external_id")
)
# Core SELECTs run on the driver's cursor, whose rows `load_row` turns into the models: the
# ORM's query layer would cost four times as much (inbox/rows.py).
_INBOX, _MESSAGE = Inbox.__table__, Message.__table__  # type: ignore[attr-defined]
_CONTACT, _IDENTITY = Contact.__table__, ContactIdentity.__table__  # type: ignore[attr-defined]
_CONVERSATION = Conversation.__table__  # type: ignore[attr-defined]
# The identity, its contact and the contact's latest conversation in this inbox, in one query
# (identity.contact_id is a non-null foreign key with ON DELETE CASCADE, so an identity always
# has its contact). `inbox_id + 0`: SQLite (no statistics) would otherwise walk
# ix_conversation_inbox_activity, every conversation of the inbox, instead of the few of this
# contact (ix_conversation_contact); the "+ 0" keeps the term out of index choice (the SQLite
# docs' own idiom; harmless on PostgreSQL).
_LATEST = Conversation.__table__.alias("latest")  # type: ignore[attr-defined]


def _latest_conversation_id(contact_id: Any) -> Any:
    """The id of the contact's latest conversation in the inbox `:inbox_id`, as a subquery."""
    return (
        select(func.max(_LATEST.c.id))
        .where(_LATEST.c.contact_id == contact_id, _LATEST.c.inbox_id + 0 == bindparam("inbox_id"))
        .scalar_subquery()
    )


_CONTACT_AND_LATEST = lookup(
    select_columns(Contact, Conversation)
    .select_from(
        _IDENTITY.join(_CONTACT, _IDENTITY.c.contact_id == _CONTACT.c.id).outerjoin(
            _CONVERSATION,
            _CONVERSATION.c.id == _latest_conversation_id(_CONTACT.c.id),
        )
    )
    .where(
        _IDENTITY.c.inbox_id == bindparam("inbox_id"),
        _IDENTITY.c.identifier == bindparam("identifier"),
    )
)
_CONTACT_BY_EMAIL = select(Contact).where(Contact.email == bindparam("email"))
_LATEST_OF_CONTACT = lookup(
    select_columns(Conversation).where(
        _CONVERSATION.c.id == _latest_conversation_id(bindparam("contact_id"))
    )
)


# Everything a customer message needs before it is stored, in one query: the inbox, the
# message already stored under this external_id (a retry), the sender's contact by identity
# and that contact's latest conversation in the inbox. Each outer join finds one row at most
# (a unique index or a primary key), so the query returns one row, or none without the inbox.
_ARRIVAL = lookup(
    select_columns(Inbox, Message, Contact, Conversation)
    .select_from(
        _INBOX.outerjoin(
            _MESSAGE,
            (_MESSAGE.c.inbox_id == _INBOX.c.id)
            & (_MESSAGE.c.external_id == bindparam("external_id")),
        )
        .outerjoin(
            _IDENTITY,
            (_IDENTITY.c.inbox_id == _INBOX.c.id)
            & (_IDENTITY.c.identifier == bindparam("identifier")),
        )
        .outerjoin(_CONTACT, _CONTACT.c.id == _IDENTITY.c.contact_id)
        .outerjoin(_CONVERSATION, _CONVERSATION.c.id == _latest_conversation_id(_CONTACT.c.id))
    )
    .where(_INBOX.c.id == bindparam("inbox_id"))
)
_CONTACT_AT = len(_INBOX.columns) + len(_MESSAGE.columns)


def check_content(content: str, *, allow_empty: bool = False) -> str:
    content = content.strip()
    if not content and not allow_empty:
        raise InvalidInput("content is empty", {"field": "content"})
    if len(content) > MAX_CONTENT:
        raise InvalidInput(f"content is longer than {MAX_CONTENT} characters", {"field": "content"})
    return content


def _existing(session: Session, inbox_id: int, external_id: str | None) -> Message | None:
    if external_id is None:
        return None
    return session.exec(
        _MESSAGE_BY_EXTERNAL_ID, params={"inbox_id": inbox_id, "external_id": external_id}
    ).first()


@dataclass
class _Arrival:
    inbox: Inbox
    existing: Message | None  # the message already stored under this external_id
    sender: _Sender | None  # None: no contact has this identity in the inbox yet


def _arrival(session: Session, inbound: InboundMessage) -> _Arrival | None:
    """What `_ARRIVAL` reads, as models attached to the session; None for no such inbox."""
    row = _ARRIVAL.first(
        session,
        {
            "inbox_id": inbound.inbox_id,
            "external_id": inbound.external_id,
            "identifier": inbound.identifier,
        },
    )
    if row is None:
        return None
    inbox = load_row(session, Inbox, row)
    assert inbox is not None
    existing = load_row(session, Message, row, start=len(_INBOX.columns))
    return _Arrival(inbox, existing, _known_sender(session, row, start=_CONTACT_AT))


def _duplicate(session: Session, message: Message) -> Received:
    conversation = session.get(Conversation, message.conversation_id)
    assert conversation is not None
    contact = session.get(Contact, conversation.contact_id)
    assert contact is not None
    return Received(message, conversation, contact, duplicate=True)


def do_receive_inbound(
    *, session: Session, inbound: InboundMessage, now: datetime | None = None
) -> Received:
    """Store a customer's message once, in the right conversation, and commit.

    A repeated `external_id` returns the stored message (concurrent duplicates included:
    the unique index decides, and the loser reads the winner's row).
    """
    now = now or utcnow()
    content = check_content(inbound.content) if not inbound.attachments else inbound.content
    # The lookups below are Core statements, which do not flush what the caller left pending
    # the way ORM queries do; with nothing pending this costs nothing.
    session.flush()
    arrival = _arrival(session, inbound)
    if arrival is None:
        raise NotFound("No such inbox")
    inbox, found = arrival.inbox, arrival.existing
    if inbound.expected_channel not in (None, inbox.channel):
        raise InvalidInput(
            f"inbox {inbox.id} is a {inbox.channel} inbox; only {inbound.expected_channel} "
            "inboxes take messages here",
            {"field": "channel"},
        )
    if found is not None:
        return _duplicate(session, found)
    try:
        sender = arrival.sender or _new_identity(session, inbox, inbound)
        received = _store_inbound(session, inbox, sender, inbound, content, now)
        session.commit()
    except IntegrityError:
        session.rollback()
        found = _existing(session, inbox.id or 0, inbound.external_id)
        if found is None:
            raise
        return _duplicate(session, found)
    return received


def find_or_create_contact(session: Session, inbox: Inbox, inbound: InboundMessage) -> Contact:
    return _contact_for(session, inbox, inbound).contact


@dataclass
class _Sender:
    contact: Contact
    created: bool = False
    # The contact's latest conversation in the inbox, read with the contact.
    latest: Conversation | None = None


def _contact_for(session: Session, inbox: Inbox, inbound: InboundMessage) -> _Sender:
    """The sender's contact, whether it was created just now, and its latest conversation."""
    row = _CONTACT_AND_LATEST.first(
        session, {"inbox_id": inbox.id, "identifier": inbound.identifier}
    )
    known = _known_sender(session, row) if row is not None else None
    return known or _new_identity(session, inbox, inbound)


def _known_sender(session: Session, row: Sequence[Any], *, start: int = 0) -> _Sender | None:
    """The contact and its latest conversation in `row` (columns as `_CONTACT_AND_LATEST`'s
    from `start`), or None when the row has no contact (an outer join that found none)."""
    contact = load_row(session, Contact, row, start=start)
    if contact is None:
        return None
    latest = load_row(session, Conversation, row, start=start + len(_CONTACT.columns))
    return _Sender(contact, latest=latest)


def _new_identity(session: Session, inbox: Inbox, inbound: InboundMessage) -> _Sender:
    """A sender new to this inbox: the contact with their email if there is one (and the
    channel vouches for it), else a new contact; with this inbox's identity added."""
    known = None
    if inbound.email and inbound.match_email:
        known = session.exec(_CONTACT_BY_EMAIL, params={"email": inbound.email}).first()
    if known is not None:
        # A known contact, new to this inbox's identities: their conversation may be here all
        # the same (an agent started it, or the identity was removed).
        row = _LATEST_OF_CONTACT.first(session, {"contact_id": known.id, "inbox_id": inbox.id})
        sender = _Sender(known, latest=load_row(session, Conversation, row) if row else None)
    else:
        contact = insert_row(
            session,
            Contact,
            name=inbound.name or inbound.email or inbound.identifier,
            email=inbound.email,
            phone=inbound.phone,
            language=inbound.language,
        )
        sender = _Sender(contact, created=True)
    assert sender.contact.id is not None and inbox.id is not None
    insert_row(
        session,
        ContactIdentity,
        contact_id=sender.contact.id,
        inbox_id=inbox.id,
        identifier=inbound.identifier,
    )
    return sender


def _thread_of(
    session: Session, inbox: Inbox, sender: _Sender, inbound: InboundMessage
) -> Conversation | None:
    """The conversation this message belongs to, or None for a new one."""
    refs = inbound.thread_refs[:50]
    if refs:
        # One query for every reference; the nearest known one picks the conversation.
        found = dict(
            session.exec(
                select(Message.external_id, Message.conversation_id).where(
                    Message.inbox_id == inbox.id, col(Message.external_id).in_(refs)
                )
            ).all()
        )
        for ref in refs:
            if ref in found:
                return session.get(Conversation, found[ref])
    if inbound.ticket_conversation_id is not None:
        tagged = session.get(Conversation, inbound.ticket_conversation_id)
        if (
            tagged is not None
            and tagged.contact_id == sender.contact.id
            and tagged.inbox_id == inbox.id
        ):
            return tagged
    if inbound.starts_thread or sender.created:
        # A contact inserted in this transaction has no conversation yet: no other
        # transaction can have seen its id.
        return None
    return sender.latest


def _store_inbound(
    session: Session,
    inbox: Inbox,
    sender: _Sender,
    inbound: InboundMessage,
    content: str,
    now: datetime,
) -> Received:
    contact = sender.contact
    conversation = _thread_of(session, inbox, sender, inbound)
    if inbound.auto_submitted and conversation is not None:
        return _store_auto_submitted(session, conversation, contact, inbound, content, now)
    new = reopened = False
    if conversation is None or (
        conversation.status == Status.resolved
        and (conversation.resolved_at or now) < now - REOPEN_WINDOW
    ):
        conversation = _open_conversation(session, inbox, contact, inbound, now)
        new = True
    elif conversation.status == Status.resolved:
        conversation.status = Status.open
        conversation.reopen_count += 1
        conversation.resolved_at = None
        reopened = True
        _activity(session, conversation, "Reopened by the customer's new message", now)
        _release_if_departed(session, conversation, now)
        record(
            session,
            "conversation.reopened",
            actor_kind="customer",
            conversation_id=conversation.id,
            details={"reopen_count": conversation.reopen_count},
        )
    elif conversation.status in (Status.snoozed, Status.pending):
        was = conversation.status
        conversation.status = Status.open
        conversation.snoozed_until = None
        _activity(session, conversation, f"Back to open: the customer wrote while {was}", now)
    assert conversation.id is not None and inbox.id is not None
    message = insert_row(
        session,
        Message,
        conversation_id=conversation.id,
        inbox_id=inbox.id,
        kind=MessageKind.incoming,
        content=content,
        external_id=inbound.external_id,
        delivery=Delivery.received,
        created_at=now,
        auto_submitted=inbound.auto_submitted,
        html=clean_html(inbound.html),
        quoted=inbound.quoted[:MAX_CONTENT],
    )
    if inbound.attachments:
        session.flush()
        message.attachments = store_attachments(session, message, inbound.attachments)
    conversation.last_customer_message_at = now
    conversation.last_activity_at = now
    conversation.preview = content[:300]
    conversation.version += 1
    lifecycle.changed(
        session, conversation, "created" if new else "reopened" if reopened else "message", now
    )
    write_changes(session, conversation)
    session.flush()  # whatever the engine added (a timer, an activity line)
    assert message.id is not None
    # The list row shows the contact's name and the inbox's channel: both are in hand.
    loaded = (message, conversation, contact, inbox)
    queue_event(
        session,
        message_created(
            message_id=message.id,
            conversation_id=conversation.id,
            kind=message.kind,
            audience=audience_of(conversation, customer=True),
            loaded=loaded,
        ),
    )
    queue_event(
        session,
        conversation_changed(
            conversation_id=conversation.id,
            audience=audience_of(conversation),
            change="reopened" if reopened else "message",
            created=new,
            loaded=loaded,
        ),
    )
    return Received(message, conversation, contact, new_conversation=new, reopened=reopened)


def _store_auto_submitted(
    session: Session,
    conversation: Conversation,
    contact: Contact,
    inbound: InboundMessage,
    content: str,
    now: datetime,
) -> Received:
    """An out-of-office or a bounce joins its thread for the record, and changes nothing:
    no reopen, no SLA clock, no bot, no status update (which would answer a robot)."""
    assert conversation.id is not None
    message = Message(
        conversation_id=conversation.id,
        inbox_id=conversation.inbox_id,
        kind=MessageKind.incoming,
        content=content,
        external_id=inbound.external_id,
        delivery=Delivery.received,
        created_at=now,
        auto_submitted=True,
        html=clean_html(inbound.html),
        quoted=inbound.quoted[:MAX_CONTENT],
    )
    session.add(message)
    session.flush()
    if inbound.attachments:
        message.attachments = store_attachments(session, message, inbound.attachments)
    assert message.id is not None
    queue_event(
        session,
        message_created(
            message_id=message.id,
            conversation_id=conversation.id,
            kind=message.kind,
            audience=audience_of(conversation),
        ),
    )
    return Received(message, conversation, contact)


def _open_conversation(
    session: Session, inbox: Inbox, contact: Contact, inbound: InboundMessage, now: datetime
) -> Conversation:
    team = session.get(Team, inbound.team_id) if inbound.team_id else None
    assert inbox.id is not None and contact.id is not None
    conversation = insert_row(
        session,
        Conversation,
        inbox_id=inbox.id,
        contact_id=contact.id,
        team_id=team.id if team else None,
        tier=team.tier if team else 1,
        subject=inbound.subject[:300],
        created_at=now,
        last_activity_at=now,
    )
    record(
        session,
        "conversation.created",
        actor_kind="customer",
        conversation_id=conversation.id,
        details={"inbox_id": inbox.id, "team_id": conversation.team_id},
        at_once=True,
    )
    return conversation


def add_message(
    session: Session,
    conversation: Conversation,
    *,
    kind: str,
    content: str,
    now: datetime,
    sender_agent_id: int | None = None,
    delivery: str = Delivery.sent,
    automatic: bool = False,
    pinned: bool = False,
) -> Message:
    """Add one message to the thread and announce it after the commit; does not commit.

    The customer's widget hears of incoming and outgoing messages only; an outgoing one left
    `pending` is sent through the conversation's channel by the dispatcher.
    """
    assert conversation.id is not None
    message = Message(
        conversation_id=conversation.id,
        inbox_id=conversation.inbox_id,
        kind=kind,
        sender_agent_id=sender_agent_id,
        content=content,
        delivery=delivery,
        automatic=automatic,
        pinned=pinned,
        created_at=now,
    )
    session.add(message)
    session.flush()
    assert message.id is not None
    if kind == MessageKind.outgoing and delivery == Delivery.pending:
        outbox.enqueue(session, message, now)
    customer = kind in (MessageKind.incoming, MessageKind.outgoing)
    queue_event(
        session,
        message_created(
            message_id=message.id,
            conversation_id=conversation.id,
            kind=message.kind,
            audience=audience_of(conversation, customer=customer),
        ),
    )
    return message


def _activity(session: Session, conversation: Conversation, text: str, now: datetime) -> Message:
    """A line in the thread that records a change; agents see it, customers never do."""
    return add_message(session, conversation, kind=MessageKind.activity, content=text, now=now)


def _touch(
    session: Session,
    conversation: Conversation,
    change: str,
    now: datetime,
    extra_audience: Audience | None = None,
) -> None:
    conversation.version += 1
    conversation.last_activity_at = now
    session.add(conversation)
    assert conversation.id is not None
    lifecycle.changed(session, conversation, change, now)
    queue_event(
        session,
        conversation_changed(
            conversation_id=conversation.id, audience=audience_of(conversation), change=change
        ),
    )
    if extra_audience is not None:
        queue_event(
            session,
            conversation_changed(
                conversation_id=conversation.id, audience=extra_audience, change=change
            ),
        )


def check_version(conversation: Conversation, expected_version: int | None) -> None:
    """Collision check: refuse when the conversation changed since the agent loaded it."""
    if expected_version is not None and expected_version != conversation.version:
        raise Conflict(
            "This conversation changed since you opened it. Review the new activity, then send.",
            {"version": conversation.version},
        )


def do_reply(
    *,
    session: Session,
    conversation: Conversation,
    agent: Agent,
    content: str,
    expected_version: int | None = None,
    files: Sequence[dict[str, Any]] = (),
    now: datetime | None = None,
) -> Message:
    """An agent's reply to the customer, sent through the conversation's own channel.

    `files`: `{"filename", "content_type", "data": bytes}` each; with files the text may be
    empty. Whether the channel can carry them is the caller's question (channels/registry).
    """
    now = now or utcnow()
    check_files(files)
    content = check_content(content, allow_empty=bool(files))
    check_version(conversation, expected_version)
    assert conversation.id is not None
    message = agent_reply(
        session, conversation, agent, content, now, audit="message.replied", files=files
    )
    session.commit()
    return message


def agent_reply(
    session: Session,
    conversation: Conversation,
    agent: Agent,
    content: str,
    now: datetime,
    *,
    audit: str,
    files: Sequence[dict[str, Any]] = (),
) -> Message:
    """An agent's words to the customer: sent through the channel, counted as a response,
    and the conversation taken if nobody had it. Does not commit."""
    message = add_message(
        session,
        conversation,
        kind=MessageKind.outgoing,
        content=content,
        now=now,
        sender_agent_id=agent.id,
        delivery=Delivery.pending,
    )
    if files:
        message.attachments = store_attachments(session, message, list(files))
        session.add(message)
    if conversation.first_response_at is None:
        conversation.first_response_at = now
    conversation.last_agent_message_at = now
    names = ", ".join(str(f.get("filename") or "attachment") for f in files)
    conversation.preview = (content or f"📎 {names}")[:300]
    if conversation.assignee_id is None:
        _assign(session, conversation, agent, actor=agent, now=now)
    record(
        session,
        audit,
        actor=agent,
        conversation_id=conversation.id,
        details={"message_id": message.id},
    )
    _touch(session, conversation, "reply", now)
    return message


def notify(
    session: Session,
    *,
    agent_id: int,
    kind: str,
    text: str,
    conversation_id: int | None,
    message_id: int | None = None,
) -> Notification:
    note = Notification(
        agent_id=agent_id,
        kind=kind,
        text=text[:500],
        conversation_id=conversation_id,
        message_id=message_id,
    )
    session.add(note)
    session.flush()
    assert note.id is not None
    queue_event(
        session,
        notification_created(notification_id=note.id, agent_id=agent_id, kind=kind, text=note.text),
    )
    return note


def _assign(
    session: Session,
    conversation: Conversation,
    assignee: Agent | None,
    *,
    actor: Agent | None,
    now: datetime,
) -> None:
    conversation.assignee_id = assignee.id if assignee else None
    if assignee is not None and actor is not None and actor.id == assignee.id:
        text = f"{assignee.name} took this conversation"
    elif assignee is None:
        text = "Unassigned" + (f" by {actor.name}" if actor else "")
    else:
        text = f"Assigned to {assignee.name}" + (f" by {actor.name}" if actor else "")
    _activity(session, conversation, text, now)
    record(
        session,
        "conversation.assigned",
        actor=actor,
        conversation_id=conversation.id,
        details={"assignee_id": conversation.assignee_id},
    )
    if (
        assignee is not None
        and assignee.id is not None
        and (actor is None or actor.id != assignee.id)
    ):
        notify(
            session,
            agent_id=assignee.id,
            kind="assignment",
            text=f"{actor.name if actor else 'Handoff'} assigned you conversation "
            f"#{conversation.id}",
            conversation_id=conversation.id,
        )


def _release_if_departed(session: Session, conversation: Conversation, now: datetime) -> None:
    """A reopened conversation whose assignee was deactivated after it was resolved goes back
    to its team: nobody would answer it otherwise (the customer's reopen routes it)."""
    if conversation.assignee_id is None:
        return
    assignee = session.get(Agent, conversation.assignee_id)
    if assignee is not None and assignee.deactivated_at is not None:
        _assign(session, conversation, None, actor=None, now=now)


def do_assign(
    *,
    session: Session,
    conversation: Conversation,
    assignee: Agent | None,
    actor: Agent | None,
    now: datetime | None = None,
) -> Conversation:
    now = now or utcnow()
    if (assignee.id if assignee else None) == conversation.assignee_id:
        return conversation
    if assignee is not None and assignee.deactivated_at is not None:
        # Someone who left (accounts.do_deactivate_agent) takes no work, whoever asks.
        raise InvalidInput(f"{assignee.name} is deactivated", {"field": "assignee_id"})
    if assignee is not None and not can_see_conversation(
        scope_for(session, assignee), conversation
    ):
        raise InvalidInput(
            f"{assignee.name} cannot see this conversation: move it to their team first",
            {"field": "assignee_id"},
        )
    _assign(session, conversation, assignee, actor=actor, now=now)
    _touch(session, conversation, "assignee", now)
    session.commit()
    return conversation


def do_change_team(
    *,
    session: Session,
    conversation: Conversation,
    team: Team | None,
    actor: Agent | None,
    now: datetime | None = None,
) -> Conversation:
    """Move to another team. The first team is not a transfer; every change after it is."""
    now = now or utcnow()
    new_id = team.id if team else None
    if new_id == conversation.team_id:
        return conversation
    before = audience_of(conversation)
    if conversation.team_id is not None:
        conversation.transfer_count += 1
    conversation.team_id = new_id
    if team is not None:
        conversation.tier = team.tier
    if conversation.assignee_id is not None and new_id is not None:
        member = session.get(Membership, (conversation.assignee_id, new_id))
        if member is None:
            previous = session.get(Agent, conversation.assignee_id)
            conversation.assignee_id = None
            _activity(
                session,
                conversation,
                f"Unassigned {previous.name if previous else ''}: not in the new team",
                now,
            )
    _activity(
        session,
        conversation,
        f"Moved to {team.name if team else 'no team'}" + (f" by {actor.name}" if actor else ""),
        now,
    )
    record(
        session,
        "conversation.team_changed",
        actor=actor,
        conversation_id=conversation.id,
        details={"team_id": new_id, "transfer_count": conversation.transfer_count},
    )
    _touch(session, conversation, "team", now, extra_audience=before)
    session.commit()
    return conversation


def do_set_status(
    *,
    session: Session,
    conversation: Conversation,
    status: str,
    actor: Agent | None,
    snooze_until: datetime | None = None,
    now: datetime | None = None,
) -> Conversation:
    now = now or utcnow()
    if status not in {s.value for s in Status}:
        raise InvalidInput("status must be open, pending, snoozed or resolved", {"field": "status"})
    if status == Status.snoozed and (snooze_until is None or snooze_until <= now):
        raise InvalidInput("snooze_until must be in the future", {"field": "snooze_until"})
    if status == conversation.status and status != Status.snoozed:
        return conversation
    previous = conversation.status
    conversation.status = status
    conversation.snoozed_until = snooze_until if status == Status.snoozed else None
    if status == Status.resolved:
        conversation.resolved_at = now
    elif previous == Status.resolved:
        conversation.resolved_at = None
        conversation.reopen_count += 1
        _release_if_departed(session, conversation, now)
    label = (
        f"Snoozed until {snooze_until:%Y-%m-%d %H:%M} UTC"
        if snooze_until and status == Status.snoozed
        else f"Marked {status}"
    )
    _activity(session, conversation, label + (f" by {actor.name}" if actor else ""), now)
    record(
        session,
        "conversation.status",
        actor=actor,
        conversation_id=conversation.id,
        details={"from": previous, "to": status},
    )
    _touch(session, conversation, "status", now)
    session.commit()
    return conversation


def do_set_priority(
    *,
    session: Session,
    conversation: Conversation,
    priority: str,
    actor: Agent | None,
    now: datetime | None = None,
) -> Conversation:
    now = now or utcnow()
    if priority not in {p.value for p in Priority}:
        raise InvalidInput("priority must be low, normal, high or urgent", {"field": "priority"})
    if priority == conversation.priority:
        return conversation
    conversation.priority = priority
    _activity(
        session,
        conversation,
        f"Priority set to {priority}" + (f" by {actor.name}" if actor else ""),
        now,
    )
    record(
        session,
        "conversation.priority",
        actor=actor,
        conversation_id=conversation.id,
        details={"priority": priority},
    )
    _touch(session, conversation, "priority", now)
    session.commit()
    return conversation


def do_wake_snoozed(*, session: Session, now: datetime | None = None) -> list[int]:
    """Reopen every snoozed conversation whose time has come; returns their ids."""
    now = now or utcnow()
    due = session.exec(
        select(Conversation).where(
            Conversation.status == Status.snoozed, col(Conversation.snoozed_until) <= now
        )
    ).all()
    for conversation in due:
        conversation.status = Status.open
        conversation.snoozed_until = None
        _activity(session, conversation, "Snooze ended: back to open", now)
        record(
            session, "conversation.unsnoozed", actor_kind="system", conversation_id=conversation.id
        )
        _touch(session, conversation, "status", now)
    session.commit()
    return [c.id for c in due if c.id is not None]


def next_snooze_due(session: Session) -> datetime | None:
    return session.exec(
        select(Conversation.snoozed_until)
        .where(Conversation.status == Status.snoozed, col(Conversation.snoozed_until).is_not(None))
        .order_by(col(Conversation.snoozed_until))
    ).first()
