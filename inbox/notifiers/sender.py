"""Sends pending alerts after the commit (docs/concepts/sla.md#alerts), like channels/dispatch.py
does for replies: it listens on the bus for `alert.created` and, on start, picks up whatever
is still pending. Each alert ends `sent` (with the provider's id) or `failed` (with why).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import httpx

from ..db import Database
from ..events import Event
from ..models import Alert, Escalation, EscalationStatus
from ..policy import Notifiers
from ..sla import current_policy
from . import NotifierError, NotSetUp
from .alerts import ALERT_EVENT, CHANNELS, FAILED, PENDING, SENT, pending_alert_ids
from .email import send_email
from .slack import alert_blocks, post_message
from .sms import send_sms

log = logging.getLogger("handoff.alerts")


@dataclass
class Outgoing:
    alert_id: int
    channel: str
    target: str
    text: str
    link: str
    escalation_id: int | None
    notifiers: Notifiers


# Channels already reported as not set up, by this process: a fresh install's default ladder
# names Slack and SMS, and a warning per alert would bury the log in the same sentence.
_told_not_set_up: set[str] = set()

# The escalation module writes its Slack alert rows itself; its event says when to look.
ESCALATION_EVENT = "escalation.created"


def _is_alert(event: Event) -> bool:
    return event.type in (ALERT_EVENT, ESCALATION_EVENT)


def _alert_ids(db: Database, event: Event) -> list[int]:
    if event.type == ALERT_EVENT:
        return [int(event.data["alert_id"])]
    return pending_alert_ids(db, escalation_id=int(event.data["escalation_id"]))


async def run_alert_sender(db: Database, http: httpx.AsyncClient, *, base_url: str) -> None:
    sub = db.bus.subscribe(_is_alert)
    try:
        # Subscribed first, so an alert committed meanwhile is not missed; send_alert skips
        # one already sent.
        await _send_all(db, http, pending_alert_ids(db), base_url)
        while True:
            if sub.overflowed:
                while not sub.queue.empty():
                    sub.queue.get_nowait()
                sub.overflowed = False
                await _send_all(db, http, pending_alert_ids(db), base_url)
                continue
            event = await sub.queue.get()
            await _send_all(db, http, _alert_ids(db, event), base_url)
    finally:
        db.bus.unsubscribe(sub)


async def _send_all(db: Database, http: httpx.AsyncClient, ids: list[int], base_url: str) -> None:
    for alert_id in ids:
        try:
            await send_alert(db, http, alert_id, base_url=base_url)
        except Exception:  # one bad alert must not stop the others
            log.exception("alert %s failed", alert_id)
        # One that fails at once (no Slack configured) awaits nothing of the network: a
        # burst of a ladder's alerts must not hold the event loop until the last one.
        await asyncio.sleep(0)


def _load(db: Database, alert_id: int, base_url: str) -> Outgoing | None:
    with db.session() as session:
        alert = session.get(Alert, alert_id)
        if alert is None or alert.status != PENDING or alert.channel not in CHANNELS:
            return None
        escalation = session.get(Escalation, alert.escalation_id) if alert.escalation_id else None
        # Accept is offered only while the escalation still waits for someone.
        waiting = escalation is not None and escalation.status == EscalationStatus.open
        return Outgoing(
            alert_id=alert_id,
            channel=alert.channel,
            target=alert.target,
            text=alert.text,
            link=f"{base_url.rstrip('/')}/conversations/{alert.conversation_id}"
            if alert.conversation_id
            else base_url,
            escalation_id=escalation.id if waiting and escalation else None,
            notifiers=current_policy(session).notifiers,
        )


async def deliver(out: Outgoing, http: httpx.AsyncClient) -> str:
    """Send through the alert's channel; returns the provider's reference for it."""
    headline = out.text.splitlines()[0] if out.text else "Handoff alert"
    if out.channel == "slack":
        blocks = alert_blocks(text=out.text, link=out.link, escalation_id=out.escalation_id)
        return await post_message(
            out.notifiers.slack, channel=out.target, text=out.text, blocks=blocks
        )
    if out.channel == "email":
        body = f"{out.text}\n\nOpen in Handoff: {out.link}\n"
        return await send_email(
            out.notifiers, to=out.target, subject=f"Handoff: {headline}"[:200], body=body
        )
    if out.channel == "sms":
        return await send_sms(out.notifiers, http, to=out.target, body=f"{headline} {out.link}")
    raise NotifierError(f"no way to send an alert by {out.channel!r}")


async def send_alert(
    db: Database, http: httpx.AsyncClient, alert_id: int, *, base_url: str
) -> None:
    # The database work runs in a worker thread: on SQLite a write waits while the SLA
    # timer's transaction holds the lock, and the event loop must not wait with it.
    out = await asyncio.to_thread(_load, db, alert_id, base_url)
    if out is None:
        return
    status, error, reference = SENT, None, None
    try:
        reference = await deliver(out, http)
        _told_not_set_up.discard(out.channel)  # set up since: say it again if it goes away
    except NotSetUp as exc:
        status, error = FAILED, str(exc)
        if out.channel not in _told_not_set_up:
            _told_not_set_up.add(out.channel)
            log.warning("alerts by %s are not sent, only recorded as failed: %s", out.channel, exc)
    except NotifierError as exc:
        status, error = FAILED, str(exc)
        log.warning("alert %s by %s to %s failed: %s", alert_id, out.channel, out.target, exc)
    await asyncio.to_thread(_record, db, alert_id, status, error, reference)


def _record(
    db: Database, alert_id: int, status: str, error: str | None, reference: str | None
) -> None:
    with db.session() as session:
        alert = session.get(Alert, alert_id)
        if alert is None:
            return
        alert.status = status
        alert.error = error
        alert.external_ref = (reference or "")[:255] or None
        session.add(alert)
        session.commit()
