"""Replies leave through their conversation's channel after the commit, and the outcome shows."""

from __future__ import annotations

import base64
import hashlib
import hmac

import httpx
from sqlmodel import Session, select

from channels.dispatch import deliver, pending_ids
from inbox.accounts import do_update_inbox
from inbox.conversations import do_reply
from inbox.db import Database
from inbox.models import Message
from tests.factories import World, build_world, customer_writes
from tests.standins import Answer, StandIn, standin_server


def signed_by(secret: str, body: bytes, signature: str) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def partner_hook(session: Session, w: World, hook: StandIn) -> None:
    """The API inbox posts to `hook`, which accepts only bodies signed with its secret."""
    secret = str(w.api.config["secret"])

    def check(path: str, headers: dict[str, str], body: bytes) -> Answer:
        if signed_by(secret, body, headers.get("x-handoff-signature", "")):
            return 200, b"{}"
        return 401, b'{"error": "bad signature"}'

    hook.check = check
    do_update_inbox(
        session=session, inbox=w.api, changes={"config": {"webhook_url": hook.url + "/hook"}}
    )
    session.commit()


async def test_api_channel_reply_is_posted_signed(session: Session, db: Database) -> None:
    w = build_world(session)
    with standin_server() as hook:
        partner_hook(session, w, hook)
        c = customer_writes(session, w.api, "hello", who="partner-user-7").conversation
        reply = do_reply(session=session, conversation=c, agent=w.dana, content="Hi there")
        assert reply.id is not None and pending_ids(db) == [reply.id]
        async with httpx.AsyncClient() as http:
            await deliver(db, http, reply.id)
        assert len(hook.received) == 1
        sent = hook.received[0].json()
        assert sent["message"]["content"] == "Hi there"
        assert sent["message"]["attachments"] == []
        assert sent["contact"]["identifier"] == "partner-user-7"
    with db.session() as fresh:
        stored = fresh.get(Message, reply.id)
        assert stored is not None and stored.delivery == "sent"
    assert pending_ids(db) == []


async def test_an_agents_files_reach_the_partner_in_the_signed_body(
    session: Session, db: Database
) -> None:
    w = build_world(session)
    invoice = bytes(range(256)) * 4  # every byte value, as a PDF or an image has them
    with standin_server() as hook:
        partner_hook(session, w, hook)
        c = customer_writes(session, w.api, "hello").conversation
        reply = do_reply(
            session=session,
            conversation=c,
            agent=w.dana,
            content="",
            files=[
                {"filename": "faktura.pdf", "content_type": "application/pdf", "data": invoice},
                {"filename": "notes.txt", "content_type": "text/plain", "data": b"ship Monday"},
            ],
        )
        assert reply.id is not None
        async with httpx.AsyncClient() as http:
            await deliver(db, http, reply.id)
        [received] = hook.received
    attachments = received.json()["message"]["attachments"]
    assert [(a["filename"], a["content_type"], a["size"]) for a in attachments] == [
        ("faktura.pdf", "application/pdf", len(invoice)),
        ("notes.txt", "text/plain", 11),
    ]
    assert base64.b64decode(attachments[0]["data_base64"]) == invoice
    assert base64.b64decode(attachments[1]["data_base64"]) == b"ship Monday"
    with db.session() as fresh:
        stored = fresh.get(Message, reply.id)
        # "sent": the partner's stand-in checked the signature over the body with the files.
        assert stored is not None and stored.delivery == "sent"


async def test_a_refused_send_is_marked_failed_with_the_reason(
    session: Session, db: Database
) -> None:
    w = build_world(session)
    with standin_server() as hook:
        hook.check = lambda path, headers, body: (400, b'{"error": "unknown user"}')
        do_update_inbox(session=session, inbox=w.api, changes={"config": {"webhook_url": hook.url}})
        session.commit()
        c = customer_writes(session, w.api, "hello").conversation
        reply = do_reply(session=session, conversation=c, agent=w.dana, content="Hi")
        assert reply.id is not None
        async with httpx.AsyncClient() as http:
            await deliver(db, http, reply.id)
    with db.session() as fresh:
        stored = fresh.exec(select(Message).where(Message.id == reply.id)).one()
    # A 400 will not get better by trying again: failed at once, with the partner's words.
    assert stored.delivery == "failed"
    assert stored.error == 'webhook answered 400: {"error": "unknown user"}'


async def test_webchat_replies_are_sent_over_the_widget_socket(
    session: Session, db: Database
) -> None:
    w = build_world(session)
    c = customer_writes(session, w.webchat, "hello").conversation
    reply = do_reply(session=session, conversation=c, agent=w.dana, content="Hi")
    assert reply.id is not None
    async with httpx.AsyncClient() as http:
        await deliver(db, http, reply.id)
    with db.session() as fresh:
        stored = fresh.get(Message, reply.id)
        assert stored is not None and stored.delivery == "sent"
