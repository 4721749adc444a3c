"""Twilio SMS and the voice menu (docs/channels/twilio.md), driven with Twilio's own payloads
and signatures, and outbound through a stand-in that checks what Twilio checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, parse_qsl

import httpx
import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from channels import twilio_channel
from channels.base import OutboundMessage, SendFailed
from channels.dispatch import deliver
from inbox.accounts import do_create_inbox
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
from tests.factories import World, build_world, customer_writes
from tests.standins import Answer, StandIn, standin_server

SID = "ACae0e1f1c3a2b4d5e6f708192a3b4c5d6"
TOKEN = "twilio-auth-token"
OUR_NUMBER = "+14155550100"
CALLER = "+15551234567"
STATUS_URL = "https://help.example.com/webhooks/twilio/1/sms"


def fixture(name: str, **changes: str) -> dict[str, str]:
    text = fixture_bytes("twilio", f"{name}.txt").decode().strip()
    return {**dict(parse_qsl(text, keep_blank_values=True)), **changes}


def make_inbox(session: Session, world: World, api_base: str = "https://api.twilio.com") -> Inbox:
    config = {
        "account_sid": SID,
        "auth_token": TOKEN,
        "phone_number": OUR_NUMBER,
        "api_base": api_base,
        "menu": [
            {"digit": "1", "label": "Billing", "team_id": world.billing.id},
            {"digit": "2", "label": "Technical support", "team_id": world.support.id},
        ],
    }
    return add_inbox(session, "Acme Phone", "twilio", config)


def post(
    client: TestClient,
    inbox: Inbox,
    subpath: str,
    fields: dict[str, str],
    *,
    token: str = TOKEN,
    signed_url: str | None = None,
) -> Any:
    """POST as Twilio does: the form, signed over the full URL and the sorted fields."""
    url = f"http://testserver/webhooks/twilio/{inbox.id}/{subpath}"
    signature = RequestValidator(token).compute_signature(signed_url or url, fields)
    return client.post(url, data=fields, headers={"x-twilio-signature": signature})


# -- SMS in ----------------------------------------------------------------------------------


def test_an_sms_is_stored_as_the_customers_text_and_answered_with_empty_twiml(
    app_client: TestClient, session: Session
) -> None:
    inbox = make_inbox(session, build_world(session))
    response = post(app_client, inbox, "sms", fixture("sms"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml")
    assert response.text.endswith("<Response />")
    [message] = all_messages(session)
    assert message.content == "Hi, my invoice shows the wrong amount & VAT. <b>help</b>"
    assert message.external_id == "SM1f0e8ae6ade43cb3c0ce4525424e404f"
    assert message.inbox_id == inbox.id and message.kind == "incoming"
    conversation = session.get(Conversation, message.conversation_id)
    assert conversation is not None
    contact = session.get(Contact, conversation.contact_id)
    assert contact is not None and contact.phone == CALLER


def test_an_mms_keeps_its_media_as_references(app_client: TestClient, session: Session) -> None:
    inbox = make_inbox(session, build_world(session))
    assert post(app_client, inbox, "sms", fixture("mms")).status_code == 200
    [message] = all_messages(session)
    assert message.content == ""
    assert [(a["kind"], a["content_type"]) for a in message.attachments] == [
        ("media", "image/jpeg"),
        ("media", "application/pdf"),
    ]
    assert message.attachments[0]["url"].endswith("/Media/ME0b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a")


def test_a_repeated_sms_is_stored_once(app_client: TestClient, session: Session) -> None:
    inbox = make_inbox(session, build_world(session))
    seen = app_events(app_client)
    first = post(app_client, inbox, "sms", fixture("sms"))
    again = post(app_client, inbox, "sms", fixture("sms"))
    assert first.status_code == again.status_code == 200
    assert len(all_messages(session)) == 1
    created = [e for e in seen if e.type == "message.created"]
    assert len(created) == 1


def test_a_forged_signature_is_refused_and_nothing_is_stored(
    app_client: TestClient, session: Session
) -> None:
    inbox = make_inbox(session, build_world(session))
    wrong_token = post(app_client, inbox, "sms", fixture("sms"), token="not-the-token")
    assert wrong_token.status_code == 401
    # Signed for another of our URLs: Twilio signs the URL too, so it does not carry over.
    other_url = f"http://testserver/webhooks/twilio/{inbox.id}/voice/menu"
    moved = post(app_client, inbox, "sms", fixture("sms"), signed_url=other_url)
    assert moved.status_code == 401
    # A changed field after signing.
    url = f"http://testserver/webhooks/twilio/{inbox.id}/sms"
    fields = fixture("sms")
    signature = RequestValidator(TOKEN).compute_signature(url, fields)
    tampered = app_client.post(
        url, data={**fields, "Body": "Refund me"}, headers={"x-twilio-signature": signature}
    )
    assert tampered.status_code == 401
    unsigned = app_client.post(url, data=fields)
    assert unsigned.status_code == 401
    assert all_messages(session) == []


def test_a_webhook_signed_with_a_shared_key_is_accepted_with_that_keys_secret(
    app_client: TestClient, session: Session
) -> None:
    inbox = make_inbox(session, build_world(session))
    inbox.config = {**inbox.config, "shared_keys": {"webhooks_sharedkey_01": "shared-secret"}}
    session.add(inbox)
    session.commit()
    url = f"http://testserver/webhooks/twilio/{inbox.id}/sms"
    fields = fixture("sms")
    signature = RequestValidator("shared-secret").compute_signature(url, fields, "HMAC_SHA256")
    headers = {
        "x-twilio-signature": signature,
        twilio_channel.SIGNATURE_SETTINGS: "key=webhooks_sharedkey_01,algorithm=HMAC_SHA256",
    }
    assert app_client.post(url, data=fields, headers=headers).status_code == 200
    unknown = {**headers, twilio_channel.SIGNATURE_SETTINGS: "key=other,algorithm=HMAC_SHA256"}
    refused = app_client.post(url, data={**fields, "MessageSid": "SMx"}, headers=unknown)
    assert refused.status_code == 401
    assert len(all_messages(session)) == 1


def test_a_body_twilio_would_not_send_is_400(app_client: TestClient, session: Session) -> None:
    inbox = make_inbox(session, build_world(session))
    no_sid = fixture("sms")
    del no_sid["MessageSid"], no_sid["SmsSid"]
    assert post(app_client, inbox, "sms", no_sid).status_code == 400
    bad_count = fixture("mms", NumMedia="two")
    assert post(app_client, inbox, "sms", bad_count).status_code == 400
    assert post(app_client, inbox, "fax", fixture("sms")).status_code == 400
    assert post(app_client, inbox, "", fixture("sms")).status_code == 400
    assert app_client.get(f"/webhooks/twilio/{inbox.id}/sms").status_code == 405
    assert all_messages(session) == []


def test_a_status_twilio_reports_that_says_nothing_new_is_ignored(
    app_client: TestClient, session: Session
) -> None:
    inbox = make_inbox(session, build_world(session))
    response = post(app_client, inbox, "sms", fixture("status_queued"))
    assert response.status_code == 200
    assert all_messages(session) == []


# -- voice -----------------------------------------------------------------------------------


def test_a_call_hears_the_menu_twice_then_goodbye_and_nothing_is_stored(
    app_client: TestClient, session: Session
) -> None:
    inbox = make_inbox(session, build_world(session))
    response = post(app_client, inbox, "voice", fixture("voice"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    action = f"http://testserver/webhooks/twilio/{inbox.id}/voice/menu"
    gather = f'<Gather action="{action}" method="POST" numDigits="1" timeout="5">'
    assert response.text.count(gather) == 2
    assert (
        "<Say>Thank you for calling Acme Phone. Press 1 for Billing. "
        "Press 2 for Technical support.</Say>"
    ) in response.text
    assert response.text.endswith(
        "<Say>We did not receive a choice. Goodbye.</Say><Hangup /></Response>"
    )
    assert all_messages(session) == []


def test_pressing_a_menu_digit_books_a_callback_for_that_team_once(
    app_client: TestClient, session: Session
) -> None:
    world = build_world(session)
    inbox = make_inbox(session, world)
    customer_writes(session, inbox, "Earlier text", who=CALLER)
    first = post(app_client, inbox, "voice/menu", fixture("voice_menu"))
    assert first.status_code == 200
    assert "A teammate will call you back shortly" in first.text
    assert first.text.endswith("<Hangup /></Response>")
    again = post(app_client, inbox, "voice/menu", fixture("voice_menu"))
    assert again.status_code == 200
    callbacks = [
        m for m in all_messages(session) if m.external_id == f"{fixture('voice')['CallSid']}:menu"
    ]
    assert len(callbacks) == 1
    assert callbacks[0].content == f"Callback requested: Billing (pressed 1) from {CALLER}"
    conversation = session.get(Conversation, callbacks[0].conversation_id)
    assert conversation is not None
    # Its own case for the team the caller chose, apart from the earlier text conversation.
    assert conversation.team_id == world.billing.id
    assert len(session.exec(select(Conversation)).all()) == 2


def test_an_unknown_digit_replays_the_menu_and_stores_nothing(
    app_client: TestClient, session: Session
) -> None:
    inbox = make_inbox(session, build_world(session))
    response = post(app_client, inbox, "voice/menu", fixture("voice_menu", Digits="7"))
    assert response.status_code == 200
    assert "<Say>Sorry, 7 is not one of the options. Press 1 for Billing." in response.text
    assert "Thank you for calling" not in response.text
    assert all_messages(session) == []


def test_a_hidden_number_cannot_book_a_callback(app_client: TestClient, session: Session) -> None:
    inbox = make_inbox(session, build_world(session))
    response = post(app_client, inbox, "voice/menu", fixture("voice_menu_withheld"))
    assert response.status_code == 200
    assert "your number is hidden" in response.text
    assert all_messages(session) == []


def test_an_inbox_without_a_menu_still_offers_a_callback(
    app_client: TestClient, session: Session
) -> None:
    inbox = do_create_inbox(
        session=session,
        name="Hotline",
        channel="twilio",
        config={"account_sid": SID, "auth_token": TOKEN, "phone_number": OUR_NUMBER},
    )
    session.commit()
    menu = post(app_client, inbox, "voice", fixture("voice"))
    assert "Press 1 for a callback." in menu.text
    assert post(app_client, inbox, "voice/menu", fixture("voice_menu")).status_code == 200
    [message] = all_messages(session)
    assert message.content.startswith("Callback requested: a callback (pressed 1)")


# -- SMS out ---------------------------------------------------------------------------------


# Twilio's limits on an MMS (docs/channels/twilio.md): ten files, 5 MB together.
TWILIO_MAX_MEDIA = 10
TWILIO_MAX_MMS_BYTES = 5_000_000


def twilio_api(
    messages_sent: list[dict[str, list[str]]], media_fetched: list[list[Fetched]] | None = None
) -> Any:
    """What Twilio checks: the account's Messages.json, Basic auth with sid and token, a form
    with To, From and a Body or media. Like Twilio, it fetches each MediaUrl itself (HEAD,
    then GET) before it accepts a message, and refuses one with more than ten, one that does
    not answer 200 with a content type, or more than 5 MB of them; what it fetched, per
    accepted message, goes to `media_fetched`."""
    expected_auth = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    fields = {"To", "From", "Body", "StatusCallback", "MediaUrl"}

    def check(path: str, headers: dict[str, str], body: bytes) -> Answer:
        if path != f"/2010-04-01/Accounts/{SID}/Messages.json":
            return 404, b'{"code": 20404, "message": "The requested resource was not found"}'
        if not hmac.compare_digest(headers.get("authorization", ""), expected_auth):
            return 401, b'{"code": 20003, "message": "Authenticate", "status": 401}'
        if not headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return 400, b'{"code": 21603, "message": "not a form"}'
        form = parse_qs(body.decode())
        if not {"To", "From"} <= set(form) <= fields or not {"Body", "MediaUrl"} & set(form):
            return 400, b'{"code": 21602, "message": "Message body is required"}'
        if len(form.get("Body", [""])[0]) > 1600:
            return 400, b'{"code": 21617, "message": "The concatenated message body is too long"}'
        if len(form.get("MediaUrl", [])) > TWILIO_MAX_MEDIA:
            return 400, b'{"code": 21623, "message": "Number of media files exceeds limit"}'
        fetched: list[Fetched] = []
        for url in form.get("MediaUrl", []):
            got = fetch_media(url)
            if isinstance(got, bytes):
                return 400, got
            fetched.append(got)
        if sum(len(f.data) for f in fetched) > TWILIO_MAX_MMS_BYTES:
            return 400, b'{"code": 11751, "message": "Media exceeds size limit"}'
        messages_sent.append(form)
        if media_fetched is not None:
            media_fetched.append(fetched)
        sid = "SM" + hashlib.md5(body).hexdigest()
        return 201, f'{{"sid": "{sid}", "status": "queued"}}'.encode()

    return check


@dataclass(frozen=True)
class Fetched:
    """A file Twilio fetched from a MediaUrl."""

    content_type: str
    content_disposition: str
    data: bytes


def fetch_media(url: str) -> Fetched | bytes:
    """The file at `url` as Twilio fetches it, or the error body Twilio would answer."""
    failure = b'{"code": 11200, "message": "HTTP retrieval failure"}'
    try:
        with httpx.Client(timeout=5.0) as client:
            head = client.head(url)
            got = client.get(url)
    except httpx.HTTPError:
        return failure
    if head.status_code != 200 or got.status_code != 200:
        return failure
    content_type = got.headers.get("content-type", "")
    if not content_type or head.headers.get("content-type") != content_type:
        return b'{"code": 12300, "message": "Invalid Content-Type"}'
    return Fetched(content_type, got.headers.get("content-disposition", ""), got.content)


def outbound_to(session: Session, db: Database, api: StandIn, content: str) -> OutboundMessage:
    world = build_world(session)
    inbox = make_inbox(session, world, api.url)
    return outbound_reply(session, db, inbox, CALLER, world.bob, content)


async def test_a_reply_is_sent_as_twilio_expects_and_receipts_move_it_on(
    session: Session, db: Database, settings: Settings
) -> None:
    sent: list[dict[str, list[str]]] = []
    world = build_world(session)
    with standin_server() as api:
        api.check = twilio_api(sent)
        inbox = make_inbox(session, world, api.url)
        conversation = customer_writes(session, inbox, "Hi", who=CALLER).conversation
        replies = [
            do_reply(session=session, conversation=conversation, agent=world.bob, content=text)
            for text in ("Fixed, sorry!", "Anything else?")
        ]
        async with httpx.AsyncClient() as http:
            for reply in replies:
                assert reply.id is not None
                await deliver(db, http, reply.id)
    assert sent[0] == {"To": [CALLER], "From": [OUR_NUMBER], "Body": ["Fixed, sorry!"]}
    sids = []
    with db.session() as fresh:
        for reply in replies:
            stored = fresh.get(Message, reply.id)
            assert stored is not None and stored.delivery == "sent"
            assert stored.external_id is not None and stored.external_id.startswith("SM")
            sids.append(stored.external_id)
    # Twilio's status callbacks move them on, or mark one failed with the carrier's code.
    with TestClient(create_app(settings), base_url="http://testserver") as client:
        delivered = fixture("status_delivered", MessageSid=sids[0], SmsSid=sids[0])
        assert post(client, inbox, "sms", delivered).status_code == 200
        undelivered = fixture("status_undelivered", MessageSid=sids[1], SmsSid=sids[1])
        assert post(client, inbox, "sms", undelivered).status_code == 200
    with db.session() as fresh:
        first, second = (fresh.get(Message, reply.id) for reply in replies)
        assert first is not None and first.delivery == "delivered"
        assert second is not None and second.delivery == "failed"
        assert second.error == "Twilio: undelivered, error 30003"


async def test_a_long_reply_goes_out_in_parts_twilio_accepts(
    session: Session, db: Database
) -> None:
    sent: list[dict[str, list[str]]] = []
    words = " ".join(f"word{i}" for i in range(500))  # about 4,400 characters
    with standin_server() as api:
        api.check = twilio_api(sent)
        outbound = outbound_to(session, db, api, words)
        outbound.inbox.config = {**outbound.inbox.config, "status_callback": STATUS_URL}
        async with httpx.AsyncClient() as http:
            sid = await twilio_channel.TwilioChannel().send(outbound, http)
    assert len(sent) == 3 and sid is not None
    assert " ".join(part["Body"][0] for part in sent) == words
    # Each part asks Twilio to report its delivery to the inbox's webhook.
    assert all(part["StatusCallback"] == [STATUS_URL] for part in sent)


@pytest.mark.parametrize(
    ("answer", "permanent", "retry_after", "reason"),
    [
        ((500, b'{"code": 20500, "message": "Internal Server Error"}'), False, None, "20500"),
        (
            (400, b'{"code": 21211, "message": "Invalid \'To\' Phone Number", "status": 400}'),
            True,
            None,
            "error 21211: Invalid 'To' Phone Number",
        ),
        (
            (400, b'{"code": 21610, "message": "Attempt to send to unsubscribed recipient"}'),
            True,
            None,
            "error 21610",
        ),
        (
            (429, b'{"code": 20429, "message": "Too Many Requests"}', {"retry-after": "3"}),
            False,
            3.0,
            "20429",
        ),
    ],
)
async def test_twilio_refusals_are_kept_with_their_reason(
    session: Session,
    db: Database,
    answer: Answer,
    permanent: bool,
    retry_after: float | None,
    reason: str,
) -> None:
    with standin_server() as api:
        api.check = lambda path, headers, body: answer
        outbound = outbound_to(session, db, api, "Hello")
        async with httpx.AsyncClient() as http:
            with pytest.raises(SendFailed) as failure:
                await twilio_channel.TwilioChannel().send(outbound, http)
    assert failure.value.permanent is permanent
    assert failure.value.retry_after == retry_after
    assert reason in str(failure.value)


async def test_a_twilio_that_does_not_answer_in_time_is_a_timeout(
    session: Session, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(twilio_channel, "TIMEOUT", 0.2)
    with standin_server() as api:
        api.delay = 1.0
        outbound = outbound_to(session, db, api, "Hello")
        async with httpx.AsyncClient() as http:
            with pytest.raises(httpx.TimeoutException):
                await twilio_channel.TwilioChannel().send(outbound, http)
