"""Agents' replies sent as mail to an aiosmtpd sink standing in for the inbox's SMTP server
(docs/channels/email.md)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword
from aiosmtpd.smtp import Session as SmtpSession
from sqlmodel import Session

from channels import dispatch
from channels.base import Parsed, SendFailed
from channels.email import outbound as email_outbound
from channels.email.adapter import EmailChannel
from channels.email.outbound import reply_subject
from channels.email.parse import parse_email
from channels.intake import take_in
from inbox.conversations import do_reply
from inbox.db import Database
from inbox.models import Conversation, Inbox, Message
from tests.channels.helpers import NEW_MAIL_ID, email_inbox, fixture_bytes
from tests.factories import World, build_world

USER, PASSWORD = "support@acme.example", "smtp-pw-1"


@dataclass
class Sink:
    port: int = 0
    mails: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    rcpt_answer: str | None = None
    data_answer: str = "250 2.0.0 queued"
    delay: float = 0.0


class SinkHandler:
    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    async def handle_RCPT(
        self, server: SMTP, session: SmtpSession, envelope: Envelope, address: str, options: Any
    ) -> str:
        if self.sink.rcpt_answer:
            return self.sink.rcpt_answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: SmtpSession, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        mail = message_from_bytes(raw, policy=policy.default)
        assert isinstance(mail, EmailMessage)
        self.sink.mails.append(mail)
        self.sink.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos)))
        if self.sink.delay:
            await asyncio.sleep(self.sink.delay)
        return self.sink.data_answer


@asynccontextmanager
async def smtp_sink() -> AsyncIterator[Sink]:
    """A mail server that checks the login the way the inbox's provider would."""
    sink = Sink()
    handler = SinkHandler(sink)
    loop = asyncio.get_running_loop()

    def authenticate(
        server: SMTP, session: SmtpSession, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            USER.encode(),
            PASSWORD.encode(),
        )
        if ok:
            sink.logins.append(USER)
        return AuthResult(success=ok)

    def protocol() -> SMTP:
        return SMTP(
            handler, authenticator=authenticate, auth_require_tls=False, hostname="sink", loop=loop
        )

    server = await loop.create_server(protocol, host="127.0.0.1", port=0)
    sink.port = server.sockets[0].getsockname()[1]
    try:
        yield sink
    finally:
        server.close()
        await server.wait_closed()


def smtp_config(port: int) -> dict[str, Any]:
    return {
        "host": "127.0.0.1",
        "port": port,
        "username": USER,
        "password": PASSWORD,
        "starttls": False,
    }


def customer_mails(db: Database, inbox: Inbox, raw: bytes) -> Message:
    assert inbox.id is not None
    [received] = take_in(db, inbox.id, Parsed(messages=[parse_email(raw, inbox.id)])).received
    return received.message


def answered(session: Session, db: Database, port: int) -> tuple[World, Inbox, Conversation]:
    w = build_world(session)
    inbox = email_inbox(session, smtp=smtp_config(port))
    first = customer_mails(db, inbox, fixture_bytes("email", "new_mail.eml"))
    conversation = session.get(Conversation, first.conversation_id)
    assert conversation is not None
    return w, inbox, conversation


async def test_a_reply_is_mailed_in_the_customers_thread_and_ends_sent(
    session: Session, db: Database
) -> None:
    async with smtp_sink() as sink:
        w, inbox, conversation = answered(session, db, sink.port)
        reply = do_reply(
            session=session,
            conversation=conversation,
            agent=w.dana,
            content="Your lamp ships today.",
        )
        assert reply.id is not None
        async with httpx.AsyncClient() as http:
            await dispatch.deliver(db, http, reply.id)
    [mail] = sink.mails
    assert sink.logins == [USER]
    assert sink.envelopes == [("support@acme.example", ["lena.park@example.org"])]
    assert mail["From"] == "Acme Support <support@acme.example>"
    assert mail["To"] == "lena.park@example.org"
    assert mail["Subject"] == f"Re: Where is my order 4471? [#{conversation.id}]"
    assert mail["In-Reply-To"] == NEW_MAIL_ID
    assert mail["References"] == NEW_MAIL_ID
    assert mail["Auto-Submitted"] is None
    assert mail.get_content().strip() == "Your lamp ships today."
    message_id = str(mail["Message-ID"])
    assert message_id.startswith(f"<handoff.{reply.id}.") and message_id.endswith("@acme.example>")
    with db.session() as fresh:
        sent = fresh.get(Message, reply.id)
        assert sent is not None and sent.delivery == "sent" and sent.external_id == message_id
    # The customer answers our mail from a client that keeps only In-Reply-To.
    answer = fixture_bytes("email", "reply_to_handoff.eml").replace(
        b"<handoff.2.0123456789abcdef@acme.example>", message_id.encode()
    )
    assert (
        customer_mails(db, inbox, answer.replace(b" [#1]", b"")).conversation_id == conversation.id
    )


async def test_an_agents_files_go_out_as_mime_attachments(session: Session, db: Database) -> None:
    invoice = b"%PDF-1.4 invoice 4471"
    async with smtp_sink() as sink:
        w, _, conversation = answered(session, db, sink.port)
        reply = do_reply(
            session=session,
            conversation=conversation,
            agent=w.dana,
            content="Your invoice is attached.",
            files=[
                {
                    "filename": "faktura 4471.pdf",
                    "content_type": "application/pdf",
                    "data": invoice,
                },
                {"filename": "notes.txt", "content_type": "text/plain", "data": b"ship Monday"},
            ],
        )
        assert reply.id is not None
        async with httpx.AsyncClient() as http:
            await dispatch.deliver(db, http, reply.id)
    [mail] = sink.mails
    parts = list(mail.iter_attachments())
    assert [p.get_filename() for p in parts] == ["faktura 4471.pdf", "notes.txt"]
    assert [p.get_content_type() for p in parts] == ["application/pdf", "text/plain"]
    assert parts[0].get_content() == invoice
    body = mail.get_body(("plain",))
    assert body is not None and body.get_content().strip() == "Your invoice is attached."


async def test_a_retry_sends_the_same_message_id(session: Session, db: Database) -> None:
    async with smtp_sink() as sink:
        w, _, conversation = answered(session, db, sink.port)
        reply = do_reply(session=session, conversation=conversation, agent=w.dana, content="Hi")
        assert reply.id is not None
        sink.data_answer = "451 4.3.0 try again later"
        async with httpx.AsyncClient() as http:
            await dispatch.deliver(db, http, reply.id)
            with db.session() as fresh:
                waiting = fresh.get(Message, reply.id)
                assert waiting is not None and waiting.delivery == "pending"
            sink.data_answer = "250 OK"
            await dispatch.deliver(db, http, reply.id)
    first, second = sink.mails
    assert first["Message-ID"] == second["Message-ID"]
    with db.session() as fresh:
        sent = fresh.get(Message, reply.id)
        assert sent is not None and sent.delivery == "sent"


async def test_automatic_messages_say_auto_submitted(session: Session, db: Database) -> None:
    async with smtp_sink() as sink:
        w, _, conversation = answered(session, db, sink.port)
        reply = do_reply(session=session, conversation=conversation, agent=w.dana, content="Hi")
        assert reply.id is not None
        outbound = dispatch.load_outbound(db, reply.id)
        assert outbound is not None
        outbound.message.automatic = True
        async with httpx.AsyncClient() as http:
            await EmailChannel().send(outbound, http)
    assert sink.mails[0]["Auto-Submitted"] == "auto-replied"


def test_the_subject_gets_one_re_and_one_tag() -> None:
    assert reply_subject("Where is my order?", 7) == "Re: Where is my order? [#7]"
    assert reply_subject("RE: Re: AW: Where is my order? [#7]", 7) == "Re: Where is my order? [#7]"
    assert reply_subject("", 7) == "Re: Your message [#7]"


async def send_once(session: Session, db: Database, sink: Sink) -> SendFailed:
    w, _, conversation = answered(session, db, sink.port)
    reply = do_reply(session=session, conversation=conversation, agent=w.dana, content="Hi")
    assert reply.id is not None
    outbound = dispatch.load_outbound(db, reply.id)
    assert outbound is not None
    async with httpx.AsyncClient() as http:
        with pytest.raises(SendFailed) as failed:
            await EmailChannel().send(outbound, http)
    return failed.value


async def test_a_refused_recipient_is_permanent(session: Session, db: Database) -> None:
    async with smtp_sink() as sink:
        sink.rcpt_answer = "550 5.1.1 User unknown"
        failure = await send_once(session, db, sink)
    assert failure.permanent and "550 5.1.1 User unknown" in str(failure)


async def test_a_greylisted_recipient_is_transient(session: Session, db: Database) -> None:
    async with smtp_sink() as sink:
        sink.rcpt_answer = "450 4.2.0 Greylisted, try again in 5 minutes"
        failure = await send_once(session, db, sink)
    assert not failure.permanent


async def test_a_refused_message_is_permanent(session: Session, db: Database) -> None:
    async with smtp_sink() as sink:
        sink.data_answer = "554 5.7.1 Message rejected as spam"
        failure = await send_once(session, db, sink)
    assert failure.permanent and "554" in str(failure)


async def test_a_slow_server_is_a_transient_timeout(
    session: Session, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(email_outbound, "TIMEOUT", 0.3)
    async with smtp_sink() as sink:
        sink.delay = 2.0
        failure = await send_once(session, db, sink)
    assert not failure.permanent and "Timeout" in str(failure)


async def test_an_unreachable_server_is_transient(session: Session, db: Database) -> None:
    async with smtp_sink() as sink:
        port = sink.port
    # The sink is gone: nothing listens there any more.
    failure = await send_once(session, db, Sink(port=port))
    assert not failure.permanent


async def test_an_inbox_without_smtp_fails_permanently(session: Session, db: Database) -> None:
    w = build_world(session)
    inbox = email_inbox(session)
    first = customer_mails(db, inbox, fixture_bytes("email", "new_mail.eml"))
    conversation = session.get(Conversation, first.conversation_id)
    assert conversation is not None
    reply = do_reply(session=session, conversation=conversation, agent=w.dana, content="Hi")
    assert reply.id is not None
    async with httpx.AsyncClient() as http:
        await dispatch.deliver(db, http, reply.id)
    with db.session() as fresh:
        failed = fresh.get(Message, reply.id)
        assert failed is not None and failed.delivery == "failed"
        assert failed.error == "the inbox has no SMTP server configured"
