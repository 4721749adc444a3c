"""Telegram through a bot (docs/channels/telegram.md): Bot API updates as Telegram sends them,
with the webhook's secret token, and replies through sendMessage and sendDocument to a local
stand-in that checks what Telegram checks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from channels.base import WebhookRequest
from channels.dispatch import deliver, load_outbound
from channels.intake import take_in
from channels.long_text import send_parts, split_text, utf16_units
from channels.telegram import TelegramChannel
from inbox.accounts import do_create_inbox
from inbox.clock import utcnow
from inbox.db import Database
from inbox.models import Contact, Conversation, Inbox, Message, MessageKind, OutboxEntry
from inbox.outbox import do_retry_delivery
from tests.channels.helpers import fixture_json, messages_of, reply, stored
from tests.factories import World, build_world
from tests.standins import Answer, FormField, Received, StandIn, form_fields, standin_server

TOKEN = "7000000001:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
SECRET = "kY3t-webhook-secret_2291"
CHAT = 5012345678


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def bot_api(standin: StandIn) -> Any:
    """The Bot API as Telegram checks it: the bot token in the path; sendMessage with a JSON
    body of chat_id and 1-4096 characters of text; sendDocument as multipart/form-data with
    chat_id, a `document` file part with its filename and a caption of at most 1024
    characters. `{"ok": true, "result": {"message_id"}}` back."""

    def refused(status: int, description: str) -> Answer:
        answer = {"ok": False, "error_code": status, "description": description}
        return status, json.dumps(answer).encode()

    def sent(result: dict[str, Any]) -> Answer:
        result = {"message_id": 900 + len(standin.received), "chat": {"id": CHAT}, **result}
        return 200, json.dumps({"ok": True, "result": result}).encode()

    def send_message(headers: dict[str, str], body: bytes) -> Answer:
        if not headers.get("content-type", "").startswith("application/json"):
            return refused(400, "Bad Request: message text is empty")
        data = json.loads(body)
        if data.get("chat_id") != CHAT:
            return refused(400, "Bad Request: chat not found")
        text = data.get("text") or ""
        if not text:
            return refused(400, "Bad Request: message text is empty")
        if utf16_length(text) > 4096:
            return refused(400, "Bad Request: message is too long")
        return sent({"text": text})

    def send_document(headers: dict[str, str], body: bytes) -> Answer:
        fields = form_fields(headers, body)
        if fields is None or "chat_id" not in fields:
            return refused(400, "Bad Request: chat_id is empty")
        if fields["chat_id"].value != str(CHAT).encode():
            return refused(400, "Bad Request: chat not found")
        document = fields.get("document")
        if document is None or not document.filename:
            return refused(400, "Bad Request: there is no document in the request")
        caption = fields["caption"].value.decode() if "caption" in fields else ""
        if utf16_length(caption) > 1024:
            return refused(400, "Bad Request: message caption is too long")
        uploaded = {"file_name": document.filename, "mime_type": document.content_type}
        return sent({"document": uploaded} | ({"caption": caption} if caption else {}))

    def check(path: str, headers: dict[str, str], body: bytes) -> Answer:
        if path == f"/bot{TOKEN}/sendMessage":
            return send_message(headers, body)
        if path == f"/bot{TOKEN}/sendDocument":
            return send_document(headers, body)
        return refused(404, "Not Found")

    return check


@pytest.fixture
def telegram() -> Iterator[StandIn]:
    with standin_server() as standin:
        standin.check = bot_api(standin)
        yield standin


def telegram_inbox(session: Session, telegram: StandIn) -> Inbox:
    inbox = do_create_inbox(
        session=session,
        name="@AcmeSupportBot",
        channel="telegram",
        config={"bot_token": TOKEN, "secret_token": SECRET, "api_base": telegram.url},
    )
    session.commit()
    return inbox


def post_update(
    client: TestClient, inbox: Inbox, update: dict[str, Any], secret: str | None = SECRET
) -> Any:
    headers = {"x-telegram-bot-api-secret-token": secret} if secret is not None else {}
    return client.post(f"/webhooks/telegram/{inbox.id}", json=update, headers=headers)


def receive(db: Database, inbox: Inbox, name: str) -> None:
    """What the webhook route does with an update, without the app (and its own sender)."""
    body = json.dumps(fixture_json("telegram", f"{name}.json")).encode()
    headers = {"x-telegram-bot-api-secret-token": SECRET}
    request = WebhookRequest("POST", "http://testserver/", "", headers, {}, body)
    adapter = TelegramChannel()
    adapter.verify(request, inbox)
    assert inbox.id is not None
    take_in(db, inbox.id, adapter.parse(request, inbox))


def contact_of(session: Session, message: Message) -> Contact:
    conversation = session.get(Conversation, message.conversation_id)
    assert conversation is not None
    contact = session.get(Contact, conversation.contact_id)
    assert contact is not None
    return contact


# -- receiving ---------------------------------------------------------------------------


def test_a_text_message_is_stored_for_the_chat_with_the_customers_name_and_language(
    app_client: TestClient, session: Session, telegram: StandIn
) -> None:
    inbox = telegram_inbox(session, telegram)
    response = post_update(app_client, inbox, fixture_json("telegram", "text.json"))
    assert response.status_code == 200, response.text
    [message] = messages_of(session, inbox, MessageKind.incoming)
    assert message.content == "Hallo! Meine Bestellung 48213 ist immer noch nicht angekommen."
    assert message.external_id == f"{CHAT}:412"
    contact = contact_of(session, message)
    assert (contact.name, contact.language) == ("Jonas Weber", "de")


def test_every_message_of_a_chat_lands_in_the_same_conversation(
    app_client: TestClient, session: Session, telegram: StandIn
) -> None:
    inbox = telegram_inbox(session, telegram)
    for name in ("start", "text", "photo"):
        assert (
            post_update(app_client, inbox, fixture_json("telegram", f"{name}.json")).status_code
            == 200
        )
    stored = messages_of(session, inbox, MessageKind.incoming)
    assert stored[0].content == "/start"
    assert len({m.conversation_id for m in stored}) == 1


def test_a_photo_keeps_its_caption_and_a_reference_to_the_largest_size(
    app_client: TestClient, session: Session, telegram: StandIn
) -> None:
    inbox = telegram_inbox(session, telegram)
    post_update(app_client, inbox, fixture_json("telegram", "photo.json"))
    [message] = messages_of(session, inbox, MessageKind.incoming)
    assert message.content == "So sah das Paket aus"
    assert message.attachments == [
        {"kind": "photo", "file_id": "AgACAgIAAxkBAAIBnWc1-large", "width": 1280, "height": 960}
    ]
    assert telegram.received == []  # a reference: nothing downloaded


def test_a_document_without_a_caption_is_named_for_the_agent(
    app_client: TestClient, session: Session, telegram: StandIn
) -> None:
    inbox = telegram_inbox(session, telegram)
    post_update(app_client, inbox, fixture_json("telegram", "document.json"))
    [message] = messages_of(session, inbox, MessageKind.incoming)
    assert message.content == "[document: Rechnung-48213.pdf]"
    assert message.attachments == [
        {
            "kind": "document",
            "file_id": "BQACAgIAAxkBAAIBnmc1-doc",
            "file_name": "Rechnung-48213.pdf",
            "mime_type": "application/pdf",
        }
    ]


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("sticker", "[sticker 😢]"),
        ("voice", "[voice message]"),
        ("contact", "[contact: Jonas Weber +4915112345678]"),
        (
            "location",
            "Location: 52.520008, 13.404954 "
            "https://www.google.com/maps/search/?api=1&query=52.520008,13.404954",
        ),
    ],
)
def test_other_kinds_of_message_get_a_readable_text(
    app_client: TestClient, session: Session, telegram: StandIn, name: str, content: str
) -> None:
    inbox = telegram_inbox(session, telegram)
    assert (
        post_update(app_client, inbox, fixture_json("telegram", f"{name}.json")).status_code == 200
    )
    [message] = messages_of(session, inbox, MessageKind.incoming)
    assert message.content == content


def test_an_edit_updates_the_stored_message_and_marks_it_edited(
    app_client: TestClient, session: Session, telegram: StandIn
) -> None:
    inbox = telegram_inbox(session, telegram)
    post_update(app_client, inbox, fixture_json("telegram", "text.json"))
    assert (
        post_update(app_client, inbox, fixture_json("telegram", "edited_message.json")).status_code
        == 200
    )
    [message] = messages_of(session, inbox, MessageKind.incoming)
    assert message.content == "Hallo! Meine Bestellung 48231 ist immer noch nicht angekommen."
    assert message.edited


def test_a_repeated_update_changes_nothing(
    app_client: TestClient, session: Session, telegram: StandIn
) -> None:
    inbox = telegram_inbox(session, telegram)
    assert post_update(app_client, inbox, fixture_json("telegram", "text.json")).status_code == 200
    assert post_update(app_client, inbox, fixture_json("telegram", "text.json")).status_code == 200
    # The same update_id is the same delivery, whatever it carries.
    again = fixture_json("telegram", "sticker.json")
    again["update_id"] = fixture_json("telegram", "text.json")["update_id"]
    assert post_update(app_client, inbox, again).status_code == 200
    assert len(messages_of(session, inbox, MessageKind.incoming)) == 1


@pytest.mark.parametrize("name", ["channel_post", "callback_query", "my_chat_member_blocked"])
def test_updates_that_are_no_customer_message_are_acknowledged_and_not_stored(
    app_client: TestClient, session: Session, telegram: StandIn, name: str
) -> None:
    inbox = telegram_inbox(session, telegram)
    assert (
        post_update(app_client, inbox, fixture_json("telegram", f"{name}.json")).status_code == 200
    )
    assert messages_of(session, inbox, MessageKind.incoming) == []


@pytest.mark.parametrize("secret", [None, "", "kY3t-webhook-secret_2290"])
def test_an_update_without_the_webhooks_secret_token_is_refused(
    app_client: TestClient, session: Session, telegram: StandIn, secret: str | None
) -> None:
    inbox = telegram_inbox(session, telegram)
    assert (
        post_update(
            app_client, inbox, fixture_json("telegram", "text.json"), secret=secret
        ).status_code
        == 401
    )
    assert messages_of(session, inbox, MessageKind.incoming) == []


def test_an_inbox_without_a_secret_token_takes_nothing(
    app_client: TestClient, session: Session, telegram: StandIn
) -> None:
    inbox = telegram_inbox(session, telegram)
    inbox.config = {**inbox.config, "secret_token": ""}
    session.add(inbox)
    session.commit()
    assert (
        post_update(app_client, inbox, fixture_json("telegram", "text.json"), secret="").status_code
        == 401
    )


def test_a_body_telegram_would_never_send_is_a_400(
    app_client: TestClient, session: Session, telegram: StandIn
) -> None:
    inbox = telegram_inbox(session, telegram)
    headers = {"x-telegram-bot-api-secret-token": SECRET}
    no_chat = {"update_id": 1, "message": {"message_id": 3, "text": "hi"}}
    for body in (b"not json", b'{"message": {}}', json.dumps(no_chat).encode()):
        response = app_client.post(f"/webhooks/telegram/{inbox.id}", content=body, headers=headers)
        assert response.status_code == 400, body
    assert messages_of(session, inbox, MessageKind.incoming) == []


# -- sending -----------------------------------------------------------------------------


def customer_chat(session: Session, db: Database, telegram: StandIn) -> tuple[World, Inbox]:
    w = build_world(session)
    inbox = telegram_inbox(session, telegram)
    receive(db, inbox, "text")
    return w, inbox


async def test_a_reply_is_sent_to_the_chat_with_sendmessage(
    session: Session, db: Database, telegram: StandIn
) -> None:
    w, inbox = customer_chat(session, db, telegram)
    message_id = reply(session, w, inbox, "Hallo Jonas, das Paket ist unterwegs.")
    async with httpx.AsyncClient() as http:
        await deliver(db, http, message_id)
    [sent] = telegram.received
    assert sent.path == f"/bot{TOKEN}/sendMessage"
    assert sent.json() == {"chat_id": CHAT, "text": "Hallo Jonas, das Paket ist unterwegs."}
    shown = stored(db, message_id)
    assert shown.delivery == "sent" and shown.external_id == f"{CHAT}:901"


async def test_a_reply_longer_than_4096_characters_goes_out_in_parts_in_order(
    session: Session, db: Database, telegram: StandIn
) -> None:
    w, inbox = customer_chat(session, db, telegram)
    paragraphs = [f"Schritt {n}: " + "🙂 bitte prüfen " * 40 for n in range(1, 16)]
    message_id = reply(session, w, inbox, "\n\n".join(p.strip() for p in paragraphs))
    async with httpx.AsyncClient() as http:
        await deliver(db, http, message_id)
    parts = [r.json()["text"] for r in telegram.received]
    assert len(parts) > 1 and stored(db, message_id).delivery == "sent"
    # Every part within Telegram's limit (emoji count twice), cut between paragraphs.
    assert all(len(p.encode("utf-16-le")) // 2 <= 4096 for p in parts)
    assert parts[0].startswith("Schritt 1:") and parts[-1].endswith("bitte prüfen")
    assert "\n\n".join(parts) == "\n\n".join(p.strip() for p in paragraphs)
    assert stored(db, message_id).external_id == f"{CHAT}:901"


async def test_a_rate_limit_in_the_middle_resumes_without_repeating_the_parts_sent(
    session: Session, db: Database, telegram: StandIn
) -> None:
    w, inbox = customer_chat(session, db, telegram)
    message_id = reply(session, w, inbox, ("x" * 4000 + "\n") * 3)
    accept = bot_api(telegram)
    limited = (
        b'{"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 7",'
        b' "parameters": {"retry_after": 7}}'
    )
    telegram.check = lambda path, headers, body: (
        (429, limited) if len(telegram.received) == 2 else accept(path, headers, body)
    )
    async with httpx.AsyncClient() as http:
        await deliver(db, http, message_id)
        shown = stored(db, message_id)
        assert shown.delivery == "pending"
        assert shown.error is not None and "Too Many Requests: retry after 7" in shown.error
        with db.session() as fresh:
            entry = fresh.exec(
                select(OutboxEntry).where(OutboxEntry.message_id == message_id)
            ).one()
        assert entry.next_attempt_at - utcnow() > timedelta(seconds=5)
        await deliver(db, http, message_id)
    texts = [r.json()["text"] for r in telegram.received]
    # Part 1 went out, part 2 was refused, then parts 2 and 3: the customer sees each once.
    assert [len(t) for t in texts] == [4000, 4000, 4000, 4000]
    assert stored(db, message_id).delivery == "sent"


@pytest.mark.parametrize(
    ("status", "description"),
    [
        (403, "Forbidden: bot was blocked by the user"),
        (400, "Bad Request: chat not found"),
    ],
)
async def test_a_blocked_bot_or_an_unknown_chat_fails_at_once_with_telegrams_reason(
    session: Session, db: Database, telegram: StandIn, status: int, description: str
) -> None:
    w, inbox = customer_chat(session, db, telegram)
    message_id = reply(session, w, inbox, "Hallo?")
    answer = {"ok": False, "error_code": status, "description": description}
    telegram.check = lambda path, headers, body: (status, json.dumps(answer).encode())
    async with httpx.AsyncClient() as http:
        await deliver(db, http, message_id)
    shown = stored(db, message_id)
    assert shown.delivery == "failed"
    assert shown.error == f"Telegram answered {status}: {description}"


async def test_a_wrong_bot_token_fails_and_never_shows_the_token(
    session: Session, db: Database, telegram: StandIn
) -> None:
    w, inbox = customer_chat(session, db, telegram)
    inbox.config = {**inbox.config, "bot_token": "7000000001:wrong"}
    session.add(inbox)
    session.commit()
    message_id = reply(session, w, inbox, "Hallo?")
    async with httpx.AsyncClient() as http:
        await deliver(db, http, message_id)
    shown = stored(db, message_id)
    assert shown.delivery == "failed"
    assert shown.error == "Telegram answered 404: Not Found"


async def test_telegram_out_of_reach_is_tried_again_without_leaking_the_url(
    session: Session, db: Database, telegram: StandIn
) -> None:
    w, inbox = customer_chat(session, db, telegram)
    inbox.config = {**inbox.config, "api_base": "http://127.0.0.1:9"}
    session.add(inbox)
    session.commit()
    message_id = reply(session, w, inbox, "Hallo?")
    async with httpx.AsyncClient() as http:
        await deliver(db, http, message_id)
    shown = stored(db, message_id)
    assert shown.delivery == "pending"
    assert shown.error is not None and "Telegram could not be reached (ConnectError)" in shown.error
    assert TOKEN not in shown.error


# -- sending files -----------------------------------------------------------------------

INVOICE = {
    "filename": "Rücksendeschein 48213.pdf",
    "content_type": "application/pdf",
    "data": b"%PDF-1.4",
}
LABEL = {"filename": "retoure.png", "content_type": "image/png", "data": b"\x89PNG\r\n\x1a\n"}


def documents(received: list[Received]) -> list[FormField]:
    """The `document` part of each sendDocument the stand-in received, in order."""
    fields = [form_fields(r.headers, r.body) for r in received if r.path.endswith("/sendDocument")]
    return [f["document"] for f in fields if f is not None]


def captions(received: list[Received]) -> list[str | None]:
    """The caption of each sendDocument the stand-in received (None without one), in order."""
    fields = [form_fields(r.headers, r.body) for r in received if r.path.endswith("/sendDocument")]
    return [f["caption"].value.decode() if f and "caption" in f else None for f in fields]


def methods(received: list[Received]) -> list[str]:
    return [r.path.rsplit("/", 1)[-1] for r in received]


async def test_a_reply_with_files_sends_each_as_a_document_with_the_text_as_caption(
    session: Session, db: Database, telegram: StandIn
) -> None:
    w, inbox = customer_chat(session, db, telegram)
    text = "Rechnung und Etikett anbei."
    message_id = reply(session, w, inbox, text, [INVOICE, LABEL])
    async with httpx.AsyncClient() as http:
        await deliver(db, http, message_id)
    assert methods(telegram.received) == ["sendDocument", "sendDocument"]
    sent = documents(telegram.received)
    assert [d.filename for d in sent] == ["Rücksendeschein 48213.pdf", "retoure.png"]
    assert [d.content_type for d in sent] == ["application/pdf", "image/png"]
    assert [d.value for d in sent] == [INVOICE["data"], LABEL["data"]]
    assert captions(telegram.received) == [text, None]
    shown = stored(db, message_id)
    assert shown.delivery == "sent" and shown.external_id == f"{CHAT}:901"


async def test_a_reply_of_files_only_sends_only_documents(
    session: Session, db: Database, telegram: StandIn
) -> None:
    w, inbox = customer_chat(session, db, telegram)
    message_id = reply(session, w, inbox, "", [INVOICE, LABEL])
    async with httpx.AsyncClient() as http:
        await deliver(db, http, message_id)
    assert methods(telegram.received) == ["sendDocument", "sendDocument"]
    assert captions(telegram.received) == [None, None]
    assert stored(db, message_id).delivery == "sent"


async def test_a_text_too_long_for_a_caption_goes_first_as_a_message(
    session: Session, db: Database, telegram: StandIn
) -> None:
    w, inbox = customer_chat(session, db, telegram)
    # 513 characters but 1026 UTF-16 units: over the caption's 1024 as Telegram counts.
    text = "🙂" * 513
    message_id = reply(session, w, inbox, text, [INVOICE])
    async with httpx.AsyncClient() as http:
        await deliver(db, http, message_id)
    assert methods(telegram.received) == ["sendMessage", "sendDocument"]
    assert telegram.received[0].json()["text"] == text
    assert captions(telegram.received) == [None]
    assert stored(db, message_id).delivery == "sent"


async def test_a_retry_after_a_failed_document_sends_only_what_is_missing(
    session: Session, db: Database, telegram: StandIn
) -> None:
    w, inbox = customer_chat(session, db, telegram)
    text = "Bitte lesen Sie die Hinweise zur Rücksendung. " * 30  # too long for a caption
    message_id = reply(session, w, inbox, text, [INVOICE, LABEL])
    accept = bot_api(telegram)
    down = b'{"ok": false, "error_code": 500, "description": "Internal Server Error"}'
    telegram.check = lambda path, headers, body: (
        (500, down) if len(telegram.received) == 3 else accept(path, headers, body)
    )
    async with httpx.AsyncClient() as http:
        await deliver(db, http, message_id)
        assert stored(db, message_id).delivery == "pending"
        await deliver(db, http, message_id)
    # The text and the invoice went out, the label was refused, then only the label again.
    assert methods(telegram.received) == ["sendMessage"] + ["sendDocument"] * 3
    assert [d.filename for d in documents(telegram.received)] == [
        "Rücksendeschein 48213.pdf",
        "retoure.png",
        "retoure.png",
    ]
    shown = stored(db, message_id)
    assert shown.delivery == "sent" and shown.external_id == f"{CHAT}:901"


def parts_recorded(db: Database, message_id: int) -> list[list[str]]:
    with db.session() as fresh:
        entry = fresh.exec(select(OutboxEntry).where(OutboxEntry.message_id == message_id)).one()
        return entry.parts_sent


async def test_the_parts_sent_are_kept_in_the_database_not_in_the_worker(
    session: Session, db: Database, telegram: StandIn
) -> None:
    """A retry after a restart, or on another worker, must not resend what went out: the
    record lives with the outbox entry."""
    w, inbox = customer_chat(session, db, telegram)
    message_id = reply(session, w, inbox, "Here is your label.", [INVOICE, LABEL])
    accept = bot_api(telegram)
    down = b'{"ok": false, "error_code": 502, "description": "Bad Gateway"}'
    telegram.check = lambda path, headers, body: (
        (502, down) if len(telegram.received) == 2 else accept(path, headers, body)
    )
    async with httpx.AsyncClient() as http:
        await deliver(db, http, message_id)
    # The text rides as the invoice's caption: the invoice went out, the label did not.
    assert [name for name, _ in parts_recorded(db, message_id)] == ["file 1"]
    sent_before = len(telegram.received)
    # A new adapter and a new HTTP client: nothing carried over but the database.
    outbound = load_outbound(db, message_id)
    assert outbound is not None and outbound.parts_sent == parts_recorded(db, message_id)
    async with httpx.AsyncClient() as http:
        await TelegramChannel().send(outbound, http)
    resent = telegram.received[sent_before:]
    assert [d.filename for d in documents(resent)] == ["retoure.png"]
    assert methods(resent) == ["sendDocument"]


async def test_send_again_after_a_refusal_in_the_middle_resumes_where_it_stopped(
    session: Session, db: Database, telegram: StandIn
) -> None:
    w, inbox = customer_chat(session, db, telegram)
    text = "Bitte lesen Sie die Hinweise zur Rücksendung. " * 30  # too long for a caption
    message_id = reply(session, w, inbox, text, [INVOICE, LABEL])
    accept = bot_api(telegram)
    refused = b'{"ok": false, "error_code": 400, "description": "Bad Request: file is too big"}'
    refusing = True
    telegram.check = lambda path, headers, body: (
        (400, refused) if refusing and len(telegram.received) == 3 else accept(path, headers, body)
    )
    async with httpx.AsyncClient() as http:
        await deliver(db, http, message_id)
        failed = stored(db, message_id)
        assert failed.delivery == "failed"
        assert failed.error is not None and "after 2 of 3 parts went out" in failed.error
        assert [name for name, _ in parts_recorded(db, message_id)] == ["text 1", "file 1"]
        refusing = False
        with db.session() as s:
            message = s.get(Message, message_id)
            assert message is not None
            do_retry_delivery(session=s, message=message, actor=w.dana)
        await deliver(db, http, message_id)
    # The agent's "send again" sent the label only: the customer has the rest once.
    assert methods(telegram.received) == ["sendMessage"] + ["sendDocument"] * 3
    assert [d.filename for d in documents(telegram.received)][-1] == "retoure.png"
    assert stored(db, message_id).delivery == "sent"
    assert parts_recorded(db, message_id) == [], "a sent reply keeps no record of its parts"


async def test_a_reply_whose_parts_changed_since_the_failure_starts_over() -> None:
    """Parts are matched by name in order: a record that does not fit is not trusted."""
    posted: list[str] = []

    async def post(name: str) -> str:
        posted.append(name)
        return f"id of {name}"

    outbound = SimpleNamespace(parts_sent=[["text 1", "a"], ["file 1", "b"]])
    ids = await send_parts(outbound, ["text 1", "text 2", "file 1"], post)  # type: ignore[arg-type]
    assert posted == ["text 2", "file 1"]
    assert ids == ["a", "id of text 2", "id of file 1"]


def test_split_text_prefers_paragraphs_then_lines_then_spaces() -> None:
    assert split_text("short", 10) == ["short"]
    assert split_text("aaaa bbbb\n\ncccc dddd", 12) == ["aaaa bbbb", "cccc dddd"]
    assert split_text("aaaaaaa\nbb cc", 12) == ["aaaaaaa", "bb cc"]
    assert split_text("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]
    assert split_text("🙂" * 6, 10, utf16_units) == ["🙂" * 5, "🙂"]  # two units each
    assert split_text("   ", 10) == []
