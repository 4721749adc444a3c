"""Provider deliveries already handled are remembered for a week, then forgotten."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from inbox.clock import utcnow
from inbox.models import ChannelReceipt
from inbox.receipts import already_handled, forget_old_receipts, remember
from tests.factories import build_world


def test_a_delivery_is_handled_once_per_inbox_and_forgotten_after_a_week(
    session: Session,
) -> None:
    w = build_world(session)
    assert w.api.id is not None and w.webchat.id is not None
    assert not already_handled(session, w.api.id, "event-1")
    remember(session, w.api.id, "event-1")
    remember(session, w.api.id, "event-1")  # a racing twin: no error, still one
    assert already_handled(session, w.api.id, "event-1")
    assert not already_handled(session, w.webchat.id, "event-1"), "ids are per inbox"

    session.add(
        ChannelReceipt(inbox_id=w.api.id, key="old", created_at=utcnow() - timedelta(days=8))
    )
    session.commit()
    assert forget_old_receipts(session) == 1
    assert not already_handled(session, w.api.id, "old")
    assert already_handled(session, w.api.id, "event-1")
