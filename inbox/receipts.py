"""Provider deliveries already handled, by the provider's own id (Slack's event_id,
Telegram's update_id), so a retried webhook changes nothing.

Messages are de-duplicated on their own by `external_id`; a receipt also covers what has
none (an edit, a status) and lets a repeat skip the work.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from .clock import utcnow
from .models import ChannelReceipt

# Providers retry for minutes to a day; a week covers them all.
KEEP = timedelta(days=7)


def already_handled(session: Session, inbox_id: int, key: str) -> bool:
    return (
        session.exec(
            select(ChannelReceipt.id).where(
                ChannelReceipt.inbox_id == inbox_id, ChannelReceipt.key == key[:255]
            )
        ).first()
        is not None
    )


def remember(session: Session, inbox_id: int, key: str) -> None:
    """Record a handled delivery and commit; a concurrent twin that got there first wins."""
    session.add(ChannelReceipt(inbox_id=inbox_id, key=key[:255]))
    try:
        session.commit()
    except IntegrityError:
        session.rollback()


def forget_old_receipts(session: Session) -> int:
    result = session.execute(
        delete(ChannelReceipt).where(col(ChannelReceipt.created_at) < utcnow() - KEEP)
    )
    session.commit()
    return int(getattr(result, "rowcount", 0) or 0)
