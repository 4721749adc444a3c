"""Helpers the channel tests share: recorded payloads, reading back what was stored, a reply
waiting in the outbox, the app's database and events. What differs per channel (signatures,
inbox configs, provider stand-ins) stays in each channel's test module."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import Session, col, select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from channels.base import OutboundMessage, Parsed, WebhookAdapter, WebhookRequest
from channels.dispatch import load_outbound
from channels.intake import take_in
from channels.messenger import MessengerChannel
from channels.whatsapp import WhatsAppChannel
from inbox.accounts import do_create_inbox
from inbox.conversations import do_reply
from inbox.db import Database
from inbox.events import Event
from inbox.models import Agent, Conversation, Inbox, Message, MessageKind
from tests.factories import World, customer_writes
from web.state import AppState

FIXTURES = Path(__file__).parent / "fixtures"


# -- recorded payloads -------------------------------------------------------------------


def fixture_bytes(channel: str, name: str) -> bytes:
    """The file `name` under fixtures/<channel>/, as the provider sends it."""
    return (FIXTURES / channel / name).read_bytes()


def fixture_json(channel: str, name: str) -> dict[str, Any]:
    """The JSON file `name` under fixtures/<channel>/, parsed."""
    data: dict[str, Any] = json.loads(fixture_bytes(channel, name))
    return data


# -- the app behind a TestClient ---------------------------------------------------------


def app_db(client: TestClient) -> Database:
    """The app's own database handle: changes made through it reach the app's bus."""
    assert isinstance(client.app, Starlette)
    handoff: AppState = client.app.state.handoff
    return handoff.db


def app_events(client: TestClient) -> list[Event]:
    """A list that collects every event the app publishes from now on."""
    seen: list[Event] = []
    app_db(client).bus.add_enricher(seen.append)
    return seen


# -- inboxes -----------------------------------------------------------------------------


def widget_token(world: World) -> str:
    """The token in the web chat widget's URLs, of the world's web chat inbox."""
    assert world.webchat.widget_token is not None
    return world.webchat.widget_token


def add_inbox(session: Session, name: str, channel: str, config: dict[str, Any]) -> Inbox:
    """A new inbox of `channel`, committed."""
    inbox = do_create_inbox(session=session, name=name, channel=channel, config=config)
    session.commit()
    return inbox


def add_inbox_id(db: Database, name: str, channel: str, config: dict[str, Any]) -> int:
    """A new inbox of `channel`, committed in a session of its own; its id."""
    with db.session() as session:
        inbox = add_inbox(session, name, channel, config)
        assert inbox.id is not None
        return inbox.id


# -- reading back what was stored --------------------------------------------------------


def stored(db: Database, message_id: int) -> Message:
    """The message as stored now, read in a fresh session."""
    with db.session() as fresh:
        message = fresh.get(Message, message_id)
        assert message is not None
        return message


def all_messages(session: Session) -> list[Message]:
    """Every stored message, oldest first, read afresh."""
    session.expire_all()
    return list(session.exec(select(Message).order_by(col(Message.id))).all())


def messages_of(session: Session, inbox: Inbox, kind: MessageKind | None = None) -> list[Message]:
    """The inbox's messages (only those of `kind`, if given), oldest first, read afresh."""
    session.expire_all()
    query = select(Message).where(Message.inbox_id == inbox.id)
    if kind is not None:
        query = query.where(Message.kind == kind)
    return list(session.exec(query.order_by(col(Message.id))).all())


def incoming_of(db: Database, inbox_id: int) -> list[Message]:
    """The customers' messages in the inbox, oldest first, read in a fresh session and
    detached from it."""
    with db.session() as session:
        rows = messages_of(session, session.get_one(Inbox, inbox_id), MessageKind.incoming)
        for row in rows:
            session.expunge(row)
        return rows


def conversations_of(session: Session, inbox: Inbox) -> list[Conversation]:
    """The inbox's conversations, oldest first, read afresh."""
    session.expire_all()
    return list(
        session.exec(
            select(Conversation)
            .where(Conversation.inbox_id == inbox.id)
            .order_by(col(Conversation.id))
        ).all()
    )


def only(messages: list[Message]) -> Message:
    """The one message of the list (the assertion names what was there instead)."""
    assert len(messages) == 1, [m.content for m in messages]
    return messages[0]


# -- replies -----------------------------------------------------------------------------


def answer(
    session: Session,
    conversation: Conversation,
    agent: Agent,
    content: str,
    files: Sequence[dict[str, Any]] = (),
) -> int:
    """The agent replies in the conversation; the reply's id (its delivery waits in the
    outbox)."""
    message = do_reply(
        session=session, conversation=conversation, agent=agent, content=content, files=files
    )
    assert message.id is not None
    return message.id


def reply(
    session: Session, w: World, inbox: Inbox, content: str, files: Sequence[dict[str, Any]] = ()
) -> int:
    """Dana replies in the inbox's one conversation (with `files`, if any); the reply's id."""
    [conversation] = conversations_of(session, inbox)
    return answer(session, conversation, w.dana, content, files)


def parse_delivery(db: Database, adapter: WebhookAdapter, inbox_id: int, body: bytes) -> Parsed:
    """What the adapter reads from `body` posted to the inbox (its signature not checked)."""
    with db.session() as session:
        inbox = session.get_one(Inbox, inbox_id)
        session.expunge(inbox)
    request = WebhookRequest("POST", "https://example.com", "", {}, {}, body)
    return adapter.parse(request, inbox)


def reply_to_parsed(
    session: Session, db: Database, inbox_id: int, parsed: Parsed, agent: Agent, content: str
) -> int:
    """Take the parsed delivery in; the agent replies in the conversation of its first
    message; the reply's id."""
    conversation_id = take_in(db, inbox_id, parsed).received[0].conversation.id
    session.expire_all()
    conversation = session.get_one(Conversation, conversation_id)
    return answer(session, conversation, agent, content)


def outbound_reply(
    session: Session, db: Database, inbox: Inbox, customer: str, agent: Agent, content: str
) -> OutboundMessage:
    """The customer writes "Hi" to the inbox and the agent replies; the reply as the
    dispatcher hands it to the channel."""
    conversation = customer_writes(session, inbox, "Hi", who=customer).conversation
    outbound = load_outbound(db, answer(session, conversation, agent, content))
    assert outbound is not None
    return outbound


# -- email -------------------------------------------------------------------------------

EMAIL_ADDRESS = "support@acme.example"
EMAIL_SECRET = "mail-hook-secret-7"
# The Message-ID of fixtures/email/new_mail.eml.
NEW_MAIL_ID = "<CAK7p2Fw8z3+Vq1@mail.gmail.com>"


def email_inbox(session: Session, **config: object) -> Inbox:
    """An email inbox at EMAIL_ADDRESS taking webhooks signed with EMAIL_SECRET; `config`
    adds to its settings (imap, smtp)."""
    return add_inbox(
        session,
        "Acme Support",
        "email",
        {"address": EMAIL_ADDRESS, "webhook_secret": EMAIL_SECRET, **config},
    )


# -- Meta's Graph API (WhatsApp, Messenger) ----------------------------------------------


def graph_error(message: str, code: int, **extra: Any) -> bytes:
    """An error body as Graph answers it."""
    return json.dumps(
        {
            "error": {
                "message": message,
                "type": "OAuthException",
                "code": code,
                "fbtrace_id": "AbCdEfGh123",
                **extra,
            }
        }
    ).encode()


async def send_once(
    adapter: WhatsAppChannel | MessengerChannel,
    db: Database,
    message_id: int,
    timeout: float = 10.0,
) -> str | None:
    """One send of the stored reply through the adapter, waiting `timeout` seconds at most;
    the provider's id of the sent message."""
    outbound = load_outbound(db, message_id)
    assert outbound is not None
    adapter.timeout = timeout
    async with httpx.AsyncClient() as http:
        return await adapter.send(outbound, http)
