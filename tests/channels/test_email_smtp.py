"""The app's own SMTP listener, driven by the standard library's smtplib as a mail server
would deliver (docs/channels/email.md)."""

from __future__ import annotations

import asyncio
import smtplib
import socket
from collections.abc import AsyncIterator

import pytest
from sqlmodel import Session

from channels.email import smtp_listener
from channels.email.smtp_listener import SmtpListener, listen_smtp, start_smtp_listener
from inbox.db import Database
from inbox.events import Event
from inbox.settings import Settings
from tests.channels.helpers import NEW_MAIL_ID, all_messages, email_inbox, fixture_bytes
from tests.factories import build_world


@pytest.fixture
async def listener(db: Database) -> AsyncIterator[SmtpListener]:
    server = await listen_smtp(db, "127.0.0.1", 0)
    yield server
    server.close()
    await server.wait_closed()


def deliver(port: int, recipients: list[str], raw: bytes) -> dict[str, tuple[int, bytes]]:
    """What a sending mail server does; blocking, so the test runs it in a thread."""
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        return client.sendmail("lena.park@example.org", recipients, raw)


async def test_mail_to_an_inbox_address_is_stored_before_250(
    listener: SmtpListener, session: Session
) -> None:
    build_world(session)
    inbox = email_inbox(session)
    # The address matches whatever its case.
    refused = await asyncio.to_thread(
        deliver, listener.port, ["Support@ACME.example"], fixture_bytes("email", "new_mail.eml")
    )
    assert refused == {}
    [message] = all_messages(session)
    assert message.external_id == NEW_MAIL_ID and message.inbox_id == inbox.id
    assert "order 4471" in message.content


async def test_an_unknown_recipient_is_refused_at_rcpt(
    listener: SmtpListener, session: Session
) -> None:
    build_world(session)
    email_inbox(session)
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        await asyncio.to_thread(
            deliver, listener.port, ["sales@acme.example"], fixture_bytes("email", "new_mail.eml")
        )
    assert refused.value.recipients["sales@acme.example"] == (550, b"5.1.1 no such mailbox")
    assert all_messages(session) == []


async def test_a_mail_over_25_mib_is_refused_with_552(
    listener: SmtpListener, session: Session
) -> None:
    build_world(session)
    email_inbox(session)
    raw = fixture_bytes("email", "new_mail.eml") + b"x" * (25 * 1024 * 1024)
    # smtplib announces the size (SIZE=) and the listener refuses before the data is sent.
    with pytest.raises(smtplib.SMTPSenderRefused) as refused:
        await asyncio.to_thread(deliver, listener.port, ["support@acme.example"], raw)
    assert refused.value.smtp_code == 552
    assert all_messages(session) == []


async def test_a_failure_while_storing_answers_451_and_the_retry_is_stored_once(
    listener: SmtpListener, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_world(session)
    email_inbox(session)

    def database_away(*args: object) -> None:
        raise RuntimeError("database is restarting")

    monkeypatch.setattr(smtp_listener, "take_in", database_away)
    with pytest.raises(smtplib.SMTPDataError) as failed:
        await asyncio.to_thread(
            deliver, listener.port, ["support@acme.example"], fixture_bytes("email", "new_mail.eml")
        )
    assert failed.value.smtp_code == 451
    monkeypatch.undo()
    # The sending server keeps the mail and tries again later.
    for _ in range(2):
        await asyncio.to_thread(
            deliver, listener.port, ["support@acme.example"], fixture_bytes("email", "new_mail.eml")
        )
    assert [m.external_id for m in all_messages(session)] == [NEW_MAIL_ID]


async def test_a_mail_without_message_id_sent_twice_is_one_message(
    listener: SmtpListener, session: Session, events: list[Event]
) -> None:
    build_world(session)
    email_inbox(session)
    for _ in range(2):
        await asyncio.to_thread(
            deliver,
            listener.port,
            ["support@acme.example"],
            fixture_bytes("email", "no_message_id.eml"),
        )
    [message] = all_messages(session)
    assert message.content.startswith("Our old scanner sends mail without a Message-ID.")
    assert [e.type for e in events].count("message.created") == 1


async def test_a_message_that_is_not_an_email_is_refused(
    listener: SmtpListener, session: Session
) -> None:
    build_world(session)
    email_inbox(session)
    with pytest.raises(smtplib.SMTPDataError) as refused:
        await asyncio.to_thread(
            deliver, listener.port, ["support@acme.example"], b"Subject: no sender\r\n\r\nhi\r\n"
        )
    assert refused.value.smtp_code == 554
    assert all_messages(session) == []


async def test_the_app_listener_takes_its_port_from_the_settings(
    db: Database, settings: Settings
) -> None:
    assert await start_smtp_listener(db, settings.model_copy(update={"smtp_port": 0})) is None
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = await start_smtp_listener(
        db, settings.model_copy(update={"smtp_port": port, "host": "127.0.0.1"})
    )
    assert started is not None and started.port == port
    started.close()
    await started.wait_closed()
