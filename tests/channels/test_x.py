"""X direct messages (docs/channels/x.md), driven with Account Activity API payloads signed
as X signs them, and outbound through a stand-in that checks what X checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import pytest
from sqlmodel import Session
from starlette.testclient import TestClient

from channels import x
from channels.base import OutboundMessage, SendFailed
from channels.dispatch import deliver
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
)
from tests.factories import build_world, customer_writes
from tests.standins import Answer, StandIn, standin_server

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


def x_api(sent: list[tuple[str, Any]]) -> Any:
    """What X checks: the participant in the path, the user's Bearer token, a JSON text."""

    def check(path: str, headers: dict[str, str], body: bytes) -> Answer:
        prefix, suffix = "/2/dm_conversations/with/", "/messages"
        if not (path.startswith(prefix) and path.endswith(suffix)):
            return 404, b'{"title": "Not Found Error", "status": 404}'
        if headers.get("authorization") != f"Bearer {TOKEN}":
            return 401, b'{"title": "Unauthorized", "type": "about:blank", "status": 401}'
        payload = json.loads(body)
        if not headers.get("content-type", "").startswith("application/json") or not isinstance(
            payload.get("text"), str
        ):
            return 400, b'{"title": "Invalid Request", "status": 400}'
        participant = path[len(prefix) : -len(suffix)]
        sent.append((participant, payload))
        event_id = str(1729530000000000000 + len(sent))
        data = {"dm_conversation_id": f"{JORDAN}-{US}", "dm_event_id": event_id}
        return 201, json.dumps({"data": data}).encode()

    return check


def outbound_to(session: Session, db: Database, api: StandIn, content: str) -> OutboundMessage:
    world = build_world(session)
    return outbound_reply(session, db, make_inbox(session, api.url), JORDAN, world.dana, content)


async def test_a_reply_reaches_the_customer_and_their_read_receipt_marks_it_read(
    session: Session, db: Database, settings: Settings
) -> None:
    sent: list[tuple[str, Any]] = []
    world = build_world(session)
    with standin_server() as api:
        api.check = x_api(sent)
        inbox = make_inbox(session, api.url)
        conversation = customer_writes(session, inbox, "Hi", who=JORDAN).conversation
        reply = do_reply(
            session=session, conversation=conversation, agent=world.dana, content="On its way!"
        )
        assert reply.id is not None
        async with httpx.AsyncClient() as http:
            await deliver(db, http, reply.id)
    assert sent == [(JORDAN, {"text": "On its way!"})]
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
    sent: list[tuple[str, Any]] = []
    words = " ".join(f"word{i}" for i in range(2000))  # about 17,800 characters
    with standin_server() as api:
        api.check = x_api(sent)
        outbound = outbound_to(session, db, api, words)
        async with httpx.AsyncClient() as http:
            event_id = await x.XChannel().send(outbound, http)
    assert len(sent) == 2 and all(len(p["text"]) <= 10_000 for _, p in sent)
    assert " ".join(p["text"] for _, p in sent) == words
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
            with pytest.raises(httpx.TimeoutException):
                await x.XChannel().send(outbound, http)
