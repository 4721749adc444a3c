"""X direct messages (docs/channels/x.md), driven with Account Activity API payloads signed
as X signs them, and outbound through a stand-in that checks what X checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlmodel import Session
from starlette.testclient import TestClient

from channels import x
from channels.base import OutboundMessage, SendFailed
from channels.dispatch import deliver, load_outbound
from inbox.conversations import do_reply
from inbox.db import Database
from inbox.models import Contact, Conversation, Inbox, Message
from inbox.settings import Settings
from main import create_app
from tests.channels.helpers import (
    add_inbox,
    all_messages,
    app_events,
    fixture_bytes,
    outbound_reply,
    reply,
    stored,
)
from tests.factories import build_world, customer_writes
from tests.standins import Answer, StandIn, form_fields, standin_server

SECRET = "x-consumer-secret"
TOKEN = "x-user-access-token"
US = "1458284524761075714"
JORDAN = "3001969357"


def x_signature(body: bytes, secret: str = SECRET) -> str:
    """Written out as X documents it, not with the adapter's own helper."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


def make_inbox(session: Session, api_base: str = "https://api.twitter.com") -> Inbox:
    config = {
        "consumer_secret": SECRET,
        "access_token": TOKEN,
        "account_id": US,
        "api_base": api_base,
    }
    return add_inbox(session, "Acme on X", "x", config)


def post(client: TestClient, inbox: Inbox, body: bytes, signature: str | None = None) -> Any:
    headers = {
        "content-type": "application/json",
        "x-twitter-webhooks-signature": signature or x_signature(body),
    }
    return client.post(f"/webhooks/x/{inbox.id}", content=body, headers=headers)


# -- CRC -------------------------------------------------------------------------------------


def test_the_crc_check_is_answered_with_the_hmac_of_the_token(
    app_client: TestClient, session: Session
) -> None:
    inbox = make_inbox(session)
    response = app_client.get(f"/webhooks/x/{inbox.id}", params={"crc_token": "abc+/= 123"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"response_token": x_signature(b"abc+/= 123")}


def test_a_crc_check_without_a_token_is_400(app_client: TestClient, session: Session) -> None:
    inbox = make_inbox(session)
    assert app_client.get(f"/webhooks/x/{inbox.id}").status_code == 400


# -- messages in -----------------------------------------------------------------------------


def test_a_direct_message_is_stored_with_the_senders_name_and_real_links(
    app_client: TestClient, session: Session
) -> None:
    inbox = make_inbox(session)
    response = post(app_client, inbox, fixture_bytes("x", "message_create.json"))
    assert response.status_code == 200, response.text
    [message] = all_messages(session)
    assert message.content == (
        "Hi! My order #4417 never arrived, tracking says https://track.example.com/4417"
    )
    assert message.external_id == "1729518276409364485"
    conversation = session.get(Conversation, message.conversation_id)
    assert conversation is not None
    contact = session.get(Contact, conversation.contact_id)
    assert contact is not None and contact.name == "Jordan Brinks"


def test_a_photo_is_kept_as_a_reference_without_its_tco_link(
    app_client: TestClient, session: Session
) -> None:
    inbox = make_inbox(session)
    assert post(app_client, inbox, fixture_bytes("x", "message_with_media.json")).status_code == 200
    [message] = all_messages(session)
    assert message.content == "This is how it arrived"
    [photo] = message.attachments
    assert photo["kind"] == "media" and photo["media_type"] == "photo"
    assert photo["id"] == "1729518990188765184"
    assert photo["url"].endswith("/broken-lamp.jpg")


def test_our_own_replies_echoed_back_are_not_stored(
    app_client: TestClient, session: Session
) -> None:
    inbox = make_inbox(session)
    assert post(app_client, inbox, fixture_bytes("x", "echo.json")).status_code == 200
    assert all_messages(session) == []


def test_a_repeated_delivery_stores_one_message(app_client: TestClient, session: Session) -> None:
    inbox = make_inbox(session)
    seen = app_events(app_client)
    body = fixture_bytes("x", "message_create.json")
    assert post(app_client, inbox, body).status_code == 200
    assert post(app_client, inbox, body).status_code == 200
    assert len(all_messages(session)) == 1
    assert len([e for e in seen if e.type == "message.created"]) == 1


def test_a_forged_signature_is_refused_and_nothing_is_stored(
    app_client: TestClient, session: Session
) -> None:
    inbox = make_inbox(session)
    body = fixture_bytes("x", "message_create.json")
    forged = post(app_client, inbox, body, x_signature(body, "guessed-secret"))
    assert forged.status_code == 401
    tampered = body.replace(b"never arrived", b"arrived, refund me")
    assert post(app_client, inbox, tampered, x_signature(body)).status_code == 401
    hexed = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert post(app_client, inbox, body, hexed).status_code == 401
    unsigned = app_client.post(f"/webhooks/x/{inbox.id}", content=body)
    assert unsigned.status_code == 401
    assert all_messages(session) == []


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'["a list"]',
        b'{"for_user_id": "1458284524761075714", "direct_message_events": {"id": "1"}}',
        b'{"direct_message_events": [{"type": "message_create", "id": "9"}]}',
    ],
)
def test_a_body_x_would_not_send_is_400(
    app_client: TestClient, session: Session, body: bytes
) -> None:
    inbox = make_inbox(session)
    assert post(app_client, inbox, body).status_code == 400
    assert all_messages(session) == []


@pytest.mark.parametrize("name", ["favorite_events", "typing"])
def test_other_account_activity_is_acknowledged_and_not_stored(
    app_client: TestClient, session: Session, name: str
) -> None:
    inbox = make_inbox(session)
    response = post(app_client, inbox, fixture_bytes("x", f"{name}.json"))
    assert response.status_code == 200 and response.json() == {"ok": True}
    assert all_messages(session) == []


def test_activity_for_another_account_on_the_same_webhook_is_ignored(
    app_client: TestClient, session: Session
) -> None:
    inbox = make_inbox(session)
    payload = json.loads(fixture_bytes("x", "message_create.json"))
    payload["for_user_id"] = "999"
    assert post(app_client, inbox, json.dumps(payload).encode()).status_code == 200
    assert all_messages(session) == []


# -- messages out ----------------------------------------------------------------------------


MB = 1024 * 1024
DM_PREFIX, DM_SUFFIX = "/2/dm_conversations/with/", "/messages"
UPLOAD = "/2/media/upload"
# What X takes for a DM, by media category: the media types and the largest size.
DM_MEDIA = {
    "dm_image": ({"image/jpeg", "image/png", "image/webp"}, 5 * MB),
    "dm_gif": ({"image/gif"}, 15 * MB),
    "dm_video": ({"video/mp4"}, 512 * MB),
}


@dataclass
class Upload:
    """One media upload as X tracks it, from INIT to the DM that uses it."""

    media_type: str
    category: str
    total_bytes: int
    segments: list[bytes] = field(default_factory=list)
    finalized: bool = False
    # STATUS answers left before X has processed a video or GIF.
    processing: int = 0
    used: bool = False

    @property
    def data(self) -> bytes:
        return b"".join(self.segments)


def invalid(detail: str, status: int = 400) -> Answer:
    return status, json.dumps({"title": "Invalid Request", "detail": detail}).encode()


class XChecks:
    """What X checks, and what it was sent: the user's Bearer token on every request; a DM
    to the participant in the path with a text or one finalized, processed media of this
    account's that no DM used yet; an upload's INIT with a DM media category that fits its
    type and size, APPENDs in order adding up to total_bytes, FINALIZE before STATUS."""

    def __init__(self, processing: int = 0) -> None:
        # [participant, DM body] of each DM that went out.
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.uploads: dict[str, Upload] = {}
        # How many STATUS checks a video or GIF is still processing for after FINALIZE.
        self.processing = processing

    def __call__(self, path: str, headers: dict[str, str], body: bytes) -> Answer:
        if headers.get("authorization") != f"Bearer {TOKEN}":
            return 401, b'{"title": "Unauthorized", "type": "about:blank", "status": 401}'
        if path.startswith(DM_PREFIX) and path.endswith(DM_SUFFIX):
            return self.direct_message(path[len(DM_PREFIX) : -len(DM_SUFFIX)], headers, body)
        if path == f"{UPLOAD}/initialize":
            return self.initialize(headers, body)
        if path.startswith(f"{UPLOAD}?") and not body:
            return self.status(parse_qs(urlsplit(path).query))
        media_id, _, command = path.removeprefix(f"{UPLOAD}/").partition("/")
        upload = self.uploads.get(media_id)
        if path.startswith(f"{UPLOAD}/") and upload is None:
            return invalid(f"media {media_id} not found", 404)
        if upload is not None and command == "append":
            return self.append(upload, headers, body)
        if upload is not None and command == "finalize":
            return self.finalize(media_id, upload)
        return 404, b'{"title": "Not Found Error", "status": 404}'

    def direct_message(self, participant: str, headers: dict[str, str], body: bytes) -> Answer:
        if not headers.get("content-type", "").startswith("application/json"):
            return invalid("the body is not JSON")
        payload = json.loads(body)
        text, attachments = payload.get("text"), payload.get("attachments")
        if text is None and attachments is None:
            return invalid("a DM needs a text or an attachment")
        if text is not None and not (isinstance(text, str) and text):
            return invalid("text is not a non-empty string")
        if attachments is not None:
            if not isinstance(attachments, list) or len(attachments) != 1:
                return invalid("a DM carries one attachment")
            upload = self.uploads.get(str(attachments[0].get("media_id")))
            if upload is None:
                return invalid("media_id not found")
            if not upload.finalized or upload.processing:
                return invalid("media is not finalized and processed")
            if upload.used:
                return invalid("media that is not shared serves one DM")
            upload.used = True
        self.sent.append((participant, payload))
        event_id = str(1729530000000000000 + len(self.sent))
        data = {"dm_conversation_id": f"{JORDAN}-{US}", "dm_event_id": event_id}
        return 201, json.dumps({"data": data}).encode()

    def initialize(self, headers: dict[str, str], body: bytes) -> Answer:
        if not headers.get("content-type", "").startswith("application/json"):
            return invalid("the body is not JSON")
        payload = json.loads(body)
        media_type, total = payload.get("media_type"), payload.get("total_bytes")
        category = payload.get("media_category")
        if category not in DM_MEDIA or media_type not in DM_MEDIA[category][0]:
            return invalid(f"{media_type} cannot be uploaded as {category}")
        if not isinstance(total, int) or not 0 < total <= DM_MEDIA[category][1]:
            return invalid(f"total_bytes {total} is out of range for {category}")
        media_id = str(1880028106020515840 + len(self.uploads) + 1)
        processing = 0 if category == "dm_image" else self.processing
        self.uploads[media_id] = Upload(media_type, category, total, processing=processing)
        data = {"id": media_id, "media_key": f"3_{media_id}", "expires_after_secs": 86400}
        return 200, json.dumps({"data": data}).encode()

    def append(self, upload: Upload, headers: dict[str, str], body: bytes) -> Answer:
        fields = form_fields(headers, body)
        if fields is None or "media" not in fields or "segment_index" not in fields:
            return invalid("APPEND takes a multipart media and segment_index")
        segment = fields["media"].value
        if upload.finalized:
            return invalid("the upload is finalized")
        if fields["segment_index"].value != str(len(upload.segments)).encode():
            return invalid("segments must come in order")
        if len(segment) > 5 * MB or len(upload.data) + len(segment) > upload.total_bytes:
            return invalid("more bytes than total_bytes, or a segment over 5 MB")
        upload.segments.append(segment)
        return 200, b'{"data": {"expires_at": 1760000000}}'

    def finalize(self, media_id: str, upload: Upload) -> Answer:
        if len(upload.data) != upload.total_bytes:
            return invalid(f"got {len(upload.data)} of {upload.total_bytes} bytes")
        upload.finalized = True
        data: dict[str, Any] = {"id": media_id, "size": upload.total_bytes}
        if upload.category != "dm_image":
            state = "pending" if upload.processing else "succeeded"
            data["processing_info"] = {"state": state, "check_after_secs": 1}
        return 200, json.dumps({"data": data}).encode()

    def status(self, query: dict[str, list[str]]) -> Answer:
        upload = self.uploads.get(query.get("media_id", [""])[0])
        if query.get("command") != ["STATUS"] or upload is None or not upload.finalized:
            return invalid("STATUS of a media that is not finalized")
        upload.processing = max(0, upload.processing - 1)
        state = "in_progress" if upload.processing else "succeeded"
        info = {"state": state, "check_after_secs": 2, "progress_percent": 50}
        return 200, json.dumps({"data": {"processing_info": info}}).encode()


def outbound_to(session: Session, db: Database, api: StandIn, content: str) -> OutboundMessage:
    world = build_world(session)
    return outbound_reply(session, db, make_inbox(session, api.url), JORDAN, world.dana, content)


async def test_a_reply_reaches_the_customer_and_their_read_receipt_marks_it_read(
    session: Session, db: Database, settings: Settings
) -> None:
    x_api = XChecks()
    world = build_world(session)
    with standin_server() as api:
        api.check = x_api
        inbox = make_inbox(session, api.url)
        conversation = customer_writes(session, inbox, "Hi", who=JORDAN).conversation
        reply = do_reply(
            session=session, conversation=conversation, agent=world.dana, content="On its way!"
        )
        assert reply.id is not None
        async with httpx.AsyncClient() as http:
            await deliver(db, http, reply.id)
    assert x_api.sent == [(JORDAN, {"text": "On its way!"})]
    with db.session() as fresh:
        stored = fresh.get(Message, reply.id)
        assert stored is not None and stored.delivery == "sent"
        assert stored.external_id == "1729530000000000001"
    receipt = json.loads(fixture_bytes("x", "mark_read.json"))
    receipt["direct_message_mark_read_events"][0]["last_read_event_id"] = stored.external_id
    with TestClient(create_app(settings), base_url="http://testserver") as client:
        assert post(client, inbox, json.dumps(receipt).encode()).status_code == 200
    with db.session() as fresh:
        stored = fresh.get(Message, reply.id)
        assert stored is not None and stored.delivery == "read"


async def test_a_reply_longer_than_a_dm_goes_out_in_parts(session: Session, db: Database) -> None:
    x_api = XChecks()
    words = " ".join(f"word{i}" for i in range(2000))  # about 17,800 characters
    with standin_server() as api:
        api.check = x_api
        outbound = outbound_to(session, db, api, words)
        async with httpx.AsyncClient() as http:
            event_id = await x.XChannel().send(outbound, http)
    sent = [payload for _, payload in x_api.sent]
    assert len(sent) == 2 and all(len(p["text"]) <= 10_000 for p in sent)
    assert " ".join(p["text"] for p in sent) == words
    assert event_id == "1729530000000000002"


@pytest.mark.parametrize(
    ("answer", "permanent", "reason"),
    [
        ((503, b'{"title": "Service Unavailable", "status": 503}'), False, "503"),
        (
            (403, b'{"title": "Forbidden", "detail": "You cannot send messages to this user."}'),
            True,
            "You cannot send messages to this user.",
        ),
        ((201, b'{"errors": [{"message": "recipient not found"}]}'), True, "recipient not found"),
    ],
)
async def test_x_refusals_are_kept_with_their_reason(
    session: Session, db: Database, answer: Answer, permanent: bool, reason: str
) -> None:
    with standin_server() as api:
        api.check = lambda path, headers, body: answer
        outbound = outbound_to(session, db, api, "Hello")
        async with httpx.AsyncClient() as http:
            with pytest.raises(SendFailed) as failure:
                await x.XChannel().send(outbound, http)
    assert failure.value.permanent is permanent
    assert reason in str(failure.value)


async def test_a_rate_limit_says_when_to_come_back(session: Session, db: Database) -> None:
    reset = str(int(time.time()) + 60)
    with standin_server() as api:
        outbound = outbound_to(session, db, api, "Hello")
        async with httpx.AsyncClient() as http:
            api.check = lambda path, headers, body: (
                429,
                b'{"title": "Too Many Requests", "status": 429}',
                {"x-rate-limit-reset": reset, "x-rate-limit-remaining": "0"},
            )
            with pytest.raises(SendFailed) as by_reset:
                await x.XChannel().send(outbound, http)
            api.check = lambda path, headers, body: (429, b"{}", {"retry-after": "7"})
            with pytest.raises(SendFailed) as by_retry_after:
                await x.XChannel().send(outbound, http)
    assert not by_reset.value.permanent
    assert by_reset.value.retry_after is not None and 55 <= by_reset.value.retry_after <= 60
    assert by_retry_after.value.retry_after == 7.0


async def test_an_x_that_does_not_answer_in_time_is_a_timeout(
    session: Session, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(x, "TIMEOUT", 0.2)
    with standin_server() as api:
        api.delay = 1.0
        outbound = outbound_to(session, db, api, "Hello")
        async with httpx.AsyncClient() as http:
            with pytest.raises(SendFailed) as failure:
                await x.XChannel().send(outbound, http)
    # A SendFailed rather than httpx's error, so a reply in several DMs keeps what went out.
    assert not failure.value.permanent
    assert str(failure.value) == "X could not be reached (ReadTimeout)"


# -- files out -------------------------------------------------------------------------------

PHOTO = {
    "filename": "replacement-lamp.jpg",
    "content_type": "image/jpeg",
    "data": b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(range(256)) * 64,
}
LABEL = {
    "filename": "return-label.png",
    "content_type": "image/png",
    "data": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 16,
}
# Over X's 4 MB APPEND segment, so it goes up in three.
UNBOXING = {
    "filename": "unboxing.mp4",
    "content_type": "video/mp4",
    "data": b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * (36 * 1024),
}
CONTRACT = {"filename": "contract.pdf", "content_type": "application/pdf", "data": b"%PDF-1.7"}


def with_size(file: dict[str, Any]) -> dict[str, Any]:
    """The file as the outbox hands it to the adapter."""
    return file | {"size": len(file["data"])}


def reply_waiting(session: Session, api: StandIn, content: str, files: list[dict[str, Any]]) -> int:
    """Jordan wrote to the X inbox and Dana's reply with `files` waits in the outbox; its id."""
    world = build_world(session)
    inbox = make_inbox(session, api.url)
    customer_writes(session, inbox, "Hi", who=JORDAN)
    return reply(session, world, inbox, content, files)


def outbound_with(
    session: Session, db: Database, api: StandIn, content: str, files: list[dict[str, Any]]
) -> OutboundMessage:
    """Dana's reply with `files`, as the outbox hands it to the adapter."""
    outbound = load_outbound(db, reply_waiting(session, api, content, files))
    assert outbound is not None
    return outbound


def media_of(x_api: XChecks, dm: dict[str, Any]) -> bytes:
    """The bytes X got for the media a DM carries."""
    [attachment] = dm["attachments"]
    return x_api.uploads[attachment["media_id"]].data


class Waits:
    """An X channel's sleep that only records how long it was asked to wait."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


async def test_a_reply_with_an_image_goes_as_the_text_then_a_media_dm(
    session: Session, db: Database
) -> None:
    x_api = XChecks()
    with standin_server() as api:
        api.check = x_api
        reply_id = reply_waiting(session, api, "Here is the replacement", [PHOTO])
        async with httpx.AsyncClient() as http:
            await deliver(db, http, reply_id)
    assert [dm for _, dm in x_api.sent] == [
        {"text": "Here is the replacement"},
        {"attachments": [{"media_id": "1880028106020515841"}]},
    ]
    assert media_of(x_api, x_api.sent[1][1]) == PHOTO["data"]
    assert x_api.uploads["1880028106020515841"].category == "dm_image"
    shown = stored(db, reply_id)
    # The last DM's id: X's read receipt names the last message the customer saw.
    assert shown.delivery == "sent" and shown.external_id == "1729530000000000002"


async def test_a_reply_of_files_only_sends_only_the_files(session: Session, db: Database) -> None:
    x_api = XChecks()
    with standin_server() as api:
        api.check = x_api
        reply_id = reply_waiting(session, api, "", [PHOTO, LABEL])
        async with httpx.AsyncClient() as http:
            await deliver(db, http, reply_id)
    dms = [dm for _, dm in x_api.sent]
    assert all(list(dm) == ["attachments"] for dm in dms)
    assert [media_of(x_api, dm) for dm in dms] == [PHOTO["data"], LABEL["data"]]
    assert stored(db, reply_id).delivery == "sent"


async def test_a_video_is_sent_once_x_has_processed_it(session: Session, db: Database) -> None:
    x_api, waits = XChecks(processing=2), Waits()
    with standin_server() as api:
        api.check = x_api
        outbound = outbound_with(session, db, api, "", [UNBOXING])
        async with httpx.AsyncClient() as http:
            event_id = await x.XChannel(sleep=waits).send(outbound, http)
        paths = [r.path for r in api.received]
    media_id = "1880028106020515841"
    status = f"{UPLOAD}?command=STATUS&media_id={media_id}"
    assert paths == [
        f"{UPLOAD}/initialize",
        *[f"{UPLOAD}/{media_id}/append"] * 3,
        f"{UPLOAD}/{media_id}/finalize",
        status,  # still in progress
        status,  # succeeded
        f"{DM_PREFIX}{JORDAN}{DM_SUFFIX}",
    ]
    # As long as X said each time: one second after FINALIZE, two after the first STATUS.
    assert waits.seconds == [1.0, 2.0]
    assert x_api.uploads[media_id].category == "dm_video"
    assert media_of(x_api, x_api.sent[0][1]) == UNBOXING["data"]
    assert event_id == "1729530000000000001"


async def test_a_video_x_cannot_process_fails_for_good(session: Session, db: Database) -> None:
    def processing_fails(path: str, headers: dict[str, str], body: bytes) -> Answer:
        if path.endswith("/finalize"):
            info = {"state": "failed", "error": {"message": "Unsupported video codec"}}
            return 200, json.dumps({"data": {"id": "1", "processing_info": info}}).encode()
        return 200, b'{"data": {"id": "1"}}'

    with standin_server() as api:
        api.check = processing_fails
        outbound = outbound_with(session, db, api, "", [UNBOXING])
        async with httpx.AsyncClient() as http:
            with pytest.raises(SendFailed) as failure:
                await x.XChannel(sleep=Waits()).send(outbound, http)
        assert not any(r.path.endswith("/messages") for r in api.received)
    assert failure.value.permanent
    assert str(failure.value) == "X could not process unboxing.mp4: Unsupported video codec"


@pytest.mark.parametrize(
    ("fails", "answer"),
    [
        ("the DM", (503, b'{"title": "Service Unavailable", "status": 503}')),
        ("an APPEND", (429, b'{"title": "Too Many Requests"}', {"retry-after": "3"})),
    ],
)
async def test_a_retry_after_the_second_file_failed_sends_only_what_is_missing(
    session: Session, db: Database, fails: str, answer: Answer
) -> None:
    x_api = XChecks()
    failed: list[str] = []

    def second_file_fails_once(path: str, headers: dict[str, str], body: bytes) -> Answer:
        second_file = len(x_api.uploads) == 2 and not failed
        if second_file and fails == "the DM" and b'"attachments"' in body:
            failed.append(path)
            return answer
        if second_file and fails == "an APPEND" and path.endswith("/append"):
            failed.append(path)
            return answer
        return x_api(path, headers, body)

    with standin_server() as api:
        api.check = second_file_fails_once
        text = "Your replacement and the return label"
        outbound = outbound_with(session, db, api, text, [PHOTO, LABEL])
        async with httpx.AsyncClient() as http:
            with pytest.raises(SendFailed) as failure:
                await x.XChannel().send(outbound, http)
            assert failure.value.parts_sent is not None
            outbound.parts_sent = failure.value.parts_sent
            event_id = await x.XChannel().send(outbound, http)
    assert not failure.value.permanent and failed
    assert [name for name, _ in outbound.parts_sent] == ["text 1", "file 1"]
    # The text and the photo went out once; the label was uploaded again and sent once.
    dms = [dm for _, dm in x_api.sent]
    assert dms[0] == {"text": "Your replacement and the return label"}
    assert [media_of(x_api, dm) for dm in dms[1:]] == [PHOTO["data"], LABEL["data"]]
    assert len(x_api.uploads) == 3
    assert event_id == "1729530000000000003"


@pytest.mark.parametrize(
    ("file", "reason"),
    [
        (
            CONTRACT,
            "X direct messages carry images and MP4 video only: contract.pdf is application/pdf",
        ),
        (
            {"filename": "notes.txt", "content_type": "text/plain; charset=utf-8", "data": b"hi"},
            "X direct messages carry images and MP4 video only: notes.txt is text/plain",
        ),
        (
            {"filename": "scan.jpg", "content_type": "image/jpeg", "data": bytes(6 * MB)},
            "X direct messages carry images of at most 5 MB: scan.jpg is 6.0 MB",
        ),
        (
            {"filename": "dance.gif", "content_type": "image/gif", "data": bytes(16 * MB)},
            "X direct messages carry GIFs of at most 15 MB: dance.gif is 16.0 MB",
        ),
    ],
)
async def test_a_file_x_cannot_carry_fails_for_good_before_anything_goes_out(
    session: Session, db: Database, file: dict[str, Any], reason: str
) -> None:
    with standin_server() as api:
        api.check = XChecks()
        outbound = outbound_to(session, db, api, "Here you go")
        outbound.files = [with_size(PHOTO), with_size(file)]
        async with httpx.AsyncClient() as http:
            with pytest.raises(SendFailed) as failure:
                await x.XChannel().send(outbound, http)
        assert api.received == []
    assert failure.value.permanent
    assert str(failure.value) == reason


async def test_a_pdf_in_a_reply_marks_it_failed_with_the_reason(
    session: Session, db: Database
) -> None:
    with standin_server() as api:
        api.check = XChecks()
        reply_id = reply_waiting(session, api, "The contract", [CONTRACT])
        async with httpx.AsyncClient() as http:
            await deliver(db, http, reply_id)
        assert api.received == []
    shown = stored(db, reply_id)
    assert shown.delivery == "failed"
    assert shown.error == (
        "X direct messages carry images and MP4 video only: contract.pdf is application/pdf"
    )
