"""Replies leave through their conversation's channel after the commit, and the outcome shows."""

from __future__ import annotations

import hashlib
import hmac

import httpx
from sqlmodel import Session, select

from channels.dispatch import deliver, pending_ids
from inbox.accounts import do_update_inbox
from inbox.conversations import do_reply
from inbox.db import Database
from inbox.models import Message
from tests.factories import build_world, customer_writes
from tests.standins import standin_server


def signed_by(secret: str, body: bytes, signature: str) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


async def test_api_channel_reply_is_posted_signed(session: Session, db: Database) -> None:
    w = build_world(session)
    secret = str(w.api.config["secret"])
    with standin_server() as hook:
        hook.check = lambda path, headers, body: (
            (200, b"{}")
            if signed_by(secret, body, headers.get("x-handoff-signature", ""))
            else (401, b'{"error": "bad signature"}')
        )
        do_update_inbox(
            session=session, inbox=w.api, changes={"config": {"webhook_url": hook.url + "/hook"}}
        )
        session.commit()
        c = customer_writes(session, w.api, "hello", who="partner-user-7").conversation
        reply = do_reply(session=session, conversation=c, agent=w.dana, content="Hi there")
        assert reply.id is not None and pending_ids(db) == [reply.id]
        async with httpx.AsyncClient() as http:
            await deliver(db, http, reply.id)
        assert len(hook.received) == 1
        sent = hook.received[0].json()
        assert sent["message"]["content"] == "Hi there"
        assert sent["contact"]["identifier"] == "partner-user-7"
    with db.session() as fresh:
        stored = fresh.get(Message, reply.id)
        assert stored is not None and stored.delivery == "sent"
    assert pending_ids(db) == []


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
