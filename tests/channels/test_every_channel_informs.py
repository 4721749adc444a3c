"""The escalation engine's customer messages need nothing from a channel: on every provider
channel, the "a specialist is on your case" update and the CSAT question after the
resolution leave through the outbox and reach the provider's API in its own format."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from email import message_from_bytes, policy
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SmtpSession
from sqlmodel import Session, col, select

from channels.dispatch import deliver, pending_ids
from inbox.accounts import do_create_inbox
from inbox.conversations import InboundMessage, do_receive_inbound, do_set_status
from inbox.db import Database
from inbox.escalation import do_escalate
from inbox.models import Message
from tests.inbox.test_escalation import BRIEF, T0, company
from tests.standins import Received, standin_server

UPDATE = "A specialist from our Billing team is on your case."


def _provider_answer(path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
    """What each provider answers a successful send with (a new message id each time)."""
    answer = _first_answer(path)
    return answer[0], answer[1].replace(b"77", str(next(_IDS)).encode())


_IDS = itertools.count(100)


def _first_answer(path: str) -> tuple[int, bytes]:
    if path.endswith("/sendMessage"):
        return 200, b'{"ok": true, "result": {"message_id": 77, "chat": {"id": 5}}}'
    if path.endswith("/messages") and "graph" not in path and "dm_conversations" in path:
        return 201, b'{"data": {"dm_conversation_id": "1-2", "dm_event_id": "77"}}'
    if path.endswith("/me/messages") or "/me/messages?" in path:
        return 200, b'{"recipient_id": "5", "message_id": "m_77"}'
    if path.endswith("/messages"):
        return 200, b'{"messaging_product": "whatsapp", "messages": [{"id": "wamid.77"}]}'
    if path.endswith("Messages.json"):
        return 201, b'{"sid": "SM77", "status": "queued"}'
    if "chat.postMessage" in path:
        return 200, b'{"ok": true, "channel": "C1", "ts": "1700000001.77"}'
    return 404, b"{}"


def _text_of(request: Received) -> str:
    """The words sent, read the way each provider's API takes them."""
    if "Messages.json" in request.path:
        return parse_qs(request.body.decode())["Body"][0]
    if "chat.postMessage" in request.path:
        body = request.body.decode()
        fields = (
            json.loads(body)
            if body.startswith("{")
            else {k: v[0] for k, v in parse_qs(body).items()}
        )
        return str(fields["text"])
    data: dict[str, Any] = json.loads(request.body)
    if "message" in data and isinstance(data["message"], dict):  # Messenger
        return str(data["message"]["text"])
    text = data.get("text")
    return str(text["body"] if isinstance(text, dict) else text)


# channel -> (config pointing at the stand-in, the customer as that provider names them)
Setup = Callable[[str], tuple[dict[str, Any], InboundMessage]]


def _inbound(identifier: str, **extra: Any) -> InboundMessage:
    return InboundMessage(inbox_id=0, identifier=identifier, content="I was charged twice", **extra)


SETUPS: dict[str, Setup] = {
    "telegram": lambda base: (
        {"bot_token": "1:A", "secret_token": "s", "api_base": base},
        _inbound("5", external_id="5:1"),
    ),
    "whatsapp": lambda base: (
        {"access_token": "t", "app_secret": "s", "phone_number_id": "100", "api_base": base},
        _inbound("15551234567", phone="+15551234567", external_id="wamid.1"),
    ),
    "messenger": lambda base: (
        {"page_access_token": "t", "app_secret": "s", "page_id": "9", "api_base": base},
        _inbound("5", external_id="m_1"),
    ),
    "x": lambda base: (
        {"consumer_secret": "s", "access_token": "t", "account_id": "1", "api_base": base},
        _inbound("5", external_id="dm-1"),
    ),
    "twilio": lambda base: (
        {"account_sid": "AC1", "auth_token": "t", "phone_number": "+15550000000", "api_base": base},
        _inbound("+15551234567", phone="+15551234567", external_id="SM1"),
    ),
    "slack": lambda base: (
        {"bot_token": "xoxb-1", "signing_secret": "s", "channel_id": "C1", "api_base": base + "/"},
        _inbound("U5", external_id="1700000000.000100", starts_thread=True),
    ),
}


async def _escalate_and_resolve(
    session: Session, db: Database, channel: str, config: dict[str, Any], inbound: InboundMessage
) -> None:
    w, _, _ = company(session)
    assert w.dana.id is not None
    inbox = do_create_inbox(session=session, name=channel, channel=channel, config=config)
    session.commit()
    assert inbox.id is not None
    inbound.inbox_id, inbound.team_id = inbox.id, w.support.id
    conversation = do_receive_inbound(session=session, inbound=inbound).conversation
    do_escalate(
        session=session,
        conversation=conversation,
        actor=w.dana,
        trigger="agent",
        brief=BRIEF,
        to_team=w.billing,
        now=T0,
    )
    do_set_status(session=session, conversation=conversation, status="resolved", actor=w.bob)
    async with httpx.AsyncClient() as http:
        for message_id in pending_ids(db):
            await deliver(db, http, message_id)


@pytest.mark.parametrize("channel", sorted(SETUPS))
async def test_status_update_and_csat_reach_the_customer(
    session: Session, db: Database, channel: str
) -> None:
    with standin_server() as provider:
        provider.check = _provider_answer
        config, inbound = SETUPS[channel](provider.url)
        await _escalate_and_resolve(session, db, channel, config, inbound)
    texts = [_text_of(r) for r in provider.received]
    assert len(texts) == 3, texts
    assert texts[0] == UPDATE
    assert texts[1] == "Case #1 is resolved."
    assert "http://127.0.0.1:8000/csat/" in texts[2], "a whole link, that any channel carries"
    sent = session.exec(
        select(Message).where(col(Message.automatic).is_(True)).order_by(col(Message.id))
    ).all()
    assert [m.delivery for m in sent] == ["sent", "sent", "sent"]
    assert all(m.external_id for m in sent), "kept for delivery receipts"


class _Sink:
    def __init__(self) -> None:
        self.mails: list[Any] = []

    async def handle_DATA(self, server: SMTP, session: SmtpSession, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        self.mails.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@asynccontextmanager
async def _smtp_sink() -> AsyncIterator[tuple[_Sink, int]]:
    sink = _Sink()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(sink), host="127.0.0.1", port=0)
    try:
        yield sink, server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def test_by_email_too_marked_as_automatic(session: Session, db: Database) -> None:
    async with _smtp_sink() as (sink, port):
        config = {
            "address": "support@acme.example",
            "smtp": {"host": "127.0.0.1", "port": port, "starttls": False},
        }
        inbound = _inbound(
            "ann@example.org",
            email="ann@example.org",
            subject="Charged twice",
            external_id="<ann-1@example.org>",
            starts_thread=True,
        )
        await _escalate_and_resolve(session, db, "email", config, inbound)
    assert len(sink.mails) == 3
    update, _, survey = sink.mails
    assert update.get_body(("plain",)).get_content().strip() == UPDATE
    assert "http://127.0.0.1:8000/csat/" in survey.get_body(("plain",)).get_content()
    for mail in sink.mails:
        # Other robots (out-of-office replies) must not answer these.
        assert mail["Auto-Submitted"] == "auto-replied"
        assert mail["In-Reply-To"] == "<ann-1@example.org>"
