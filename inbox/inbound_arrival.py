"""A customer's message as it arrives, and who sent it (docs/concepts/conversations.md).

`InboundMessage` is what every channel hands the domain. `read_arrival` reads in one query
the inbox, the message already stored under its external_id (a retry) and the sender's contact
with its latest conversation in the inbox; `new_identity` adds a sender new to the inbox. The
lookups are Core statements built once (inbox/rows.py); inbound.py stores the message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, func
from sqlmodel import Session, select

from .models import Contact, ContactIdentity, Conversation, Inbox, Message
from .rows import insert_row, load_row, lookup, select_columns


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


# The message stored under an external_id, built once: read again when a concurrent duplicate
# lost the race to the unique index (the usual check is part of `_ARRIVAL`).
_MESSAGE_BY_EXTERNAL_ID = select(Message).where(
    Message.inbox_id == bindparam("inbox_id"), Message.external_id == bindparam("external_id")
)


# Core SELECTs run on the driver's cursor, whose rows `load_row` turns into the models: the
# ORM's query layer would cost four times as much (inbox/rows.py).
_INBOX, _MESSAGE = Inbox.__table__, Message.__table__  # type: ignore[attr-defined]


_CONTACT, _IDENTITY = Contact.__table__, ContactIdentity.__table__  # type: ignore[attr-defined]


_CONVERSATION = Conversation.__table__  # type: ignore[attr-defined]


# A contact's latest conversation in this inbox, the subquery of `_ARRIVAL` and
# `_LATEST_OF_CONTACT` (in `_ARRIVAL`, identity.contact_id is a non-null foreign key with
# ON DELETE CASCADE, so an identity always has its contact). `inbox_id + 0`: SQLite (no
# statistics) would otherwise walk ix_conversation_inbox_activity, every conversation of the
# inbox, instead of the few of this contact (ix_conversation_contact); the "+ 0" keeps the
# term out of index choice (the SQLite docs' own idiom; harmless on PostgreSQL).
_LATEST = Conversation.__table__.alias("latest")  # type: ignore[attr-defined]


def _latest_conversation_id(contact_id: Any) -> Any:
    """The id of the contact's latest conversation in the inbox `:inbox_id`, as a subquery."""
    return (
        select(func.max(_LATEST.c.id))
        .where(_LATEST.c.contact_id == contact_id, _LATEST.c.inbox_id + 0 == bindparam("inbox_id"))
        .scalar_subquery()
    )


# The oldest contact with the address (ix_contact_email holds them in id order).
_CONTACT_BY_EMAIL = lookup(
    select_columns(Contact).where(_CONTACT.c.email == bindparam("email")).order_by(_CONTACT.c.id)
)


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


def existing(session: Session, inbox_id: int, external_id: str | None) -> Message | None:
    if external_id is None:
        return None
    return session.exec(
        _MESSAGE_BY_EXTERNAL_ID, params={"inbox_id": inbox_id, "external_id": external_id}
    ).first()


@dataclass
class _Arrival:
    inbox: Inbox
    existing: Message | None  # the message already stored under this external_id
    sender: Sender | None  # None: no contact has this identity in the inbox yet


def read_arrival(session: Session, inbound: InboundMessage) -> _Arrival | None:
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


@dataclass
class Sender:
    contact: Contact
    created: bool = False
    # The contact's latest conversation in the inbox, read with the contact.
    latest: Conversation | None = None


def _known_sender(session: Session, row: Sequence[Any], *, start: int = 0) -> Sender | None:
    """The contact and its latest conversation in `row` (the contact's columns from `start`,
    then the conversation's), or None when the row has no contact (an outer join found none)."""
    contact = load_row(session, Contact, row, start=start)
    if contact is None:
        return None
    latest = load_row(session, Conversation, row, start=start + len(_CONTACT.columns))
    return Sender(contact, latest=latest)


def new_identity(session: Session, inbox: Inbox, inbound: InboundMessage) -> Sender:
    """A sender new to this inbox: the contact with their email if there is one (and the
    channel vouches for it), else a new contact; with this inbox's identity added."""
    known = None
    if inbound.email and inbound.match_email:
        row = _CONTACT_BY_EMAIL.first(session, {"email": inbound.email})
        known = load_row(session, Contact, row) if row is not None else None
    if known is not None:
        # A known contact, new to this inbox's identities: their conversation may be here all
        # the same (an agent started it, or the identity was removed).
        row = _LATEST_OF_CONTACT.first(session, {"contact_id": known.id, "inbox_id": inbox.id})
        sender = Sender(known, latest=load_row(session, Conversation, row) if row else None)
    else:
        contact = insert_row(
            session,
            Contact,
            name=inbound.name or inbound.email or inbound.identifier,
            email=inbound.email,
            phone=inbound.phone,
            language=inbound.language,
        )
        sender = Sender(contact, created=True)
    assert sender.contact.id is not None and inbox.id is not None
    insert_row(
        session,
        ContactIdentity,
        contact_id=sender.contact.id,
        inbox_id=inbox.id,
        identifier=inbound.identifier,
    )
    return sender
