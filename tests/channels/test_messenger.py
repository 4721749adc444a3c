"""Messenger and Instagram (docs/channels/messenger.md): Meta's real payloads in, `/me/messages`
out."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from channels.base import Parsed, SendFailed
from channels.dispatch import deliver
from channels.intake import take_in
from channels.messenger import MessengerChannel
from inbox.db import Database
from inbox.events import Event
from inbox.models import ContactIdentity, Conversation, Message
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
)
from tests.factories import build_world
from tests.standins import Answer, StandIn, standin_server

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
    # Messenger's read receipt is a watermark time: it does not say which messages.
    assert parse(db, inbox_id, "read.json").deliveries == []
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


# --- sending --------------------------------------------------------------------------------


def graph_checks(standin: StandIn, answer: Answer | None = None) -> None:
    """What Graph checks: `/me/messages`, the page token, the Send API body."""

    def check(path: str, headers: dict[str, str], body: bytes) -> Answer:
        url = urlsplit(path)
        if parse_qs(url.query).get("access_token") != [PAGE_TOKEN]:
            return 400, graph_error("Invalid OAuth access token - Cannot parse access token", 190)
        if url.path != "/v21.0/me/messages":
            return 400, graph_error("Unknown path components: /messagez", 2500)
        sent = json.loads(body)
        if (
            sent.get("recipient") != {"id": PSID}
            or sent.get("messaging_type") != "RESPONSE"
            or not sent.get("message", {}).get("text")
            or len(sent["message"]["text"]) > 2000
        ):
            return 400, graph_error("(#100) Invalid parameter", 100)
        if answer is not None:
            return answer
        return 200, json.dumps({"recipient_id": PSID, "message_id": SENT_MID}).encode()

    standin.check = check


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
