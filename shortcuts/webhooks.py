"""A shortcut's outgoing webhook (docs/concepts/shortcuts.md#actions): the escalation as JSON,
POSTed after the commit, e.g. to open a Jira or Zendesk ticket.

The escalation stores a pending Alert row (channel "webhook") in its own transaction; this
sender picks it up once the escalation is committed, signs the body like the API channel
(`X-Handoff-Signature: sha256=<HMAC of the body>`, channels/api_channel.py) with the
shortcut's `webhook_secret`, and records on the row whether it went out.
"""

from __future__ import annotations

import logging
from typing import Any, cast

import httpx
from sqlalchemy import CursorResult, update
from sqlmodel import col, select

from channels.api_channel import sign
from inbox.db import Database
from inbox.events import Event
from inbox.models import Alert, Escalation, Shortcut

log = logging.getLogger("handoff.webhooks")
CHANNEL = "webhook"
TIMEOUT = 10.0


def pending_ids(db: Database) -> list[int]:
    with db.session() as session:
        rows = session.exec(
            select(Alert.id)
            .where(Alert.channel == CHANNEL, Alert.status == "pending")
            .order_by(col(Alert.id))
        ).all()
    return [i for i in rows if i is not None]


def _claim(db: Database, alert_id: int) -> tuple[str, bytes, str] | None:
    """(url, body, secret) of a pending webhook, now marked as sending; None when another
    sender took it first or it is not pending."""
    with db.session() as session:
        taken = cast(
            CursorResult[Any],
            session.execute(
                update(Alert)
                .where(col(Alert.id) == alert_id, col(Alert.status) == "pending")
                .values(status="sending")
            ),
        )
        session.commit()
        if taken.rowcount != 1:
            return None
        alert = session.get(Alert, alert_id)
        assert alert is not None
        escalation = session.get(Escalation, alert.escalation_id) if alert.escalation_id else None
        shortcut = (
            session.get(Shortcut, escalation.shortcut_id)
            if escalation and escalation.shortcut_id
            else None
        )
        secret = str((shortcut.actions if shortcut else {}).get("webhook_secret", ""))
        return alert.target, alert.text.encode(), secret


def _record(db: Database, alert_id: int, status: str, error: str | None, ref: str | None) -> None:
    with db.session() as session:
        alert = session.get(Alert, alert_id)
        if alert is not None:
            alert.status, alert.error, alert.external_ref = status, error, ref
            session.add(alert)
            session.commit()


async def send_webhook(db: Database, http: httpx.AsyncClient, alert_id: int) -> str | None:
    """POST one pending webhook; returns its new status (sent or failed), None if not ours."""
    claimed = _claim(db, alert_id)
    if claimed is None:
        return None
    url, body, secret = claimed
    try:
        response = await http.post(
            url,
            content=body,
            timeout=TIMEOUT,
            headers={"content-type": "application/json", "x-handoff-signature": sign(secret, body)},
        )
    except httpx.HTTPError as exc:
        _record(db, alert_id, "failed", str(exc) or type(exc).__name__, None)
        return "failed"
    if response.status_code >= 300:
        _record(db, alert_id, "failed", f"webhook answered {response.status_code}", None)
        return "failed"
    _record(db, alert_id, "sent", None, str(response.status_code))
    return "sent"


async def send_pending_webhooks(db: Database, http: httpx.AsyncClient) -> dict[int, str]:
    """Every pending webhook, oldest first: {alert id: sent or failed}."""
    outcome: dict[int, str] = {}
    for alert_id in pending_ids(db):
        try:
            status = await send_webhook(db, http, alert_id)
        except Exception:  # one bad send must not stop the others
            log.exception("webhook %s failed", alert_id)
            continue
        if status is not None:
            outcome[alert_id] = status
    return outcome


def _is_escalation(event: Event) -> bool:
    return event.type == "escalation.created"


async def run_webhook_sender(db: Database, http: httpx.AsyncClient) -> None:
    """Send what is pending now, then after each committed escalation. A background task of
    the app (main.py's lifespan)."""
    sub = db.bus.subscribe(_is_escalation)
    try:
        await send_pending_webhooks(db, http)
        while True:
            await sub.queue.get()
            while not sub.queue.empty():
                sub.queue.get_nowait()
            sub.overflowed = False
            await send_pending_webhooks(db, http)
    finally:
        db.bus.unsubscribe(sub)
