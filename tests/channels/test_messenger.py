"""Messenger and Instagram (docs/channels/messenger.md): Meta's real payloads in, `/me/messages`
out."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from channels.base import Parsed, SendFailed
from channels.dispatch import deliver, load_outbound
from channels.intake import take_in
from channels.messenger import MessengerChannel
from inbox.conversations import do_reply
from inbox.db import Database
from inbox.events import Event
from inbox.models import ContactIdentity, Conversation, Message, OutboxEntry
from tests.channels.helpers import (
    add_inbox_id,
    app_db,
    fixture_bytes,
    graph_error,
    incoming_of,
    only,
    parse_delivery,
    reply_to_parsed,
    send_once,
    stored,
)
from tests.factories import build_world
from tests.standins import Answer, FormField, Received, StandIn, form_fields, standin_server

APP_SECRET = "3b9e51d2c07a4f68a1e5d9c2b7f04a36"
VERIFY_TOKEN = "handoff-page-verify"
PAGE_TOKEN = "EAAGm0PX4ZCpsBAPage-test-token"
PAGE_ID = "108234567890123"
PSID = "6789012345678901"
SENT_MID = (
    "m_S3nTbYuS0aA1bB2cC3dD4eE5fF6gG7hH8iI9jJ0kK1lL2mM3nN4oO5pP6qQ7rR8sS9tT0uU1vV2wW3xX4yY5zZ6aA7"
)


def signature(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def new_inbox(db: Database, **extra: Any) -> int:
    config = {
        "page_access_token": PAGE_TOKEN,
        "app_secret": APP_SECRET,
        "verify_token": VERIFY_TOKEN,
        "page_id": PAGE_ID,
        **extra,
    }
    return add_inbox_id(db, "Facebook", "messenger", config)


def post(client: TestClient, inbox_id: int, body: bytes, sig: str | None = None) -> Any:
    return client.post(
        f"/webhooks/messenger/{inbox_id}",
        content=body,
        headers={
            "content-type": "application/json",
            "x-hub-signature-256": signature(body) if sig is None else sig,
        },
    )


def received(client: TestClient, name: str) -> list[Message]:
    """POST one fixture to a new inbox; what it stored."""
    inbox_id = new_inbox(app_db(client))
    response = post(client, inbox_id, fixture_bytes("messenger", name))
    assert response.status_code == 200, response.text
    return incoming_of(app_db(client), inbox_id)


def parse(db: Database, inbox_id: int, name: str) -> Parsed:
    return parse_delivery(db, MessengerChannel(), inbox_id, fixture_bytes("messenger", name))


# --- the subscription handshake ---------------------------------------------------------


def test_the_handshake_answers_the_challenge(app_client: TestClient) -> None:
    inbox_id = new_inbox(app_db(app_client))
    hub = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "CHALLENGE"}
    response = app_client.get(f"/webhooks/messenger/{inbox_id}", params=hub)
    assert response.status_code == 200 and response.text == "CHALLENGE"
    wrong = app_client.get(
        f"/webhooks/messenger/{inbox_id}", params={**hub, "hub.verify_token": "nope"}
    )
    assert wrong.status_code == 403 and "CHALLENGE" not in wrong.text


# --- messages -----------------------------------------------------------------------------


def test_a_text_message_lands_under_the_senders_psid(app_client: TestClient) -> None:
    message = only(received(app_client, "text.json"))
    assert message.content == "Hi, my order #4471 has not arrived"
    assert message.external_id is not None and message.external_id.startswith("m_AG5Hz2")
    with app_db(app_client).session() as session:
        conversation = session.get_one(Conversation, message.conversation_id)
        identities = session.exec(select(ContactIdentity.identifier)).all()
    assert list(identities) == [PSID]
    assert conversation.inbox_id == message.inbox_id


def test_a_quick_reply_reads_as_the_button_text(app_client: TestClient) -> None:
    assert only(received(app_client, "quick_reply.json")).content == "Track my order"


def test_an_image_is_a_reference_to_its_url(app_client: TestClient) -> None:
    message = only(received(app_client, "image.json"))
    assert message.content == "[image]"
    assert message.attachments[0]["kind"] == "image"
    assert message.attachments[0]["url"].startswith("https://scontent.xx.fbcdn.net/")


def test_a_sticker_is_a_sticker_reference(app_client: TestClient) -> None:
    message = only(received(app_client, "sticker.json"))
    assert message.content == "[sticker]"
    assert message.attachments[0]["sticker_id"] == "369239263222822"


def test_a_file_with_text_keeps_the_text_and_the_reference(app_client: TestClient) -> None:
    message = only(received(app_client, "file.json"))
    assert message.content == "Here is the receipt"
    assert message.attachments[0]["kind"] == "file"
    assert "receipt-4471.pdf" in message.attachments[0]["url"]


def test_a_location_is_readable_with_a_map_link(app_client: TestClient) -> None:
    message = only(received(app_client, "location.json"))
    assert message.content == (
        "Location: 52.520008, 13.404954 "
        "https://www.google.com/maps/search/?api=1&query=52.520008,13.404954"
    )
    assert message.attachments == []


def test_a_shared_link_reads_its_title_once(app_client: TestClient) -> None:
    message = only(received(app_client, "fallback_link.json"))
    assert message.content == "https://shop.example.com/orders/4471\nOrder #4471 - Example Shop"


def test_a_postback_is_a_message_with_the_buttons_title(app_client: TestClient) -> None:
    message = only(received(app_client, "postback.json"))
    assert message.content == "Talk to a person"
    assert message.external_id is not None and message.external_id.startswith("m_P0stB4cK")


def test_echoes_of_our_own_messages_are_ignored(app_client: TestClient) -> None:
    assert received(app_client, "echo.json") == []
    assert received(app_client, "instagram_echo.json") == []


def test_an_instagram_message_lands_under_the_igsid(app_client: TestClient) -> None:
    message = only(received(app_client, "instagram_text.json"))
    assert message.content == "Is the blue one back in stock?"
    assert message.external_id is not None and message.external_id.startswith("aWdfZAG1")


def test_several_entries_are_stored_in_order(app_client: TestClient) -> None:
    stored = received(app_client, "several_entries.json")
    assert [m.content for m in stored] == ["First question", "And a second one"]


def test_another_pages_entry_is_ignored(app_client: TestClient) -> None:
    assert received(app_client, "other_page.json") == []


def test_an_edit_replaces_the_words_and_marks_the_message_edited(app_client: TestClient) -> None:
    db = app_db(app_client)
    inbox_id = new_inbox(db)
    assert post(app_client, inbox_id, fixture_bytes("messenger", "text.json")).status_code == 200
    assert (
        post(app_client, inbox_id, fixture_bytes("messenger", "message_edit.json")).status_code
        == 200
    )
    message = only(incoming_of(db, inbox_id))
    assert message.content == "Hi, my order #4471 has not arrived yet, it was due Monday"
    assert message.edited


# --- refusals -----------------------------------------------------------------------------


def test_a_forged_signature_is_401_and_stores_nothing(app_client: TestClient) -> None:
    db = app_db(app_client)
    inbox_id = new_inbox(db)
    body = fixture_bytes("messenger", "text.json")
    assert post(app_client, inbox_id, body, sig=signature(body, "guessed")).status_code == 401
    assert post(app_client, inbox_id, body, sig="sha1=abc").status_code == 401
    assert incoming_of(db, inbox_id) == []


def test_a_malformed_body_is_400_and_stores_nothing(app_client: TestClient) -> None:
    db = app_db(app_client)
    inbox_id = new_inbox(db)
    assert post(app_client, inbox_id, b"[]").status_code == 400
    assert post(app_client, inbox_id, b'{"object": "page", "entry": {}}').status_code == 400
    broken = json.loads(fixture_bytes("messenger", "text.json"))
    broken["entry"][0]["messaging"][0]["message"] = "hello"
    assert post(app_client, inbox_id, json.dumps(broken).encode()).status_code == 400
    assert incoming_of(db, inbox_id) == []


def test_an_unhandled_event_is_200_and_stores_nothing(app_client: TestClient) -> None:
    assert received(app_client, "standby.json") == []
    assert received(app_client, "read.json") == []


def test_a_replayed_delivery_stores_one_message(app_client: TestClient) -> None:
    db = app_db(app_client)
    inbox_id = new_inbox(db)
    for _ in range(2):
        assert (
            post(app_client, inbox_id, fixture_bytes("messenger", "text.json")).status_code == 200
        )
    assert len(incoming_of(db, inbox_id)) == 1


def test_a_replayed_delivery_publishes_one_message_created(
    db: Database, events: list[Event]
) -> None:
    inbox_id = new_inbox(db)
    for _ in range(2):
        take_in(db, inbox_id, parse(db, inbox_id, "postback.json"))
    assert [e.type for e in events if e.type == "message.created"] == ["message.created"]


# --- receipts -----------------------------------------------------------------------------


def test_delivery_names_its_mids_and_read_names_none(db: Database) -> None:
    inbox_id = new_inbox(db)
    delivered = parse(db, inbox_id, "delivery.json").deliveries
    assert [(d.external_id, d.state) for d in delivered] == [(SENT_MID, "delivered")]
    # Messenger's read receipt is a watermark time: it names no message.
    read = parse(db, inbox_id, "read.json")
    assert read.deliveries == []
    assert [(r.identifier, r.state, r.until) for r in read.up_to] == [
        (PSID, "read", datetime(2025, 6, 8, 21, 3, 20, tzinfo=UTC))
    ]
    seen = parse(db, inbox_id, "instagram_read.json").deliveries
    assert [(d.external_id, d.state) for d in seen] == [
        ("aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOnNlbnRieXVz", "read")
    ]


async def test_a_delivery_receipt_moves_the_sent_reply_to_delivered(
    session: Session, app_client: TestClient
) -> None:
    db = app_db(app_client)
    with standin_server() as graph:
        graph_checks(graph)
        reply_id = reply_waiting(session, db, graph)
        async with httpx.AsyncClient() as http:
            await deliver(db, http, reply_id)
    with db.session() as fresh:
        inbox_id = fresh.get_one(Message, reply_id).inbox_id
    assert (
        post(app_client, inbox_id, fixture_bytes("messenger", "delivery.json")).status_code == 200
    )
    with db.session() as fresh:
        assert fresh.get_one(Message, reply_id).delivery == "delivered"


def watermark(kind: str, until: datetime) -> bytes:
    """Messenger's `read` or mid-less `delivery` event: all sent before `until`."""
    body = json.loads(fixture_bytes("messenger", "read.json"))
    event = body["entry"][0]["messaging"][0]
    del event["read"]
    # Milliseconds, rounded up: a watermark at a send's own moment covers it.
    event[kind] = {"watermark": math.ceil(until.timestamp() * 1000)}
    return json.dumps(body).encode()


def sent_at(db: Database, message_id: int) -> datetime:
    with db.session() as fresh:
        entry = fresh.exec(select(OutboxEntry).where(OutboxEntry.message_id == message_id)).one()
        return entry.updated_at


def delivery_of(db: Database, message_id: int) -> str:
    return stored(db, message_id).delivery


async def test_a_read_watermark_marks_read_what_was_sent_before_it(
    session: Session, app_client: TestClient
) -> None:
    db = app_db(app_client)
    with standin_server() as graph:
        graph_checks(graph)
        accept = graph.check

        def refusing_the_third(path: str, headers: dict[str, str], body: bytes) -> Answer:
            if b"Anything else?" in body:
                return 400, graph_error("(#100) Invalid parameter", 100)
            return accept(path, headers, body)

        graph.check = refusing_the_third
        w = build_world(session)
        inbox_id = new_inbox(db, api_base=graph.url + "/v21.0")
        parsed = parse(db, inbox_id, "text.json")
        early, late, refused = (
            reply_to_parsed(session, db, inbox_id, parsed, w.dana, text)
            for text in ("Your parcel left the depot", "It arrives tomorrow", "Anything else?")
        )
        async with httpx.AsyncClient() as http:
            for reply_id in (early, late, refused):
                await deliver(db, http, reply_id)
                time.sleep(0.01)
    # The customer read up to a moment between the two sends; the third reply failed.
    between = sent_at(db, early) + (sent_at(db, late) - sent_at(db, early)) / 2
    assert post(app_client, inbox_id, watermark("delivery", sent_at(db, late))).status_code == 200
    assert post(app_client, inbox_id, watermark("read", between)).status_code == 200

    assert [delivery_of(db, m) for m in (early, late, refused)] == ["read", "delivered", "failed"]
    # A later watermark reads the second; an older one moves nothing back.
    assert post(app_client, inbox_id, watermark("read", sent_at(db, late))).status_code == 200
    assert post(app_client, inbox_id, watermark("delivery", between)).status_code == 200
    assert [delivery_of(db, m) for m in (early, late, refused)] == ["read", "read", "failed"]


async def test_a_watermark_moves_only_that_customers_replies(
    session: Session, app_client: TestClient
) -> None:
    db = app_db(app_client)
    with standin_server() as graph:
        graph_checks(graph)
        accept = graph.check

        def any_customer(path: str, headers: dict[str, str], body: bytes) -> Answer:
            # The stand-in knows one customer; the second is as good.
            sent = {**json.loads(body), "recipient": {"id": PSID}}
            return accept(path, headers, json.dumps(sent).encode())

        graph.check = any_customer
        w = build_world(session)
        inbox_id = new_inbox(db, api_base=graph.url + "/v21.0")
        ours = reply_to_parsed(session, db, inbox_id, parse(db, inbox_id, "text.json"), w.dana, "A")
        other_body = json.loads(fixture_bytes("messenger", "text.json"))
        other_body["entry"][0]["messaging"][0]["sender"]["id"] = "7000000000000001"
        other_body["entry"][0]["messaging"][0]["message"]["mid"] = "m_another_customer"
        other = parse_delivery(db, MessengerChannel(), inbox_id, json.dumps(other_body).encode())
        theirs = reply_to_parsed(session, db, inbox_id, other, w.dana, "B")
        async with httpx.AsyncClient() as http:
            for reply_id in (ours, theirs):
                await deliver(db, http, reply_id)
    now = sent_at(db, theirs)
    assert post(app_client, inbox_id, watermark("read", now)).status_code == 200
    assert [delivery_of(db, m) for m in (ours, theirs)] == ["read", "sent"]


def test_a_watermark_that_is_not_a_time_is_400(app_client: TestClient) -> None:
    inbox_id = new_inbox(app_db(app_client))
    body = json.loads(watermark("read", datetime.now(UTC)))
    body["entry"][0]["messaging"][0]["read"]["watermark"] = "yesterday"
    assert post(app_client, inbox_id, json.dumps(body).encode()).status_code == 400


# --- sending --------------------------------------------------------------------------------


# Meta's refusal of an attachment it will not take (the stand-in refuses executables).
UPLOAD_FAILURE = graph_error("(#100) Upload attachment failure.", 100, error_subcode=2018047)


def graph_checks(standin: StandIn, answer: Answer | None = None) -> None:
    """What Graph checks: `/me/messages`, the page token, the Send API body: JSON with a text
    of 1-2000 characters, or multipart with `recipient`, `messaging_type` and `message` as
    JSON fields, an attachment type that fits the `filedata` file (with its name) of at most
    25 MB. `answer` replaces the answer to a message that passed."""

    def check(path: str, headers: dict[str, str], body: bytes) -> Answer:
        url = urlsplit(path)
        if parse_qs(url.query).get("access_token") != [PAGE_TOKEN]:
            return 400, graph_error("Invalid OAuth access token - Cannot parse access token", 190)
        if url.path != "/v21.0/me/messages":
            return 400, graph_error("Unknown path components: /messagez", 2500)
        fields = form_fields(headers, body)
        if fields is not None:
            refused = check_upload(fields)
            if refused is not None:
                return refused
        elif not valid_text(json.loads(body)):
            return 400, graph_error("(#100) Invalid parameter", 100)
        if answer is not None:
            return answer
        return 200, json.dumps({"recipient_id": PSID, "message_id": SENT_MID}).encode()

    standin.check = check


def valid_text(sent: dict[str, Any]) -> bool:
    text = sent.get("message", {}).get("text")
    return (
        sent.get("recipient") == {"id": PSID}
        and sent.get("messaging_type") == "RESPONSE"
        and bool(text)
        and len(text) <= 2000
    )


def check_upload(fields: dict[str, FormField]) -> Answer | None:
    """None when Graph takes this multipart message with its attachment."""
    text = {name: f.value.decode() for name, f in fields.items() if name != "filedata"}
    message = json.loads(text.get("message", "{}"))
    attachment = message.get("attachment", {})
    file = fields.get("filedata")
    if (
        json.loads(text.get("recipient", "{}")) != {"id": PSID}
        or text.get("messaging_type") != "RESPONSE"
        or attachment.get("type") not in ("image", "audio", "video", "file")
        or not isinstance(attachment.get("payload"), dict)
        or file is None
        or not file.filename
    ):
        return 400, graph_error("(#100) Invalid parameter", 100)
    if attachment["type"] == "image" and not file.content_type.startswith("image/"):
        return 400, UPLOAD_FAILURE
    if file.content_type == "application/x-msdownload" or len(file.value) > 25 * 1024**2:
        return 400, UPLOAD_FAILURE
    return None


def reply_waiting(session: Session, db: Database, standin: StandIn, content: str = "Hi") -> int:
    """A customer wrote in over Messenger; an agent's reply waits in the outbox."""
    w = build_world(session)
    inbox_id = new_inbox(db, api_base=standin.url + "/v21.0")
    parsed = parse(db, inbox_id, "text.json")
    return reply_to_parsed(session, db, inbox_id, parsed, w.dana, content)


async def test_a_reply_reaches_graph_and_ends_sent_with_its_mid(
    session: Session, db: Database
) -> None:
    with standin_server() as graph:
        graph_checks(graph)
        reply_id = reply_waiting(session, db, graph, "It ships tomorrow.")
        async with httpx.AsyncClient() as http:
            await deliver(db, http, reply_id)
        assert graph.received[0].json()["message"] == {"text": "It ships tomorrow."}
    with db.session() as fresh:
        stored = fresh.get_one(Message, reply_id)
    assert stored.delivery == "sent" and stored.external_id == SENT_MID


async def test_a_reply_over_2000_characters_goes_out_in_parts_in_order(
    session: Session, db: Database
) -> None:
    with standin_server() as graph:
        graph_checks(graph)
        text = "\n".join(f"Step {n}: " + "x" * 90 for n in range(1, 51))
        reply_id = reply_waiting(session, db, graph, text)
        assert await send_once(MessengerChannel(), db, reply_id) == SENT_MID
        parts = [r.json()["message"]["text"] for r in graph.received]
    assert len(parts) == 3 and all(len(p) <= 2000 for p in parts)
    assert "\n".join(parts) == text
    assert parts[0].startswith("Step 1:") and parts[-1].endswith("x" * 90)


async def test_a_5xx_is_a_transient_failure(session: Session, db: Database) -> None:
    with standin_server() as graph:
        graph_checks(graph, (503, b"Service Unavailable"))
        reply_id = reply_waiting(session, db, graph)
        with pytest.raises(SendFailed) as failed:
            await send_once(MessengerChannel(), db, reply_id)
    assert not failed.value.permanent
    assert str(failed.value) == "Messenger answered 503: Service Unavailable"


async def test_a_400_is_permanent_and_keeps_graphs_message(session: Session, db: Database) -> None:
    with standin_server() as graph:
        answer = graph_error(
            "(#10) This message is sent outside of allowed window.", 10, error_subcode=2018278
        )
        graph_checks(graph, (400, answer))
        reply_id = reply_waiting(session, db, graph)
        with pytest.raises(SendFailed) as failed:
            await send_once(MessengerChannel(), db, reply_id)
    assert failed.value.permanent
    reason = str(failed.value)
    assert reason.startswith(
        "Messenger answered 400: (#10) This message is sent outside of allowed window. "
        "(code 10, subcode 2018278) - the customer last wrote more than 24 hours ago"
    )
    assert reason.endswith("[fbtrace_id AbCdEfGh123]")


async def test_a_429_with_retry_after_is_transient_and_says_when(
    session: Session, db: Database
) -> None:
    with standin_server() as graph:
        limited = graph_error("(#613) Calls to this api have exceeded the rate limit.", 613)
        graph_checks(graph, (429, limited, {"retry-after": "30"}))
        reply_id = reply_waiting(session, db, graph)
        with pytest.raises(SendFailed) as failed:
            await send_once(MessengerChannel(), db, reply_id)
    assert not failed.value.permanent and failed.value.retry_after == 30.0


async def test_page_throttling_in_a_400_is_transient(session: Session, db: Database) -> None:
    with standin_server() as graph:
        graph_checks(graph, (400, graph_error("(#32) Page request limit reached", 32)))
        reply_id = reply_waiting(session, db, graph)
        with pytest.raises(SendFailed) as failed:
            await send_once(MessengerChannel(), db, reply_id)
    assert not failed.value.permanent


async def test_a_graph_that_does_not_answer_times_out(session: Session, db: Database) -> None:
    with standin_server() as graph:
        graph_checks(graph)
        reply_id = reply_waiting(session, db, graph)
        graph.delay = 0.5
        with pytest.raises(httpx.TimeoutException):
            await send_once(MessengerChannel(), db, reply_id, timeout=0.1)
        graph.delay = 0


async def test_a_part_failing_after_others_went_out_says_so(session: Session, db: Database) -> None:
    with standin_server() as graph:
        graph_checks(graph)
        reply_id = reply_waiting(session, db, graph, ("word " * 500).strip())
        accept = graph.check

        def second_fails(path: str, headers: dict[str, str], body: bytes) -> Answer:
            if len(graph.received) > 1:
                return 500, graph_error("An unexpected error has occurred.", 2)
            return accept(path, headers, body)

        graph.check = second_fails
        with pytest.raises(SendFailed) as failed:
            await send_once(MessengerChannel(), db, reply_id)
    assert not failed.value.permanent
    assert str(failed.value).endswith("(after 1 of 2 parts went out)")


# --- sending files --------------------------------------------------------------------------

INVOICE = {"filename": "invoice 4471.pdf", "content_type": "application/pdf", "data": b"%PDF-1.4"}
LABEL = {"filename": "return-label.png", "content_type": "image/png", "data": b"\x89PNG\r\n\x1a\n"}


def files_waiting(
    session: Session, db: Database, standin: StandIn, content: str, files: list[dict[str, Any]]
) -> int:
    """A customer wrote in over Messenger; an agent's reply with `files` waits in the outbox."""
    w = build_world(session)
    inbox_id = new_inbox(db, api_base=standin.url + "/v21.0")
    parsed = parse(db, inbox_id, "text.json")
    conversation_id = take_in(db, inbox_id, parsed).received[0].conversation.id
    session.expire_all()
    conversation = session.get_one(Conversation, conversation_id)
    message = do_reply(
        session=session, conversation=conversation, agent=w.dana, content=content, files=files
    )
    assert message.id is not None
    return message.id


def what_went_out(received: list[Received]) -> list[str]:
    """Each request as the customer sees it: the text, or `kind: filename`."""
    seen = []
    for request in received:
        fields = form_fields(request.headers, request.body)
        if fields is None:
            seen.append(request.json()["message"]["text"])
        else:
            kind = json.loads(fields["message"].value)["attachment"]["type"]
            seen.append(f"{kind}: {fields['filedata'].filename}")
    return seen


def uploads(received: list[Received]) -> list[FormField]:
    forms = [form_fields(r.headers, r.body) for r in received]
    return [form["filedata"] for form in forms if form is not None]


async def test_a_reply_with_files_sends_the_text_then_each_file(
    session: Session, db: Database
) -> None:
    with standin_server() as graph:
        graph_checks(graph)
        reply_id = files_waiting(session, db, graph, "Your invoice and label", [INVOICE, LABEL])
        async with httpx.AsyncClient() as http:
            await deliver(db, http, reply_id)
        went_out = what_went_out(graph.received)
        files = uploads(graph.received)
    assert went_out == [
        "Your invoice and label",
        "file: invoice 4471.pdf",
        "image: return-label.png",
    ]
    assert [(f.content_type, f.value) for f in files] == [
        ("application/pdf", INVOICE["data"]),
        ("image/png", LABEL["data"]),
    ]
    shown = stored(db, reply_id)
    assert shown.delivery == "sent" and shown.external_id == SENT_MID


async def test_a_reply_of_files_only_sends_only_the_files(session: Session, db: Database) -> None:
    with standin_server() as graph:
        graph_checks(graph)
        reply_id = files_waiting(session, db, graph, "", [INVOICE])
        async with httpx.AsyncClient() as http:
            await deliver(db, http, reply_id)
        assert what_went_out(graph.received) == ["file: invoice 4471.pdf"]
    assert stored(db, reply_id).delivery == "sent"


async def test_a_retry_after_the_second_file_failed_sends_only_what_is_missing(
    session: Session, db: Database
) -> None:
    with standin_server() as graph:
        graph_checks(graph)
        accept = graph.check

        def second_file_fails_once(path: str, headers: dict[str, str], body: bytes) -> Answer:
            if len(graph.received) == 3:
                return 500, graph_error("An unexpected error has occurred.", 2)
            return accept(path, headers, body)

        graph.check = second_file_fails_once
        reply_id = files_waiting(session, db, graph, "Both attached", [INVOICE, LABEL])
        async with httpx.AsyncClient() as http:
            await deliver(db, http, reply_id)
            shown = stored(db, reply_id)
            assert shown.delivery == "pending"
            assert shown.error is not None and "(after 2 of 3 parts went out)" in shown.error
            await deliver(db, http, reply_id)
        went_out = what_went_out(graph.received)
    # The text and the invoice went out, the label was refused, then only the label again.
    assert went_out == [
        "Both attached",
        "file: invoice 4471.pdf",
        "image: return-label.png",
        "image: return-label.png",
    ]
    assert stored(db, reply_id).delivery == "sent"


async def test_a_file_messenger_refuses_fails_for_good_with_graphs_reason(
    session: Session, db: Database
) -> None:
    tool = {"filename": "setup.exe", "content_type": "application/x-msdownload", "data": b"MZ"}
    with standin_server() as graph:
        graph_checks(graph)
        reply_id = files_waiting(session, db, graph, "", [tool])
        async with httpx.AsyncClient() as http:
            await deliver(db, http, reply_id)
    shown = stored(db, reply_id)
    assert shown.delivery == "failed"
    assert shown.error is not None and shown.error.startswith(
        "Messenger answered 400: (#100) Upload attachment failure. (code 100, subcode 2018047)"
    )


async def test_a_file_over_25_mb_fails_for_good_before_anything_goes_out(
    session: Session, db: Database
) -> None:
    # Handoff's own limit is lower; an adapter must still not hand Meta what it refuses.
    with standin_server() as graph:
        graph_checks(graph)
        reply_id = files_waiting(session, db, graph, "The recording", [INVOICE])
        outbound = load_outbound(db, reply_id)
        assert outbound is not None
        outbound.files.append(
            {"filename": "call.mp4", "content_type": "video/mp4", "data": b"\0" * (26 * 1024**2)}
        )
        with pytest.raises(SendFailed) as failed:
            async with httpx.AsyncClient() as http:
                await MessengerChannel().send(outbound, http)
        assert graph.received == []
    assert failed.value.permanent
    assert str(failed.value) == "Messenger takes files of at most 25 MB; call.mp4 is 26.0 MB"
