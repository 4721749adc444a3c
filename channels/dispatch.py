"""Sends agents' replies through their conversation's channel, after the commit.

It listens on the bus for committed outgoing messages, so nothing is sent for a reply that
was rolled back. Each send's outcome is stored on the message (sent or failed, with the
provider's error) and shown to the agent.
"""

from __future__ import annotations

import logging

import httpx
from sqlmodel import select

from inbox.conversations import do_mark_delivery
from inbox.db import Database
from inbox.events import Event
from inbox.models import Contact, ContactIdentity, Conversation, Delivery, Inbox, Message

from .base import OutboundMessage, SendFailed
from .registry import adapter_for

log = logging.getLogger("handoff.dispatch")


def _is_outgoing(event: Event) -> bool:
    return event.type == "message.created" and event.data.get("kind") == "outgoing"


def pending_ids(db: Database) -> list[int]:
    """Replies committed but not yet sent, e.g. when the process stopped mid-way."""
    with db.session() as session:
        rows = session.exec(
            select(Message.id)
            .where(Message.kind == "outgoing", Message.delivery == Delivery.pending)
            .order_by(Message.id)  # type: ignore[arg-type]
        ).all()
    return [i for i in rows if i is not None]


async def run_dispatcher(db: Database, http: httpx.AsyncClient) -> None:
    sub = db.bus.subscribe(_is_outgoing)
    try:
        # Subscribed first, so a reply committed meanwhile is not missed; deliver() skips
        # any message already sent.
        await _deliver_all(db, http, pending_ids(db))
        while True:
            if sub.overflowed:
                # Fell behind a burst: the database knows what is still pending.
                while not sub.queue.empty():
                    sub.queue.get_nowait()
                sub.overflowed = False
                await _deliver_all(db, http, pending_ids(db))
                continue
            event = await sub.queue.get()
            await _deliver_all(db, http, [int(event.data["message_id"])])
    finally:
        db.bus.unsubscribe(sub)


async def _deliver_all(db: Database, http: httpx.AsyncClient, ids: list[int]) -> None:
    for message_id in ids:
        try:
            await deliver(db, http, message_id)
        except Exception:  # one bad send must not stop the others
            log.exception("delivery of message %s failed", message_id)


def _load(db: Database, message_id: int) -> OutboundMessage | None:
    with db.session() as session:
        message = session.get(Message, message_id)
        if message is None or message.delivery != Delivery.pending:
            return None
        conversation = session.get(Conversation, message.conversation_id)
        assert conversation is not None
        inbox = session.get(Inbox, conversation.inbox_id)
        contact = session.get(Contact, conversation.contact_id)
        assert inbox is not None and contact is not None
        identifier = session.exec(
            select(ContactIdentity.identifier).where(
                ContactIdentity.contact_id == contact.id, ContactIdentity.inbox_id == inbox.id
            )
        ).first()
        return OutboundMessage(message, conversation, inbox, contact, identifier)


async def deliver(db: Database, http: httpx.AsyncClient, message_id: int) -> None:
    outbound = _load(db, message_id)
    if outbound is None:
        return
    adapter = adapter_for(outbound.inbox.channel)
    state, error = Delivery.sent, None
    if adapter is None:
        state, error = Delivery.failed, f"no adapter for channel {outbound.inbox.channel}"
    else:
        try:
            await adapter.send(outbound, http)
        except (TimeoutError, SendFailed, httpx.HTTPError) as exc:
            state, error = Delivery.failed, str(exc) or type(exc).__name__
            log.warning("send of message %s failed: %s", message_id, error)
    with db.session() as session:
        message = session.get(Message, message_id)
        if message is not None:
            do_mark_delivery(session=session, message=message, delivery=state, error=error)
