"""Slack as a support channel (docs/channels/slack.md): Events API payloads as Slack sends
them, signed with the app's signing secret, and replies through chat.postMessage and the
external file upload to a local stand-in that checks what Slack checks."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from sqlmodel import Session, select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from channels.base import WebhookRequest
from channels.dispatch import deliver
from channels.intake import take_in
from channels.slack_channel import SlackChannel
from inbox.accounts import do_create_inbox
from inbox.clock import utcnow
from inbox.db import Database
from inbox.models import Contact, Inbox, OutboxEntry
from tests.channels.helpers import conversations_of, fixture_json, messages_of, reply, stored
from tests.factories import World, build_world
from tests.standins import Answer, StandIn, standin_server
from web.state import AppState

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TOKEN = "xoxb-1111-2222-handoffsupport"
CHANNEL = "C0SUPPORT"
ROOT_TS = "1763280000.000100"


def signed(body: bytes, *, secret: str = SECRET, at: int | None = None) -> dict[str, str]:
    """Slack's v0 signature: HMAC-SHA256 of `v0:{timestamp}:{body}` with the signing secret."""
    timestamp = str(at if at is not None else int(time.time()))
    base = b"v0:" + timestamp.encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {
        "content-type": "application/json",
        "x-slack-request-timestamp": timestamp,
        "x-slack-signature": f"v0={digest}",
    }


def arguments(query: str, headers: dict[str, str], body: bytes) -> dict[str, Any] | None:
    """A Web API call's arguments, from the query string and a JSON or form body as Slack
    reads them; None for a body Slack refuses."""
    data: dict[str, Any] = dict(parse_qsl(query))
    content_type = headers.get("content-type", "")
    if content_type.startswith("application/json"):
        data |= json.loads(body)
    elif content_type.startswith("application/x-www-form-urlencoded") or not body:
        data |= dict(parse_qsl(body.decode()))
    else:
        return None
    return data


@dataclass
class Upload:
    filename: str
    length: int
    data: bytes | None = None


@dataclass
class SharedFile:
    name: str
    title: str
    data: bytes
    channel: str
    thread_ts: str


class FakeSlack:
    """chat.postMessage and the external upload as Slack checks them: the bot token as a
    Bearer token, a channel the bot is in, a text; an upload_url (on the stand-in) for a
    filename and a length, the bytes posted there of that length, then the file id completed
    into a channel's thread. Files completed land in `shared`."""

    def __init__(self, standin: StandIn) -> None:
        self.standin = standin
        self.uploads: dict[str, Upload] = {}
        self.shared: list[SharedFile] = []

    def check(self, path: str, headers: dict[str, str], body: bytes) -> Answer:
        url = urlsplit(path)
        if url.path.startswith("/upload/v1/"):
            # The upload_url is signed by its path: no token.
            return self.receive_bytes(url.path.removeprefix("/upload/v1/"), body)
        if headers.get("authorization") != f"Bearer {TOKEN}":
            return 200, b'{"ok": false, "error": "invalid_auth"}'
        data = arguments(url.query, headers, body)
        if data is None:
            return 200, b'{"ok": false, "error": "invalid_form_data"}'
        methods = {
            "/api/chat.postMessage": self.post_message,
            "/api/files.getUploadURLExternal": self.upload_url,
            "/api/files.completeUploadExternal": self.complete_upload,
        }
        method = methods.get(url.path)
        if method is None:
            return 404, b'{"ok": false, "error": "unknown_method"}'
        return 200, json.dumps(method(data)).encode()

    def post_message(self, data: dict[str, Any]) -> dict[str, Any]:
        if data.get("channel") != CHANNEL:
            return {"ok": False, "error": "channel_not_found"}
        if not data.get("text"):
            return {"ok": False, "error": "no_text"}
        ts = f"1763290{len(self.standin.received):03d}.000100"
        message = {"type": "message", "text": data["text"], "bot_id": "B0HANDOFF", "ts": ts}
        if data.get("thread_ts"):
            message["thread_ts"] = data["thread_ts"]
        return {"ok": True, "channel": CHANNEL, "ts": ts, "message": message}

    def upload_url(self, data: dict[str, Any]) -> dict[str, Any]:
        length = str(data.get("length") or "")
        if not data.get("filename") or not length.isdigit() or int(length) == 0:
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F0UPLOAD{len(self.uploads):03d}"
        self.uploads[file_id] = Upload(str(data["filename"]), int(length))
        upload_url = f"{self.standin.url}/upload/v1/{file_id}"
        return {"ok": True, "upload_url": upload_url, "file_id": file_id}

    def receive_bytes(self, file_id: str, body: bytes) -> Answer:
        upload = self.uploads.get(file_id)
        if upload is None:
            return 404, b"no such upload"
        upload.data = body
        return 200, f"OK - {len(body)}".encode(), {"content-type": "text/plain"}

    def complete_upload(self, data: dict[str, Any]) -> dict[str, Any]:
        files = json.loads(str(data.get("files") or "[]"))
        if not isinstance(files, list) or not files:
            return {"ok": False, "error": "invalid_arguments"}
        if data.get("channel_id") != CHANNEL:
            return {"ok": False, "error": "channel_not_found"}
        if not data.get("thread_ts"):
            return {"ok": False, "error": "invalid_arguments"}  # Handoff always replies in a thread
        uploads = [self.uploads.get(str(f.get("id"))) for f in files]
        if any(u is None or u.data is None for u in uploads):
            return {"ok": False, "error": "file_not_found"}
        if any(u is not None and u.data is not None and len(u.data) != u.length for u in uploads):
            return {"ok": False, "error": "file_upload_size_mismatch"}
        for file, upload in zip(files, uploads, strict=True):
            assert upload is not None and upload.data is not None
            title = str(file.get("title") or upload.filename)
            shared = SharedFile(upload.filename, title, upload.data, CHANNEL, data["thread_ts"])
            self.shared.append(shared)
        return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in files]}


@pytest.fixture
def slack_api() -> Iterator[FakeSlack]:
    with standin_server() as standin:
        fake = FakeSlack(standin)
        standin.check = fake.check
        yield fake


@pytest.fixture
def slack(slack_api: FakeSlack) -> StandIn:
    return slack_api.standin


def slack_inbox(session: Session, slack: StandIn) -> Inbox:
    inbox = do_create_inbox(
        session=session,
        name="Acme shared channel",
        channel="slack",
        config={
            "bot_token": TOKEN,
            "signing_secret": SECRET,
            "channel_id": CHANNEL,
            "api_base": f"{slack.url}/api/",
        },
    )
    session.commit()
    return inbox


def post_event(client: TestClient, inbox: Inbox, payload: dict[str, Any], **headers: str) -> Any:
    body = json.dumps(payload).encode()
    return client.post(
        f"/webhooks/slack/{inbox.id}", content=body, headers={**signed(body), **headers}
    )


def receive(db: Database, inbox: Inbox, name: str) -> None:
    """What the webhook route does with a delivery, without the app (and its own sender)."""
    body = json.dumps(fixture_json("slack", f"{name}.json")).encode()
    request = WebhookRequest("POST", "http://testserver/", "", signed(body), {}, body)
    adapter = SlackChannel()
    adapter.verify(request, inbox)
    assert inbox.id is not None
    take_in(db, inbox.id, adapter.parse(request, inbox))


# -- receiving ---------------------------------------------------------------------------


def test_url_verification_is_answered_with_the_challenge(
    app_client: TestClient, session: Session, slack: StandIn
) -> None:
    inbox = slack_inbox(session, slack)
    response = post_event(app_client, inbox, fixture_json("slack", "url_verification.json"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {
        "challenge": fixture_json("slack", "url_verification.json")["challenge"]
    }
    assert messages_of(session, inbox) == []


def test_a_top_level_message_starts_a_conversation_with_the_slack_user(
    app_client: TestClient, session: Session, slack: StandIn
) -> None:
    inbox = slack_inbox(session, slack)
    response = post_event(app_client, inbox, fixture_json("slack", "message.json"))
    assert response.status_code == 200, response.text
    [message] = messages_of(session, inbox)
    # Slack's entities are read back: the agent sees what the customer typed.
    assert message.content == (
        "Our invoices page answers 500 since this morning & we can't download any PDF <urgent>"
    )
    assert message.external_id == ROOT_TS
    contact = session.get(Contact, conversations_of(session, inbox)[0].contact_id)
    assert contact is not None and contact.name == "Priya Raman"


def test_a_threaded_reply_joins_its_threads_conversation_and_a_new_message_starts_another(
    app_client: TestClient, session: Session, slack: StandIn
) -> None:
    inbox = slack_inbox(session, slack)
    post_event(app_client, inbox, fixture_json("slack", "message.json"))
    # Another person of the customer's team answers in the thread: same conversation.
    assert (
        post_event(app_client, inbox, fixture_json("slack", "thread_reply.json")).status_code == 200
    )
    [conversation] = conversations_of(session, inbox)
    assert [m.content for m in messages_of(session, inbox)] == [
        "Our invoices page answers 500 since this morning & we can't download any PDF <urgent>",
        "Same for me, invoice INV-2291 in particular.",
    ]
    # Priya posts something new at the top level: a thread, and so a conversation, of its own.
    second = fixture_json("slack", "message.json")
    second["event_id"] = "Ev0PRIYA002"
    second["event"].update(ts="1763283600.000100", text="And can you add Marcus as admin?")
    assert post_event(app_client, inbox, second).status_code == 200
    first, new = conversations_of(session, inbox)
    assert first.id == conversation.id and new.contact_id == first.contact_id
    assert [m.conversation_id for m in messages_of(session, inbox)] == [first.id] * 2 + [new.id]


def test_a_reply_in_a_thread_handoff_never_saw_starts_its_own_conversation(
    app_client: TestClient, session: Session, slack: StandIn
) -> None:
    inbox = slack_inbox(session, slack)
    other = fixture_json("slack", "message.json")
    other["event_id"] = "Ev0MARCUS00"
    other["event"].update(user="U0MARCUS", ts="1763200000.000100", user_profile=None)
    post_event(app_client, inbox, other)
    # Marcus answers in a thread from before the inbox existed: not in his other conversation.
    post_event(app_client, inbox, fixture_json("slack", "thread_reply.json"))
    assert len(conversations_of(session, inbox)) == 2
    contact = session.get(Contact, conversations_of(session, inbox)[1].contact_id)
    # Without a user_profile in the event, the contact is known by the Slack user id.
    assert contact is not None and contact.name == "U0MARCUS"


def test_slacks_retries_of_an_event_change_nothing(
    app_client: TestClient, session: Session, slack: StandIn
) -> None:
    inbox = slack_inbox(session, slack)
    assert post_event(app_client, inbox, fixture_json("slack", "message.json")).status_code == 200
    retry = post_event(
        app_client,
        inbox,
        fixture_json("slack", "message.json"),
        **{"x-slack-retry-num": "1", "x-slack-retry-reason": "http_timeout"},
    )
    assert retry.status_code == 200
    assert len(messages_of(session, inbox)) == 1


def test_an_edited_message_updates_the_stored_one_and_shows_it_was_edited(
    app_client: TestClient, session: Session, slack: StandIn
) -> None:
    inbox = slack_inbox(session, slack)
    post_event(app_client, inbox, fixture_json("slack", "message.json"))
    assert (
        post_event(app_client, inbox, fixture_json("slack", "message_changed.json")).status_code
        == 200
    )
    [message] = messages_of(session, inbox)
    assert (
        message.content == "Our invoices page answers 500 since 9:00 CET; no PDF downloads at all"
    )
    assert message.edited


def test_a_shared_file_is_kept_as_a_reference_without_downloading_it(
    app_client: TestClient, session: Session, slack: StandIn
) -> None:
    inbox = slack_inbox(session, slack)
    post_event(app_client, inbox, fixture_json("slack", "message.json"))
    assert (
        post_event(app_client, inbox, fixture_json("slack", "file_share.json")).status_code == 200
    )
    first, shared = messages_of(session, inbox)
    assert shared.conversation_id == first.conversation_id
    assert shared.content == "[file: invoice-error.png]"
    [attachment] = shared.attachments
    assert attachment["name"] == "invoice-error.png"
    assert attachment["mimetype"] == "image/png"
    assert attachment["url_private"] == (
        "https://files.slack.com/files-pri/T0ACME-F0SCREENSHOT/invoice-error.png"
    )
    assert slack.received == []  # nothing fetched


@pytest.mark.parametrize(
    "name", ["our_reply_echo", "bot_message", "channel_join", "other_channel", "reaction_added"]
)
def test_bots_joins_other_channels_and_other_events_are_acknowledged_and_not_stored(
    app_client: TestClient, session: Session, slack: StandIn, name: str
) -> None:
    inbox = slack_inbox(session, slack)
    response = post_event(app_client, inbox, fixture_json("slack", f"{name}.json"))
    assert response.status_code == 200
    assert messages_of(session, inbox) == []


@pytest.mark.parametrize(
    "headers",
    [
        {"x-slack-signature": "v0=" + "0" * 64},
        {"x-slack-signature": ""},
        {"x-slack-request-timestamp": ""},
        {"x-slack-request-timestamp": "yesterday"},
    ],
)
def test_a_request_slack_did_not_sign_is_refused(
    app_client: TestClient, session: Session, slack: StandIn, headers: dict[str, str]
) -> None:
    inbox = slack_inbox(session, slack)
    body = json.dumps(fixture_json("slack", "message.json")).encode()
    response = app_client.post(
        f"/webhooks/slack/{inbox.id}", content=body, headers={**signed(body), **headers}
    )
    assert response.status_code == 401
    assert messages_of(session, inbox) == []


def test_a_signature_older_than_five_minutes_is_refused(
    app_client: TestClient, session: Session, slack: StandIn
) -> None:
    inbox = slack_inbox(session, slack)
    body = json.dumps(fixture_json("slack", "message.json")).encode()
    stale = signed(body, at=int(time.time()) - 6 * 60)
    assert app_client.post(
        f"/webhooks/slack/{inbox.id}", content=body, headers=stale
    ).status_code == (401)
    other_secret = signed(body, secret="not-the-signing-secret")
    response = app_client.post(f"/webhooks/slack/{inbox.id}", content=body, headers=other_secret)
    assert response.status_code == 401
    assert messages_of(session, inbox) == []


def test_a_body_slack_would_never_send_is_a_400(
    app_client: TestClient, session: Session, slack: StandIn
) -> None:
    inbox = slack_inbox(session, slack)
    for body in (b"not json", b"[1, 2]", b'{"type": "event_callback", "event": "message"}'):
        response = app_client.post(
            f"/webhooks/slack/{inbox.id}", content=body, headers=signed(body)
        )
        assert response.status_code == 400, body
    assert messages_of(session, inbox) == []


def test_the_escalation_buttons_endpoint_is_still_slacks_interactivity_route(
    app_client: TestClient, session: Session, slack: StandIn
) -> None:
    slack_inbox(session, slack)
    # Not read as an inbox id: the interactivity route answers (and refuses the unsigned call).
    response = app_client.post("/webhooks/slack/interactive", content=b"payload=%7B%7D")
    assert response.status_code == 401


# -- sending -----------------------------------------------------------------------------


def customer_thread(session: Session, db: Database, slack: StandIn) -> tuple[World, Inbox]:
    w = build_world(session)
    inbox = slack_inbox(session, slack)
    receive(db, inbox, "message")
    return w, inbox


async def test_a_reply_is_posted_in_the_customers_thread_with_the_bot_token(
    session: Session, db: Database, slack: StandIn
) -> None:
    w, inbox = customer_thread(session, db, slack)
    message_id = reply(session, w, inbox, "Thanks Priya & team: <b>no</b> PDF is lost.")
    async with httpx.AsyncClient() as http:
        await deliver(db, http, message_id)
    [posted] = slack.received
    assert posted.path == "/api/chat.postMessage"
    assert posted.headers["authorization"] == f"Bearer {TOKEN}"
    sent = posted.json()
    assert (sent["channel"], sent["thread_ts"]) == (CHANNEL, ROOT_TS)
    # Slack reads &, < and > as markup: the agent's words are escaped to show as typed.
    assert sent["text"] == "Thanks Priya &amp; team: &lt;b&gt;no&lt;/b&gt; PDF is lost."
    shown = stored(db, message_id)
    assert shown.delivery == "sent" and shown.external_id == "1763290001.000100"


async def test_later_replies_stay_in_the_same_thread(
    session: Session, db: Database, slack: StandIn
) -> None:
    w, inbox = customer_thread(session, db, slack)
    first = reply(session, w, inbox, "Looking into it.")
    async with httpx.AsyncClient() as http:
        await deliver(db, http, first)
        receive(db, inbox, "thread_reply")
        second = reply(session, w, inbox, "Found it: a broken PDF renderer, fixed now.")
        await deliver(db, http, second)
    assert [r.json()["thread_ts"] for r in slack.received] == [ROOT_TS, ROOT_TS]
    # Our own reply coming back as an event is not taken for the customer's.
    receive(db, inbox, "our_reply_echo")
    kinds = [m.kind for m in messages_of(session, inbox) if m.kind != "activity"]
    assert kinds == ["incoming", "outgoing", "incoming", "outgoing"]


async def test_a_reply_longer_than_slack_takes_goes_out_in_parts_in_order(
    session: Session, db: Database, slack: StandIn
) -> None:
    w, inbox = customer_thread(session, db, slack)
    words = [f"step{n}" for n in range(6500)]  # about 57,000 characters
    message_id = reply(session, w, inbox, " ".join(words))
    async with httpx.AsyncClient() as http:
        await deliver(db, http, message_id)
    parts = [r.json()["text"] for r in slack.received]
    assert len(parts) == 2 and all(len(p) <= 40_000 for p in parts)
    assert " ".join(parts).split(" ") == words
    assert {r.json()["thread_ts"] for r in slack.received} == {ROOT_TS}
    assert stored(db, message_id).delivery == "sent"


async def test_a_rate_limited_reply_waits_as_long_as_slack_asks(
    session: Session, db: Database, slack: StandIn
) -> None:
    w, inbox = customer_thread(session, db, slack)
    message_id = reply(session, w, inbox, "On it.")
    slack.check = lambda path, headers, body: (
        429,
        b'{"ok": false, "error": "ratelimited"}',
        {"retry-after": "30"},
    )
    async with httpx.AsyncClient() as http:
        await deliver(db, http, message_id)
    shown = stored(db, message_id)
    assert shown.delivery == "pending"
    assert shown.error is not None and "Slack refused: ratelimited" in shown.error
    with db.session() as fresh:
        entry = fresh.exec(select(OutboxEntry).where(OutboxEntry.message_id == message_id)).one()
    assert entry.next_attempt_at - utcnow() > timedelta(seconds=25)


async def test_an_outage_page_is_tried_again(
    session: Session, db: Database, slack: StandIn
) -> None:
    w, inbox = customer_thread(session, db, slack)
    message_id = reply(session, w, inbox, "On it.")
    check = slack.check
    slack.check = lambda path, headers, body: (503, b"<html>upstream connect error</html>")
    async with httpx.AsyncClient() as http:
        await deliver(db, http, message_id)
        assert stored(db, message_id).delivery == "pending"
        slack.check = check
        await deliver(db, http, message_id)
    assert stored(db, message_id).delivery == "sent"


@pytest.mark.parametrize("error", ["channel_not_found", "not_in_channel", "invalid_auth"])
async def test_a_reply_slack_will_never_take_fails_at_once_with_slacks_reason(
    session: Session, db: Database, slack: StandIn, error: str
) -> None:
    w, inbox = customer_thread(session, db, slack)
    message_id = reply(session, w, inbox, "On it.")
    slack.check = lambda path, headers, body: (
        200,
        json.dumps({"ok": False, "error": error}).encode(),
    )
    async with httpx.AsyncClient() as http:
        await deliver(db, http, message_id)
    shown = stored(db, message_id)
    assert shown.delivery == "failed"
    assert shown.error == f"Slack refused: {error}"


async def test_a_wrong_bot_token_is_refused_by_the_stand_in_as_by_slack(
    session: Session, db: Database, slack: StandIn
) -> None:
    w, inbox = customer_thread(session, db, slack)
    inbox.config = {**inbox.config, "bot_token": "xoxb-revoked"}
    session.add(inbox)
    session.commit()
    message_id = reply(session, w, inbox, "On it.")
    async with httpx.AsyncClient() as http:
        await deliver(db, http, message_id)
    assert stored(db, message_id).error == "Slack refused: invalid_auth"


def test_end_to_end_a_slack_message_and_the_agents_reply_in_its_thread(
    app_client: TestClient, session: Session, slack: StandIn
) -> None:
    w = build_world(session)
    inbox = slack_inbox(session, slack)
    post_event(app_client, inbox, fixture_json("slack", "message.json"))
    # Replied through the app's database, whose bus wakes the app's own outbox worker.
    assert isinstance(app_client.app, Starlette)
    handoff: AppState = app_client.app.state.handoff
    with handoff.db.session() as app_session:
        reply(app_session, w, inbox, "We see it too; a fix is on its way.")
    [posted] = slack.wait_for(1, timeout=3)
    assert posted.json()["thread_ts"] == ROOT_TS


async def test_slack_out_of_reach_is_tried_again(
    session: Session, db: Database, slack: StandIn
) -> None:
    w, inbox = customer_thread(session, db, slack)
    inbox.config = {**inbox.config, "api_base": "http://127.0.0.1:9/api/"}
    session.add(inbox)
    session.commit()
    message_id = reply(session, w, inbox, "On it.")
    async with httpx.AsyncClient() as http:
        await deliver(db, http, message_id)
    shown = stored(db, message_id)
    assert shown.delivery == "pending"
    assert shown.error is not None and "Slack could not be reached" in shown.error


# -- sending files -----------------------------------------------------------------------

INVOICE = {
    "filename": "invoice INV-2291.pdf",
    "content_type": "application/pdf",
    "data": b"%PDF-1.4 invoice",
}
SCREENSHOT = {"filename": "fixed.png", "content_type": "image/png", "data": b"\x89PNG\r\n\x1a\n"}


async def test_a_reply_with_files_posts_the_text_then_each_file_in_the_thread(
    session: Session, db: Database, slack_api: FakeSlack
) -> None:
    w, inbox = customer_thread(session, db, slack_api.standin)
    text = "Here is the corrected invoice & a screenshot."
    message_id = reply(session, w, inbox, text, [INVOICE, SCREENSHOT])
    async with httpx.AsyncClient() as http:
        await deliver(db, http, message_id)
    [posted] = [r for r in slack_api.standin.received if r.path == "/api/chat.postMessage"]
    assert posted.json()["text"] == "Here is the corrected invoice &amp; a screenshot."
    assert posted.json()["thread_ts"] == ROOT_TS
    shared = slack_api.shared
    assert [(f.name, f.data) for f in shared] == [
        ("invoice INV-2291.pdf", INVOICE["data"]),
        ("fixed.png", SCREENSHOT["data"]),
    ]
    assert {(f.channel, f.thread_ts) for f in shared} == {(CHANNEL, ROOT_TS)}
    shown = stored(db, message_id)
    assert shown.delivery == "sent" and shown.external_id == "1763290001.000100"


async def test_a_reply_of_files_only_posts_no_message(
    session: Session, db: Database, slack_api: FakeSlack
) -> None:
    w, inbox = customer_thread(session, db, slack_api.standin)
    message_id = reply(session, w, inbox, "", [INVOICE])
    async with httpx.AsyncClient() as http:
        await deliver(db, http, message_id)
    assert all(r.path != "/api/chat.postMessage" for r in slack_api.standin.received)
    [shared] = slack_api.shared
    assert (shared.name, shared.data, shared.thread_ts) == (
        "invoice INV-2291.pdf",
        INVOICE["data"],
        ROOT_TS,
    )
    shown = stored(db, message_id)
    # Slack shares a file after answering: the reply is known by the file's id.
    assert shown.delivery == "sent" and shown.external_id == "F0UPLOAD000"


async def test_a_retry_after_the_second_file_failed_sends_only_that_file(
    session: Session, db: Database, slack_api: FakeSlack
) -> None:
    w, inbox = customer_thread(session, db, slack_api.standin)
    message_id = reply(session, w, inbox, "Both files attached.", [INVOICE, SCREENSHOT])
    completed = 0

    def second_file_rate_limited(path: str, headers: dict[str, str], body: bytes) -> Answer:
        nonlocal completed
        if path.startswith("/api/files.completeUploadExternal"):
            completed += 1
            if completed == 2:
                return 429, b'{"ok": false, "error": "ratelimited"}', {"retry-after": "20"}
        return slack_api.check(path, headers, body)

    slack_api.standin.check = second_file_rate_limited
    async with httpx.AsyncClient() as http:
        await deliver(db, http, message_id)
        shown = stored(db, message_id)
        assert shown.delivery == "pending"
        assert shown.error is not None and "Slack refused: ratelimited" in shown.error
        await deliver(db, http, message_id)
    posted = [r for r in slack_api.standin.received if r.path == "/api/chat.postMessage"]
    assert len(posted) == 1
    assert [f.name for f in slack_api.shared] == ["invoice INV-2291.pdf", "fixed.png"]
    assert stored(db, message_id).delivery == "sent"
