"""Two channels, one inbox, in real Chromium: a Telegram message and an email arrive through
their providers' webhooks; the agent answers both from the same screen; the Telegram
stand-in receives `sendMessage` and the SMTP sink receives a threaded reply."""

from __future__ import annotations

import base64
import json
import os
import re
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope
from aiosmtpd.smtp import Session as SmtpSession
from playwright.sync_api import Browser, Page, expect
from sqlmodel import Session

from inbox.accounts import do_create_inbox
from tests.browser.conftest import free_port
from tests.browser.test_end_to_end import DOCS_IMG, signed_in
from tests.factories import build_world
from tests.standins import StandIn, standin_server

pytestmark = pytest.mark.browser
BOT_TOKEN = "7001234567:AAH-browser-test"
SECRET_TOKEN = "tg-secret-1"
MAIL_SECRET = "mail-secret-1"


class Sink:
    """An SMTP server standing in for the inbox's outgoing mail server."""

    def __init__(self) -> None:
        self.mails: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: SmtpSession, envelope: Envelope) -> str:
        content = envelope.content
        assert isinstance(content, bytes)
        mail = message_from_bytes(content, policy=policy.default)
        assert isinstance(mail, EmailMessage)
        self.mails.append(mail)
        return "250 OK"


@pytest.fixture
def smtp_sink() -> Iterator[tuple[Sink, int]]:
    sink = Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    yield sink, port
    controller.stop()


@pytest.fixture
def telegram() -> Iterator[StandIn]:
    """The Bot API: the token is in the path, the body is JSON with chat_id and text."""

    def check(path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        if path != f"/bot{BOT_TOKEN}/sendMessage":
            return 404, b'{"ok": false, "error_code": 404, "description": "Not Found"}'
        sent = json.loads(body)
        if not isinstance(sent.get("chat_id"), int | str) or not sent.get("text"):
            return 400, b'{"ok": false, "error_code": 400, "description": "Bad Request"}'
        result = {"message_id": 9001, "chat": {"id": sent["chat_id"]}, "text": sent["text"]}
        return 200, json.dumps({"ok": True, "result": result}).encode()

    with standin_server() as standin:
        standin.check = check
        yield standin


def answer(page: Page, text: str) -> None:
    page.fill("#reply-form textarea[name=content]", text)
    page.click("#reply-form button.primary")


def wait_until(condition: Any, what: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} never happened")
        time.sleep(0.05)


def test_an_agent_answers_telegram_and_email_from_one_inbox(
    browser: Browser,
    live_server: str,
    session: Session,
    telegram: StandIn,
    smtp_sink: tuple[Sink, int],
    tmp_path: Path,
) -> None:
    sink, smtp_port = smtp_sink
    w = build_world(session)
    assert w.dana.id is not None
    tg = do_create_inbox(
        session=session,
        name="Telegram bot",
        channel="telegram",
        config={"bot_token": BOT_TOKEN, "secret_token": SECRET_TOKEN, "api_base": telegram.url},
        member_ids=[w.dana.id],
    )
    mail = do_create_inbox(
        session=session,
        name="Support mail",
        channel="email",
        config={
            "address": "support@acme.example",
            "webhook_secret": MAIL_SECRET,
            "smtp": {"host": "127.0.0.1", "port": smtp_port, "starttls": False},
        },
        member_ids=[w.dana.id],
    )
    session.commit()
    _, agent = signed_in(browser, live_server, "dana@example.com")
    expect(agent.locator("#live")).to_be_visible()

    update = {
        "update_id": 510001,
        "message": {
            "message_id": 42,
            "from": {"id": 777001, "is_bot": False, "first_name": "Tomasz", "language_code": "pl"},
            "chat": {"id": 777001, "type": "private", "first_name": "Tomasz"},
            "date": 1763800000,
            "text": "My parcel is stuck in Gdańsk <b>again</b>",
        },
    }
    hooked = httpx.post(
        f"{live_server}/webhooks/telegram/{tg.id}",
        json=update,
        headers={"x-telegram-bot-api-secret-token": SECRET_TOKEN},
    )
    assert hooked.status_code == 200, hooked.text
    raw = (
        b"From: Olivia Bennett <olivia@example.org>\r\n"
        b"To: support@acme.example\r\n"
        b"Subject: Invoice 2231 is wrong\r\n"
        b"Message-ID: <CAF=olivia.1@mail.example.org>\r\n"
        b"Date: Sun, 22 Nov 2026 10:00:00 +0000\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        b"I was charged twice for invoice 2231.\r\n"
    )
    basic = base64.b64encode(f"handoff:{MAIL_SECRET}".encode()).decode()
    posted = httpx.post(
        f"{live_server}/webhooks/email/{mail.id}",
        content=raw,
        headers={"content-type": "message/rfc822", "authorization": f"Basic {basic}"},
    )
    assert posted.status_code == 200, posted.text

    # Both arrive live in the same list, each with its channel.
    rows = agent.locator("#conversation-list")
    expect(rows).to_contain_text("My parcel is stuck in Gdańsk <b>again</b>")
    expect(rows).to_contain_text("I was charged twice for invoice 2231.")

    agent.locator("#conversation-list a", has_text="My parcel is stuck").first.click()
    expect(agent.locator(".thread")).to_contain_text("My parcel is stuck in Gdańsk <b>again</b>")
    answer(agent, "Sorry Tomasz, I have asked the courier to release it today.")
    wait_until(lambda: len(telegram.received) == 1, "the Telegram reply")
    sent = telegram.received[0].json()
    assert sent["chat_id"] in (777001, "777001")
    assert sent["text"] == "Sorry Tomasz, I have asked the courier to release it today."
    expect(agent.locator(".thread .msg.outgoing .delivery").last).to_have_class(
        re.compile("delivery-sent")
    )
    shots = DOCS_IMG if os.environ.get("HANDOFF_SCREENSHOTS") else tmp_path
    agent.screenshot(path=str(shots / "channels-telegram.png"))

    agent.locator("#conversation-list a", has_text="Invoice 2231").first.click()
    expect(agent.locator(".thread")).to_contain_text("I was charged twice for invoice 2231.")
    answer(agent, "You are right, Olivia: the second charge is refunded.")
    wait_until(lambda: len(sink.mails) == 1, "the email reply")
    reply = sink.mails[0]
    assert reply["To"].addresses[0].addr_spec == "olivia@example.org"
    assert reply["In-Reply-To"] == "<CAF=olivia.1@mail.example.org>"
    assert "Invoice 2231 is wrong" in reply["Subject"] and reply["Subject"].startswith("Re:")
    body = reply.get_body(("plain",))
    assert body is not None and "the second charge is refunded" in body.get_content()
    expect(agent.locator(".thread .msg.outgoing .delivery").last).to_have_class(
        re.compile("delivery-sent")
    )
