"""The durable outbox: every message for a customer waits here until its channel took it.

An entry is written in the same transaction as its message, so a reply that commits is sent
and one that rolls back is not. A worker (channels/dispatch.py) claims due entries, tries the
provider, and records each attempt here: success marks the message sent; a transient failure
waits with exponential backoff (or the provider's Retry-After) and tries again; a permanent
failure, or too many, marks the message failed with the provider's words, and an agent can
send it again. Nothing is dropped silently.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from .audit import record
from .clock import utcnow
from .delivery import announce_message
from .errors import InvalidInput
from .models import (
    Agent,
    Delivery,
    DeliveryAttempt,
    Message,
    MessageKind,
    OutboxEntry,
    OutboxState,
)

log = logging.getLogger("handoff.outbox")


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    # First wait; each later one doubles, up to `longest` (2 s, 4 s, 8 s ... 10 min).
    first_delay: float = 2.0
    longest: float = 600.0
    # How long a claimed entry is left alone before another worker may take it (a worker
    # that died mid-send).
    lease: float = 60.0

    def delay(self, attempts: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(max(retry_after, self.first_delay), self.longest)
        wait = min(self.first_delay * 2.0 ** (attempts - 1), self.longest)
        # Jitter, so a provider that was down is not hit by every waiting message at once.
        return float(wait * random.uniform(0.8, 1.2))


def enqueue(session: Session, message: Message, now: datetime | None = None) -> None:
    """Queue a flushed outgoing message for sending; does not commit."""
    assert message.id is not None
    session.add(
        OutboxEntry(
            message_id=message.id, inbox_id=message.inbox_id, next_attempt_at=now or utcnow()
        )
    )


@dataclass(frozen=True)
class Claimed:
    message_id: int
    conversation_id: int


def claim_due(
    session: Session, policy: RetryPolicy, *, now: datetime | None = None, limit: int = 50
) -> list[Claimed]:
    """Take the entries due now, so no other worker sends them meanwhile; commits."""
    now = now or utcnow()
    rows = session.exec(
        select(OutboxEntry, Message.conversation_id)
        .join(Message, col(Message.id) == OutboxEntry.message_id)
        .where(OutboxEntry.state == OutboxState.pending, col(OutboxEntry.next_attempt_at) <= now)
        .order_by(col(OutboxEntry.next_attempt_at), col(OutboxEntry.id))
        .limit(limit)
    ).all()
    claimed: list[Claimed] = []
    lease_until = now + timedelta(seconds=policy.lease)
    for entry, conversation_id in rows:
        # Compare-and-set on the due time: of two workers, one wins each entry.
        result = session.execute(
            update(OutboxEntry)
            .where(
                col(OutboxEntry.id) == entry.id,
                col(OutboxEntry.state) == OutboxState.pending,
                col(OutboxEntry.next_attempt_at) == entry.next_attempt_at,
            )
            .values(next_attempt_at=lease_until)
        )
        if getattr(result, "rowcount", 0) == 1:
            claimed.append(Claimed(entry.message_id, conversation_id))
    session.commit()
    return claimed


def next_due(session: Session) -> datetime | None:
    return session.exec(
        select(OutboxEntry.next_attempt_at)
        .where(OutboxEntry.state == OutboxState.pending)
        .order_by(col(OutboxEntry.next_attempt_at))
        .limit(1)
    ).first()


def pending_message_ids(session: Session) -> list[int]:
    return list(
        session.exec(
            select(OutboxEntry.message_id)
            .where(OutboxEntry.state == OutboxState.pending)
            .order_by(col(OutboxEntry.id))
        ).all()
    )


def entry_for(session: Session, message_id: int) -> OutboxEntry | None:
    return session.exec(select(OutboxEntry).where(OutboxEntry.message_id == message_id)).first()


def record_attempt(
    session: Session,
    message_id: int,
    policy: RetryPolicy,
    *,
    error: str | None,
    permanent: bool = False,
    retry_after: float | None = None,
    provider_id: str | None = None,
    parts_sent: list[list[str]] | None = None,
    duration_ms: int = 0,
    now: datetime | None = None,
) -> str:
    """Write down one attempt and what follows from it; commits. Returns the outbox state.

    `parts_sent`: what a failed attempt got out before it failed (None: it cannot say, so
    what was recorded before stands). Kept through a permanent failure too, so that an
    agent's "send again" resumes rather than repeat what the customer has."""
    now = now or utcnow()
    entry = entry_for(session, message_id)
    message = session.get(Message, message_id)
    if entry is None or message is None or entry.state != OutboxState.pending:
        return entry.state if entry else OutboxState.failed
    assert entry.id is not None
    entry.attempts += 1
    entry.updated_at = now
    session.add(
        DeliveryAttempt(
            outbox_id=entry.id,
            number=entry.attempts,
            started_at=now,
            duration_ms=duration_ms,
            ok=error is None,
            error=error,
            retry_after_seconds=retry_after,
        )
    )
    if error is not None and parts_sent is not None:
        entry.parts_sent = parts_sent
    if error is None:
        entry.state, entry.last_error, entry.parts_sent = OutboxState.sent, None, []
        if message.delivery == Delivery.pending:
            message.delivery = Delivery.sent
        message.error = None
        if provider_id and message.external_id is None:
            message.external_id = _unused_external_id(session, message, provider_id[:255])
    elif permanent or entry.attempts >= policy.max_attempts:
        entry.state, entry.last_error = OutboxState.failed, error
        message.delivery, message.error = Delivery.failed, error
    else:
        wait = policy.delay(entry.attempts, retry_after)
        entry.next_attempt_at = now + timedelta(seconds=wait)
        entry.last_error = error
        message.error = f"Attempt {entry.attempts} failed ({error}); trying again {_in(wait)}"
    session.add(entry)
    session.add(message)
    announce_message(session, message)
    session.commit()
    return entry.state


def _unused_external_id(session: Session, message: Message, provider_id: str) -> str | None:
    """The provider's id, unless another message of the inbox has it already (a provider
    that reuses ids): then none, since failing here would leave the entry pending and send
    the message a second time."""
    with session.no_autoflush:
        taken = session.exec(
            select(Message.id).where(
                Message.inbox_id == message.inbox_id, Message.external_id == provider_id
            )
        ).first()
    if taken is not None:
        log.warning(
            "message %s: provider id %r is already message %s's; not kept",
            message.id,
            provider_id,
            taken,
        )
        return None
    return provider_id


def _in(seconds: float) -> str:
    if seconds < 1:
        return "in a moment"
    if seconds < 120:
        return f"in {seconds:.0f} s"
    return f"in {seconds / 60:.0f} min"


def do_retry_delivery(
    *, session: Session, message: Message, actor: Agent, now: datetime | None = None
) -> Message:
    """An agent sends a failed message again: it goes back in the outbox, due now; commits."""
    now = now or utcnow()
    if message.kind != MessageKind.outgoing or message.delivery != Delivery.failed:
        raise InvalidInput("Only a message that failed to send can be sent again")
    entry = entry_for(session, message.id or 0)
    if entry is None:
        enqueue(session, message, now)
    else:
        entry.state, entry.next_attempt_at, entry.updated_at = OutboxState.pending, now, now
        # A fresh round of attempts; the earlier ones stay on record.
        entry.attempts = 0
        session.add(entry)
    message.delivery, message.error = Delivery.pending, None
    session.add(message)
    record(
        session,
        "message.retried",
        actor=actor,
        conversation_id=message.conversation_id,
        details={"message_id": message.id},
    )
    announce_message(session, message)
    session.commit()
    return message


def attempts_of(session: Session, message_id: int) -> list[DeliveryAttempt]:
    entry = entry_for(session, message_id)
    if entry is None:
        return []
    return list(
        session.exec(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.outbox_id == entry.id)
            .order_by(col(DeliveryAttempt.id))
        ).all()
    )
