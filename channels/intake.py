"""Hands what an adapter parsed to the domain, one commit per message.

Shared by every channel's webhook, the SMTP listener and IMAP polling, so de-duplication and
error handling are the same everywhere. A message the domain refuses (empty, too long) is
logged and skipped rather than failing the whole delivery: the provider would only retry it
forever.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from inbox.conversations import Received, do_receive_inbound
from inbox.db import Database
from inbox.delivery import do_edit_inbound, do_update_deliveries_until, do_update_delivery
from inbox.errors import InvalidInput
from inbox.receipts import already_handled, remember

from .base import Parsed

log = logging.getLogger("handoff.intake")


@dataclass
class Outcome:
    received: list[Received] = field(default_factory=list)
    stored: int = 0
    duplicates: int = 0
    skipped: int = 0
    deliveries: int = 0
    edits: int = 0
    repeat: bool = False


def take_in(db: Database, inbox_id: int, parsed: Parsed) -> Outcome:
    outcome = Outcome()
    with db.session() as session:
        if parsed.receipt and already_handled(session, inbox_id, parsed.receipt):
            outcome.repeat = True
            return outcome
        for inbound in parsed.messages:
            try:
                received = do_receive_inbound(session=session, inbound=inbound)
            except InvalidInput as exc:
                session.rollback()
                log.warning("inbox %s: message %s skipped: %s", inbox_id, inbound.external_id, exc)
                outcome.skipped += 1
                continue
            outcome.received.append(received)
            if received.duplicate:
                outcome.duplicates += 1
            else:
                outcome.stored += 1
        for edit in parsed.edits:
            outcome.edits += do_edit_inbound(
                session=session,
                inbox_id=inbox_id,
                external_id=edit.external_id,
                content=edit.content,
            )
        for update in parsed.deliveries:
            outcome.deliveries += do_update_delivery(
                session=session,
                inbox_id=inbox_id,
                external_id=update.external_id,
                state=update.state,
                error=update.error,
            )
        for watermark in parsed.up_to:
            outcome.deliveries += do_update_deliveries_until(
                session=session,
                inbox_id=inbox_id,
                identifier=watermark.identifier,
                state=watermark.state,
                until=watermark.until,
            )
        if parsed.receipt:
            remember(session, inbox_id, parsed.receipt)
    return outcome
