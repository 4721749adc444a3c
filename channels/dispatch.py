"""The outbox worker: sends what customers should receive, through each conversation's
channel, with retries (inbox/outbox.py keeps the state).

It wakes when a reply is committed (the bus) or when the next retry falls due, and at least
every few seconds, so an entry written by another process is not forgotten. Messages of one
conversation go out one after the other, in order; conversations go in parallel, so one slow
provider holds up nobody else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict

import httpx
from sqlmodel import col, select

from inbox.clock import utcnow
from inbox.db import Database
from inbox.events import Event
from inbox.models import (
    Attachment,
    Contact,
    ContactIdentity,
    Conversation,
    Delivery,
    Inbox,
    Message,
)
from inbox.outbox import (
    Claimed,
    RetryPolicy,
    claim_due,
    entry_for,
    next_due,
    pending_message_ids,
    record_attempt,
)

from .base import OutboundMessage, SendFailed
from .registry import adapter_for

log = logging.getLogger("handoff.dispatch")

# Longest sleep between looks at the outbox when nothing announced a reply.
IDLE_POLL = 5.0
PARALLEL_CONVERSATIONS = 8


def _is_outgoing(event: Event) -> bool:
    return event.type == "message.created" and event.data.get("kind") == "outgoing"


def pending_ids(db: Database) -> list[int]:
    """Messages waiting in the outbox, e.g. when the process stopped mid-way."""
    with db.session() as session:
        return pending_message_ids(session)


async def run_dispatcher(
    db: Database, http: httpx.AsyncClient, policy: RetryPolicy | None = None
) -> None:
    policy = policy or RetryPolicy()
    sub = db.bus.subscribe(_is_outgoing)
    try:
        while True:
            # Announcements only wake us; the outbox table says what is due.
            while not sub.queue.empty():
                sub.queue.get_nowait()
            sub.overflowed = False
            with db.session() as session:
                claimed = claim_due(session, policy)
            if claimed:
                await _send_claimed(db, http, policy, claimed)
                continue
            with db.session() as session:
                due = next_due(session)
            wait = IDLE_POLL
            if due is not None:
                wait = min(IDLE_POLL, max(0.0, (due - utcnow()).total_seconds()))
            # asyncio.timeout, not wait_for, which can swallow a cancel on 3.11 (scheduler.py).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await sub.queue.get()
    finally:
        db.bus.unsubscribe(sub)


async def _send_claimed(
    db: Database, http: httpx.AsyncClient, policy: RetryPolicy, claimed: list[Claimed]
) -> None:
    by_conversation: dict[int, list[int]] = defaultdict(list)
    for item in claimed:
        by_conversation[item.conversation_id].append(item.message_id)
    gate = asyncio.Semaphore(PARALLEL_CONVERSATIONS)

    async def in_order(message_ids: list[int]) -> None:
        async with gate:
            for message_id in message_ids:
                try:
                    await deliver(db, http, message_id, policy)
                except Exception:  # one bad send must not stop the others
                    log.exception("delivery of message %s failed", message_id)

    await asyncio.gather(*(in_order(ids) for ids in by_conversation.values()))


def load_outbound(db: Database, message_id: int) -> OutboundMessage | None:
    with db.session() as session:
        message = session.get(Message, message_id)
        entry = entry_for(session, message_id)
        if message is None or entry is None or entry.state != "pending":
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
        earlier = session.exec(
            select(Message.external_id, Message.kind)
            .where(
                Message.conversation_id == conversation.id,
                col(Message.id) < message_id,
                col(Message.external_id).is_not(None),
                col(Message.kind).in_(["incoming", "outgoing"]),
            )
            .order_by(col(Message.id))
        ).all()
        thread = [ext for ext, _ in earlier if ext]
        reply_to = next((ext for ext, kind in reversed(earlier) if kind == "incoming"), None)
        files = [
            {
                "id": f.id,
                "filename": f.filename,
                "content_type": f.content_type,
                "size": f.size,
                "data": f.data,
            }
            for f in session.exec(
                select(Attachment)
                .where(Attachment.message_id == message_id)
                .order_by(col(Attachment.id))
            ).all()
        ]
        for row in (message, conversation, inbox, contact):
            session.expunge(row)
        return OutboundMessage(
            message,
            conversation,
            inbox,
            contact,
            identifier,
            thread=thread,
            reply_to=reply_to,
            files=files,
            parts_sent=entry.parts_sent,
        )


async def deliver(
    db: Database, http: httpx.AsyncClient, message_id: int, policy: RetryPolicy | None = None
) -> None:
    """One attempt at sending one message, recorded whatever comes of it."""
    policy = policy or RetryPolicy()
    outbound = load_outbound(db, message_id)
    if outbound is None:
        return
    adapter = adapter_for(outbound.inbox.channel)
    error: str | None = None
    permanent = False
    retry_after: float | None = None
    provider_id: str | None = None
    parts_sent: list[list[str]] | None = None
    started = time.monotonic()
    if adapter is None:
        error, permanent = f"no adapter for channel {outbound.inbox.channel}", True
    else:
        try:
            provider_id = await adapter.send(outbound, http)
        except SendFailed as exc:
            error, permanent, retry_after = str(exc), exc.permanent, exc.retry_after
            parts_sent = exc.parts_sent
        except (TimeoutError, httpx.HTTPError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}".rstrip(": ")
        except Exception as exc:  # a fault of ours; logged in full, retried like an outage
            log.exception("adapter %s crashed sending message %s", adapter.name, message_id)
            error = f"{type(exc).__name__}: {exc}".rstrip(": ")
    if error is not None:
        log.warning("send of message %s failed: %s", message_id, error)
    with db.session() as session:
        record_attempt(
            session,
            message_id,
            policy,
            error=error,
            permanent=permanent,
            retry_after=retry_after,
            provider_id=provider_id,
            parts_sent=parts_sent,
            duration_ms=int((time.monotonic() - started) * 1000),
        )


__all__ = ["Delivery", "deliver", "pending_ids", "run_dispatcher"]
