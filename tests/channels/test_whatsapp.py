"""WhatsApp Cloud API (docs/channels/whatsapp.md): Meta's real payloads in, Graph's send out."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from channels.base import SendFailed, WebhookRequest
from channels.dispatch import deliver
from channels.intake import take_in
from channels.whatsapp import WhatsAppChannel
from inbox.conversations import do_reply
from inbox.db import Database
from inbox.events import Event
from inbox.models import Contact, Conversation, Inbox, Message
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

APP_SECRET = "8f3a1c0e5b7d2a9f4e6c1b3d5a7f9e0c"
VERIFY_TOKEN = "handoff-verify-4711"
ACCESS_TOKEN = "EAAJB9xZCZBq0sBO-test-token"
PHONE_NUMBER_ID = "106540352242922"
SENT_WAMID = "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"


def config(**extra: Any) -> dict[str, Any]:
    return {
        "access_token": ACCESS_TOKEN,
        "app_secret": APP_SECRET,
        "verify_token": VERIFY_TOKEN,
        "phone_number_id": PHONE_NUMBER_ID,
        **extra,
    }


def signature(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def new_inbox(db: Database, **extra: Any) -> int:
    return add_inbox_id(db, "WhatsApp", "whatsapp", config(**extra))


def post(client: TestClient, inbox_id: int, body: bytes, sig: str | bytes | None = None) -> Any:
    """Meta's POST; `sig` replaces the right signature (bytes: a header that is not ASCII)."""
    given = signature(body) if sig is None else sig
    return client.post(
        f"/webhooks/whatsapp/{inbox_id}",
        content=body,
        headers={
            b"content-type": b"application/json",
            b"x-hub-signature-256": given if isinstance(given, bytes) else given.encode(),
        },
    )


def received(client: TestClient, name: str) -> list[Message]:
    """POST one fixture to a new inbox; what it stored."""
    inbox_id = new_inbox(app_db(client))
    response = post(client, inbox_id, fixture_bytes("whatsapp", name))
    assert response.status_code == 200, response.text
    return incoming_of(app_db(client), inbox_id)


# --- the subscription handshake ---------------------------------------------------------


def test_the_handshake_answers_the_challenge_as_text(app_client: TestClient) -> None:
    inbox_id = new_inbox(app_db(app_client))
    response = app_client.get(
        f"/webhooks/whatsapp/{inbox_id}",
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": VERIFY_TOKEN,
            "hub.challenge": "1158201444",
        },
    )
    assert response.status_code == 200
    assert response.text == "1158201444"
    assert response.headers["content-type"].startswith("text/plain")


def test_the_handshake_with_a_wrong_verify_token_is_403(app_client: TestClient) -> None:
    inbox_id = new_inbox(app_db(app_client))
    response = app_client.get(
        f"/webhooks/whatsapp/{inbox_id}",
        params={"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"},
    )
    assert response.status_code == 403
    assert response.text != "1", "the challenge is not echoed"


# --- messages -----------------------------------------------------------------------------


def test_a_text_message_lands_with_the_customers_name_and_number(app_client: TestClient) -> None:
    db = app_db(app_client)
    inbox_id = new_inbox(db)
    assert post(app_client, inbox_id, fixture_bytes("whatsapp", "text.json")).json() == {"ok": True}
    message = only(incoming_of(db, inbox_id))
    assert message.content == "Does it come in another color?"
    assert message.external_id == "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
    with db.session() as session:
        contact = session.exec(select(Contact)).one()
    assert contact.name == "Sheena Nelson"
    assert contact.phone == "+16505551234"


def test_an_image_with_a_caption_keeps_the_caption_and_a_media_reference(
    app_client: TestClient,
) -> None:
    message = only(received(app_client, "image.json"))
    assert message.content == "This is what arrived"
    assert message.attachments == [
        {"kind": "image", "media_id": "1003383421387256", "content_type": "image/jpeg"}
    ]


def test_a_video_without_a_caption_reads_video(app_client: TestClient) -> None:
    message = only(received(app_client, "video.json"))
    assert message.content == "[video]"
    assert message.attachments == [
        {"kind": "video", "media_id": "1166846181421424", "content_type": "video/mp4"}
    ]


def test_a_voice_note_is_an_audio_reference(app_client: TestClient) -> None:
    message = only(received(app_client, "audio.json"))
    assert message.content == "[audio]"
    assert message.attachments == [
        {
            "kind": "audio",
            "media_id": "1157484932366342",
            "content_type": "audio/ogg; codecs=opus",
            "voice": True,
        }
    ]


def test_a_document_shows_its_filename(app_client: TestClient) -> None:
    message = only(received(app_client, "document.json"))
    assert message.content == "[document: invoice-2231.pdf]"
    assert message.attachments[0]["filename"] == "invoice-2231.pdf"
    assert message.attachments[0]["media_id"] == "1217441302873950"


def test_a_sticker_is_a_reference(app_client: TestClient) -> None:
    message = only(received(app_client, "sticker.json"))
    assert message.content == "[sticker]"
    assert message.attachments[0]["kind"] == "sticker"


def test_a_location_is_readable_with_a_map_link(app_client: TestClient) -> None:
    message = only(received(app_client, "location.json"))
    assert message.content == (
        "Location: Philz Coffee - 1 Hacker Way, Menlo Park, CA 94025 (37.483307, -122.148981) "
        "https://www.google.com/maps/search/?api=1&query=37.483307,-122.148981"
    )


def test_a_reply_button_tap_reads_its_title_and_id(app_client: TestClient) -> None:
    message = only(received(app_client, "interactive_button_reply.json"))
    assert message.content == "Yes, reship it (reply id: confirm-yes)"


def test_a_list_choice_reads_its_title_and_id(app_client: TestClient) -> None:
    message = only(received(app_client, "interactive_list_reply.json"))
    assert message.content == "Billing (reply id: topic-billing)"


def test_a_template_quick_reply_reads_its_text(app_client: TestClient) -> None:
    message = only(received(app_client, "button.json"))
    assert message.content == "Track my order"


def test_a_shared_contact_card_is_readable(app_client: TestClient) -> None:
    message = only(received(app_client, "contacts.json"))
    assert message.content == "Shared contact: Maya Lindqvist, +46 70 123 45 67, maya@example.se"


def test_a_reaction_is_skipped(app_client: TestClient) -> None:
    assert received(app_client, "reaction.json") == []


def test_an_unsupported_message_stays_visible_with_metas_reason(app_client: TestClient) -> None:
    message = only(received(app_client, "unsupported.json"))
    assert message.content == (
        "[unsupported message WhatsApp did not pass on: Message type unknown: "
        "Message type is currently not supported. (code 131051)]"
    )


def test_several_entries_store_this_numbers_messages_only(app_client: TestClient) -> None:
    stored = received(app_client, "several_entries.json")
    assert [m.content for m in stored] == ["First question", "And a second one"]


# --- refusals -----------------------------------------------------------------------------


def test_a_forged_signature_is_401_and_stores_nothing(app_client: TestClient) -> None:
    db = app_db(app_client)
    inbox_id = new_inbox(db)
    body = fixture_bytes("whatsapp", "text.json")
    assert (
        post(app_client, inbox_id, body, sig=signature(body, "not-the-secret")).status_code == 401
    )
    assert post(app_client, inbox_id, body, sig="").status_code == 401
    assert (
        post(app_client, inbox_id, body, sig="sha256=ünïcode".encode("latin-1")).status_code == 401
    )
    tampered = body.replace(b"another color", b"a refund now")
    assert post(app_client, inbox_id, tampered, sig=signature(body)).status_code == 401
    assert incoming_of(db, inbox_id) == []


def test_a_malformed_body_is_400_and_stores_nothing(app_client: TestClient) -> None:
    db = app_db(app_client)
    inbox_id = new_inbox(db)
    assert post(app_client, inbox_id, b"{not json").status_code == 400
    assert post(app_client, inbox_id, b'{"object": "whatsapp_business_account"}').status_code == 400
    broken = json.loads(fixture_bytes("whatsapp", "text.json"))
    del broken["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
    assert post(app_client, inbox_id, json.dumps(broken).encode()).status_code == 400
    assert incoming_of(db, inbox_id) == []


def test_an_unhandled_field_is_200_and_stores_nothing(app_client: TestClient) -> None:
    assert received(app_client, "account_update.json") == []


def test_a_replayed_delivery_stores_one_message(app_client: TestClient) -> None:
    db = app_db(app_client)
    inbox_id = new_inbox(db)
    for _ in range(2):
        assert post(app_client, inbox_id, fixture_bytes("whatsapp", "text.json")).status_code == 200
    assert len(incoming_of(db, inbox_id)) == 1


def test_a_replayed_delivery_publishes_one_message_created(
    db: Database, events: list[Event]
) -> None:
    inbox_id = new_inbox(db)
    with db.session() as session:
        inbox = session.get_one(Inbox, inbox_id)
        session.expunge(inbox)
    request = WebhookRequest(
        "POST", "https://example.com", "", {}, {}, fixture_bytes("whatsapp", "text.json")
    )
    for _ in range(2):
        take_in(db, inbox_id, WhatsAppChannel().parse(request, inbox))
    assert [e.type for e in events if e.type == "message.created"] == ["message.created"]
    assert len(incoming_of(db, inbox_id)) == 1


# --- sending --------------------------------------------------------------------------------


# What the stand-in's /media takes, by MIME type: the message types that may send it and the
# largest size. Meta's list is longer; the tests need no more.
UPLOADABLE: dict[str, tuple[set[str], int]] = {
    "application/pdf": ({"document"}, 100 * 1024 * 1024),
    "image/png": ({"image", "document"}, 5 * 1024 * 1024),
    "image/jpeg": ({"image", "document"}, 5 * 1024 * 1024),
}


def graph_checks(standin: StandIn, answer: Answer | None = None) -> dict[str, FormField]:
    """What Graph checks: the path with the number id, the bearer token; an upload to /media
    as multipart with messaging_product, a type it takes and the file with its name, within
    the type's size; a message's shape, and that the media it sends was uploaded, fits its
    type and has a caption of at most 1024 characters. `answer` replaces the answer to a
    message that passed. The uploaded files, by media id (the test reads them there)."""
    uploaded: dict[str, FormField] = {}

    def check(path: str, headers: dict[str, str], body: bytes) -> Answer:
        if headers.get("authorization") != f"Bearer {ACCESS_TOKEN}":
            return 401, graph_error("Invalid OAuth access token.", 190)
        if path == f"/v21.0/{PHONE_NUMBER_ID}/media":
            return upload(headers, body)
        if path != f"/v21.0/{PHONE_NUMBER_ID}/messages":
            return 400, graph_error("Unknown path components", 2500)
        sent = json.loads(body)
        if (
            sent.get("messaging_product") != "whatsapp"
            or sent.get("recipient_type") != "individual"
            or sent.get("to") != "16505551234"
            or not valid_content(sent.get("type"), sent.get(str(sent.get("type"))))
        ):
            return 400, graph_error("(#100) Invalid parameter", 100)
        if answer is not None:
            return answer
        return 200, json.dumps(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": sent["to"], "wa_id": sent["to"]}],
                "messages": [{"id": SENT_WAMID}],
            }
        ).encode()

    def upload(headers: dict[str, str], body: bytes) -> Answer:
        fields = form_fields(headers, body)
        if fields is None or fields.get("messaging_product", NO_FIELD).value != b"whatsapp":
            return 400, graph_error("(#100) The parameter messaging_product is required.", 100)
        file = fields.get("file")
        mime = fields.get("type", NO_FIELD).value.decode()
        if file is None or not file.filename or mime not in UPLOADABLE:
            return 400, graph_error("(#131053) Media upload error", 131053)
        if len(file.value) > UPLOADABLE[mime][1]:
            return 400, graph_error("(#131053) Media upload error: file too large", 131053)
        media_id = str(4490709327384033 + len(uploaded))
        uploaded[media_id] = FormField(file.value, file.filename, mime)
        return 200, json.dumps({"id": media_id}).encode()

    def valid_content(kind: object, content: object) -> bool:
        if not isinstance(content, dict):
            return False
        if kind == "text":
            return content.get("preview_url") is False and bool(content.get("body"))
        media = uploaded.get(str(content.get("id")))
        return (
            media is not None
            and kind in UPLOADABLE[media.content_type][0]
            and len(content.get("caption", "")) <= 1024
            and (kind == "document") == ("filename" in content)
        )

    standin.check = check
    return uploaded


NO_FIELD = FormField(b"", None, "text/plain")


def reply_waiting(session: Session, db: Database, standin: StandIn, content: str = "Hi") -> int:
    """A customer wrote in over WhatsApp; an agent's reply waits in the outbox."""
    w = build_world(session)
    inbox_id = new_inbox(db, api_base=standin.url + "/v21.0")
    body = fixture_bytes("whatsapp", "text.json")
    parsed = parse_delivery(db, WhatsAppChannel(), inbox_id, body)
    return reply_to_parsed(session, db, inbox_id, parsed, w.dana, content)


async def test_a_reply_reaches_graph_and_ends_sent_with_its_wamid(
    session: Session, db: Database
) -> None:
    with standin_server() as graph:
        graph_checks(graph)
        reply_id = reply_waiting(session, db, graph, "Yes, in blue and green.")
        async with httpx.AsyncClient() as http:
            await deliver(db, http, reply_id)
        assert graph.received[0].json()["text"]["body"] == "Yes, in blue and green."
    with db.session() as fresh:
        stored = fresh.get_one(Message, reply_id)
    assert stored.delivery == "sent" and stored.external_id == SENT_WAMID


async def test_statuses_move_the_reply_forward_only(
    session: Session, app_client: TestClient
) -> None:
    db = app_db(app_client)
    with standin_server() as graph:
        graph_checks(graph)
        reply_id = reply_waiting(session, db, graph)
        async with httpx.AsyncClient() as http:
            await deliver(db, http, reply_id)
    inbox_id = new_inbox_of(db, reply_id)
    assert (
        post(app_client, inbox_id, fixture_bytes("whatsapp", "status_delivered.json")).status_code
        == 200
    )
    with db.session() as fresh:
        assert fresh.get_one(Message, reply_id).delivery == "delivered"
    assert (
        post(app_client, inbox_id, fixture_bytes("whatsapp", "status_failed.json")).status_code
        == 200
    )
    with db.session() as fresh:
        # Forward only: "failed" after "delivered" changes nothing (inbox/delivery.py).
        assert fresh.get_one(Message, reply_id).delivery == "delivered"


async def test_a_failed_status_marks_a_sent_reply_failed_with_the_reason(
    session: Session, app_client: TestClient
) -> None:
    db = app_db(app_client)
    with standin_server() as graph:
        graph_checks(graph)
        reply_id = reply_waiting(session, db, graph)
        async with httpx.AsyncClient() as http:
            await deliver(db, http, reply_id)
    inbox_id = new_inbox_of(db, reply_id)
    assert (
        post(app_client, inbox_id, fixture_bytes("whatsapp", "status_failed.json")).status_code
        == 200
    )
    with db.session() as fresh:
        stored = fresh.get_one(Message, reply_id)
    assert stored.delivery == "failed"
    assert stored.error == (
        "Message undeliverable: Message could not be delivered to the recipient. (code 131026)"
    )


def new_inbox_of(db: Database, message_id: int) -> int:
    with db.session() as session:
        return session.get_one(Message, message_id).inbox_id


async def test_a_5xx_is_a_transient_failure(session: Session, db: Database) -> None:
    with standin_server() as graph:
        graph_checks(graph, (500, graph_error("An unknown error occurred", 1, is_transient=True)))
        reply_id = reply_waiting(session, db, graph)
        with pytest.raises(SendFailed) as failed:
            await send_once(WhatsAppChannel(), db, reply_id)
    assert not failed.value.permanent
    assert "An unknown error occurred (code 1)" in str(failed.value)


async def test_a_400_is_permanent_and_keeps_graphs_message(session: Session, db: Database) -> None:
    with standin_server() as graph:
        answer = graph_error(
            "(#131030) Recipient phone number not in allowed list",
            131030,
            error_data={"messaging_product": "whatsapp", "details": "Add it in the app dashboard"},
        )
        graph_checks(graph, (400, answer))
        reply_id = reply_waiting(session, db, graph)
        with pytest.raises(SendFailed) as failed:
            await send_once(WhatsAppChannel(), db, reply_id)
    assert failed.value.permanent
    assert str(failed.value) == (
        "WhatsApp answered 400: (#131030) Recipient phone number not in allowed list "
        "(code 131030): Add it in the app dashboard [fbtrace_id AbCdEfGh123]"
    )


async def test_outside_the_24_hour_window_is_permanent_and_says_why(
    session: Session, db: Database
) -> None:
    with standin_server() as graph:
        graph_checks(graph, (400, graph_error("(#131047) Re-engagement message", 131047)))
        reply_id = reply_waiting(session, db, graph)
        with pytest.raises(SendFailed) as failed:
            await send_once(WhatsAppChannel(), db, reply_id)
    assert failed.value.permanent
    assert "more than 24 hours ago" in str(failed.value)


async def test_a_429_with_retry_after_is_transient_and_says_when(
    session: Session, db: Database
) -> None:
    with standin_server() as graph:
        too_many = graph_error("(#130429) Rate limit hit", 130429)
        graph_checks(graph, (429, too_many, {"retry-after": "7"}))
        reply_id = reply_waiting(session, db, graph)
        with pytest.raises(SendFailed) as failed:
            await send_once(WhatsAppChannel(), db, reply_id)
    assert not failed.value.permanent and failed.value.retry_after == 7.0


async def test_a_rate_limit_code_in_a_400_is_transient(session: Session, db: Database) -> None:
    with standin_server() as graph:
        graph_checks(graph, (400, graph_error("(#131056) Pair rate limit hit", 131056)))
        reply_id = reply_waiting(session, db, graph)
        with pytest.raises(SendFailed) as failed:
            await send_once(WhatsAppChannel(), db, reply_id)
    assert not failed.value.permanent


async def test_a_graph_that_does_not_answer_times_out(session: Session, db: Database) -> None:
    with standin_server() as graph:
        graph_checks(graph)
        reply_id = reply_waiting(session, db, graph)
        graph.delay = 0.5
        with pytest.raises(httpx.TimeoutException):
            await send_once(WhatsAppChannel(), db, reply_id, timeout=0.1)
        graph.delay = 0


async def test_a_long_reply_goes_out_in_parts_in_order(session: Session, db: Database) -> None:
    with standin_server() as graph:
        graph_checks(graph)
        text = ("word " * 1000).strip() + " END"
        reply_id = reply_waiting(session, db, graph, text)
        assert await send_once(WhatsAppChannel(), db, reply_id) == SENT_WAMID
        bodies = [r.json()["text"]["body"] for r in graph.received]
    assert len(bodies) == 2 and all(len(b) <= 4096 for b in bodies)
    assert " ".join(bodies) == text


# --- sending files --------------------------------------------------------------------------

INVOICE = {"filename": "invoice 4471.pdf", "content_type": "application/pdf", "data": b"%PDF-1.4"}
LABEL = {"filename": "return-label.png", "content_type": "image/png", "data": b"\x89PNG\r\n\x1a\n"}


def files_waiting(
    session: Session, db: Database, standin: StandIn, content: str, files: list[dict[str, Any]]
) -> int:
    """A customer wrote in over WhatsApp; an agent's reply with `files` waits in the outbox."""
    w = build_world(session)
    inbox_id = new_inbox(db, api_base=standin.url + "/v21.0")
    parsed = parse_delivery(db, WhatsAppChannel(), inbox_id, fixture_bytes("whatsapp", "text.json"))
    conversation_id = take_in(db, inbox_id, parsed).received[0].conversation.id
    session.expire_all()
    conversation = session.get_one(Conversation, conversation_id)
    message = do_reply(
        session=session, conversation=conversation, agent=w.dana, content=content, files=files
    )
    assert message.id is not None
    return message.id


def messages_sent(received: list[Received]) -> list[dict[str, Any]]:
    """The bodies of the messages Graph was asked to send, in order (uploads left out)."""
    return [r.json() for r in received if r.path.endswith("/messages")]


def files_seen(sent: list[dict[str, Any]], uploaded: dict[str, FormField]) -> list[FormField]:
    """The uploaded file behind each media message, in order."""
    return [uploaded[m[m["type"]]["id"]] for m in sent if m["type"] != "text"]


async def deliver_twice_if_pending(db: Database, message_id: int) -> None:
    async with httpx.AsyncClient() as http:
        await deliver(db, http, message_id)
        if stored(db, message_id).delivery == "pending":
            await deliver(db, http, message_id)


async def test_a_reply_with_files_uploads_each_and_captions_the_first_with_the_text(
    session: Session, db: Database
) -> None:
    with standin_server() as graph:
        uploaded = graph_checks(graph)
        reply_id = files_waiting(session, db, graph, "Your invoice and label", [INVOICE, LABEL])
        async with httpx.AsyncClient() as http:
            await deliver(db, http, reply_id)
        sent = messages_sent(graph.received)
    assert [m["type"] for m in sent] == ["document", "image"]
    assert sent[0]["document"]["filename"] == "invoice 4471.pdf"
    assert sent[0]["document"]["caption"] == "Your invoice and label"
    assert "caption" not in sent[1]["image"]
    files = files_seen(sent, uploaded)
    assert [(f.filename, f.content_type, f.value) for f in files] == [
        ("invoice 4471.pdf", "application/pdf", INVOICE["data"]),
        ("return-label.png", "image/png", LABEL["data"]),
    ]
    shown = stored(db, reply_id)
    assert shown.delivery == "sent" and shown.external_id == SENT_WAMID


async def test_a_reply_of_files_only_sends_only_the_files(session: Session, db: Database) -> None:
    with standin_server() as graph:
        uploaded = graph_checks(graph)
        reply_id = files_waiting(session, db, graph, "", [LABEL])
        async with httpx.AsyncClient() as http:
            await deliver(db, http, reply_id)
        sent = messages_sent(graph.received)
    assert sent == [
        {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "16505551234",
            "type": "image",
            "image": {"id": next(iter(uploaded))},
        }
    ]
    assert stored(db, reply_id).delivery == "sent"


async def test_a_retry_after_the_second_file_failed_sends_only_what_is_missing(
    session: Session, db: Database
) -> None:
    text = "Please read the return instructions carefully. " * 30  # too long for a caption
    with standin_server() as graph:
        uploaded = graph_checks(graph)
        accept = graph.check
        failed_once: list[bool] = []

        def second_file_fails_once(path: str, headers: dict[str, str], body: bytes) -> Answer:
            sending_label = path.endswith("/messages") and b'"image"' in body
            if sending_label and not failed_once:
                failed_once.append(True)
                return 500, graph_error("An unexpected error has occurred.", 2)
            return accept(path, headers, body)

        graph.check = second_file_fails_once
        reply_id = files_waiting(session, db, graph, text, [INVOICE, LABEL])
        await deliver_twice_if_pending(db, reply_id)
        sent = messages_sent(graph.received)
    # The text and the invoice went out, the label was refused, then only the label again.
    assert [m["type"] for m in sent] == ["text", "document", "image", "image"]
    assert sent[0]["text"]["body"] == text.strip()
    assert "caption" not in sent[1]["document"]
    assert [f.filename for f in files_seen(sent, uploaded)] == [
        "invoice 4471.pdf",
        "return-label.png",
        "return-label.png",
    ]
    assert stored(db, reply_id).delivery == "sent"


@pytest.mark.parametrize(
    ("file", "reason"),
    [
        (
            {"filename": "photos.zip", "content_type": "application/zip", "data": b"PK\x03\x04"},
            "WhatsApp does not take application/zip files (photos.zip)",
        ),
        (
            {"filename": "scan.jpg", "content_type": "image/jpeg", "data": b"\xff" * 6 * 1024**2},
            "WhatsApp takes image files of at most 5 MB; scan.jpg is 6.0 MB",
        ),
    ],
)
async def test_a_file_whatsapp_refuses_fails_for_good_before_anything_goes_out(
    session: Session, db: Database, file: dict[str, Any], reason: str
) -> None:
    with standin_server() as graph:
        graph_checks(graph)
        reply_id = files_waiting(session, db, graph, "Here you go", [INVOICE, file])
        async with httpx.AsyncClient() as http:
            await deliver(db, http, reply_id)
        assert graph.received == []
    shown = stored(db, reply_id)
    assert shown.delivery == "failed"
    assert shown.error is not None and shown.error.startswith(reason)
