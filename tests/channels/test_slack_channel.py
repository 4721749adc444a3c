"""Slack as a support channel (docs/channels/slack.md): Events API payloads as Slack sends
them, signed with the app's signing secret, and replies through chat.postMessage to a local
stand-in that checks what Slack checks."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl

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


def web_api(standin: StandIn) -> Any:
    """chat.postMessage as Slack checks it: the bot token as a Bearer token, a JSON or form
    body naming a channel the bot is in and a text; `ok` and the new message's ts back."""

    def check(path: str, headers: dict[str, str], body: bytes) -> Answer:
        if path != "/api/chat.postMessage":
            return 404, b'{"ok": false, "error": "unknown_method"}'
        if headers.get("authorization") != f"Bearer {TOKEN}":
            return 200, b'{"ok": false, "error": "invalid_auth"}'
        content_type = headers.get("content-type", "")
        if content_type.startswith("application/json"):
            data = json.loads(body)
        elif content_type.startswith("application/x-www-form-urlencoded"):
            data = dict(parse_qsl(body.decode()))
        else:
            return 200, b'{"ok": false, "error": "invalid_form_data"}'
        if data.get("channel") != CHANNEL:
            return 200, b'{"ok": false, "error": "channel_not_found"}'
        if not data.get("text"):
            return 200, b'{"ok": false, "error": "no_text"}'
        ts = f"1763290{len(standin.received):03d}.000100"
        message = {"type": "message", "text": data["text"], "bot_id": "B0HANDOFF", "ts": ts}
        if data.get("thread_ts"):
            message["thread_ts"] = data["thread_ts"]
        return 200, json.dumps(
            {"ok": True, "channel": CHANNEL, "ts": ts, "message": message}
        ).encode()

    return check


@pytest.fixture
def slack() -> Iterator[StandIn]:
    with standin_server() as standin:
        standin.check = web_api(standin)
        yield standin


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
