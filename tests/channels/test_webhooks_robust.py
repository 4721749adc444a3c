"""Every provider webhook, fed bodies no provider would send but correctly signed: the answer
is 400 (or 200 for something it does not handle), never a 500, and nothing is stored.
Unsigned, each is 401; a GET is never a 500 either."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import pytest
from sqlmodel import Session, func, select
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from inbox.accounts import do_create_inbox
from inbox.models import Conversation, Message

SECRET = "robust-secret-1"
Signer = Callable[[str, bytes], dict[str, str]]


def _slack(url: str, body: bytes) -> dict[str, str]:
    stamp = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256)
    return {"x-slack-request-timestamp": stamp, "x-slack-signature": "v0=" + digest.hexdigest()}


def _telegram(url: str, body: bytes) -> dict[str, str]:
    return {"x-telegram-bot-api-secret-token": SECRET}


def _meta(url: str, body: bytes) -> dict[str, str]:
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"x-hub-signature-256": f"sha256={digest}"}


def _x(url: str, body: bytes) -> dict[str, str]:
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).digest()
    return {"x-twitter-webhooks-signature": "sha256=" + base64.b64encode(digest).decode()}


def _twilio(url: str, body: bytes) -> dict[str, str]:
    # Twilio signs the URL and the form fields, as the adapter reads them from the body.
    try:
        fields = dict(parse_qsl(body.decode(), keep_blank_values=True))
    except UnicodeDecodeError:
        fields = {}
    return {
        "x-twilio-signature": RequestValidator(SECRET).compute_signature(url, fields),
        "content-type": "application/x-www-form-urlencoded",
    }


def _email(url: str, body: bytes) -> dict[str, str]:
    token = base64.b64encode(f"handoff:{SECRET}".encode()).decode()
    return {"authorization": f"Basic {token}"}


CHANNELS: dict[str, tuple[dict[str, Any], str, Signer]] = {
    "slack": ({"signing_secret": SECRET, "bot_token": "xoxb-1", "channel_id": "C1"}, "", _slack),
    "telegram": ({"bot_token": "1:A", "secret_token": SECRET}, "", _telegram),
    "whatsapp": (
        {"app_secret": SECRET, "verify_token": "v", "phone_number_id": "1", "access_token": "t"},
        "",
        _meta,
    ),
    "messenger": (
        {"app_secret": SECRET, "verify_token": "v", "page_id": "1", "page_access_token": "t"},
        "",
        _meta,
    ),
    "x": ({"consumer_secret": SECRET, "access_token": "t", "account_id": "1"}, "", _x),
    "twilio": (
        {"auth_token": SECRET, "account_sid": "AC1", "phone_number": "+1555"},
        "sms",
        _twilio,
    ),
    "email": ({"address": "help@acme.example", "webhook_secret": SECRET}, "", _email),
}

BODIES: list[bytes] = [
    b"",
    b"null",
    b"[]",
    b"{}",
    b"42",
    b'"text"',
    b'{"entry": 5, "object": "page"}',
    b'{"entry": [{"changes": [{"value": {"messages": [{"type": "text"}]}}]}]}',
    b'{"entry": [{"messaging": [{"message": null, "sender": 7}]}], "object": "page"}',
    b'{"type": "event_callback", "event": {"type": "message", "text": 5}, "event_id": 9}',
    b'{"update_id": "x", "message": {"chat": null, "text": ["a"]}}',
    b'{"direct_message_events": [{"type": "message_create", "message_create": 1}]}',
    b'{"direct_message_events": "nope", "for_user_id": 1}',
    b"\xff\xfe\x00garbage\x80",
    b"[" * 5000 + b"]" * 5000,
    b"Body=&From=&MessageSid=",
    b"From: \r\n\r\nno sender",
]


def _utf8(body: bytes) -> bool:
    try:
        body.decode()
    except UnicodeDecodeError:
        return False
    return True


@pytest.mark.parametrize("channel", sorted(CHANNELS))
def test_signed_nonsense_is_refused_cleanly_and_stores_nothing(
    app_client: TestClient, session: Session, channel: str
) -> None:
    config, subpath, sign = CHANNELS[channel]
    inbox = do_create_inbox(session=session, name=channel, channel=channel, config=config)
    session.commit()
    path = f"/webhooks/{channel}/{inbox.id}" + (f"/{subpath}" if subpath else "")
    url = f"http://testserver{path}"
    for body in BODIES:
        answer = app_client.post(path, content=body, headers=sign(url, body))
        # slack-sdk's verifier reads the body as UTF-8: bytes that are not cannot be checked.
        unverifiable = channel == "slack" and not _utf8(body)
        expected = (401,) if unverifiable else (200, 400)
        assert answer.status_code in expected, (channel, body[:60], answer.text)
        if answer.status_code == 400:
            assert answer.json()["error"]["message"], "a 400 says what is wrong"
        unsigned = app_client.post(path, content=body)
        assert unsigned.status_code == 401, (channel, body[:60], unsigned.text)
    assert app_client.get(path).status_code < 500
    assert app_client.get(path + "?hub.mode=subscribe&crc_token=").status_code < 500
    stored = session.exec(select(func.count()).select_from(Message)).one()
    opened = session.exec(select(func.count()).select_from(Conversation)).one()
    assert (stored, opened) == (0, 0)


def test_an_unknown_channel_or_inbox_is_a_404(app_client: TestClient, session: Session) -> None:
    inbox = do_create_inbox(
        session=session, name="tg", channel="telegram", config={"secret_token": SECRET}
    )
    session.commit()
    assert app_client.post("/webhooks/fax/1", content=b"{}").status_code == 404
    assert app_client.post("/webhooks/telegram/999999", content=b"{}").status_code == 404
    # An inbox of another channel: the id alone must not route a Slack event to Telegram.
    assert app_client.post(f"/webhooks/slack/{inbox.id}", content=b"{}").status_code == 404


def test_a_body_over_the_limit_is_a_413(app_client: TestClient, session: Session) -> None:
    inbox = do_create_inbox(
        session=session, name="tg", channel="telegram", config={"secret_token": SECRET}
    )
    session.commit()
    big = b"{" + b" " * (1024 * 1024 + 10) + b"}"
    answer = app_client.post(
        f"/webhooks/telegram/{inbox.id}",
        content=big,
        headers={"x-telegram-bot-api-secret-token": SECRET},
    )
    assert answer.status_code == 413 and "larger than 1 MiB" in answer.text
