"""The durable outbox: retries with backoff, Retry-After, the failed state, Retry, restarts.

Driven through the generic API channel against a local stand-in that can be told to fail.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlmodel import Session, select

from channels import api_channel
from channels.dispatch import deliver, pending_ids, run_dispatcher
from inbox.accounts import do_update_inbox
from inbox.clock import utcnow
from inbox.conversations import do_reply
from inbox.db import Database
from inbox.delivery import do_edit_inbound, do_update_delivery
from inbox.errors import InvalidInput
from inbox.models import Conversation, Message, OutboxEntry
from inbox.outbox import RetryPolicy, attempts_of, claim_due, do_retry_delivery
from tests.channels.helpers import stored
from tests.factories import World, build_world, customer_writes
from tests.standins import StandIn, standin_server

FAST = RetryPolicy(max_attempts=3, first_delay=0.05, longest=0.2, lease=30)


def _reply(session: Session, w: World, hook: StandIn, text: str = "Hi there") -> int:
    do_update_inbox(session=session, inbox=w.api, changes={"config": {"webhook_url": hook.url}})
    session.commit()
    c = customer_writes(session, w.api, "hello", who="partner-1").conversation
    reply = do_reply(session=session, conversation=c, agent=w.dana, content=text)
    assert reply.id is not None
    return reply.id


def _entry(db: Database, message_id: int) -> OutboxEntry:
    with db.session() as fresh:
        return fresh.exec(select(OutboxEntry).where(OutboxEntry.message_id == message_id)).one()


async def test_a_reply_is_written_to_the_outbox_with_its_message(
    session: Session, db: Database
) -> None:
    w = build_world(session)
    with standin_server() as hook:
        message_id = _reply(session, w, hook)
    entry = _entry(db, message_id)
    assert entry.state == "pending" and entry.attempts == 0
    assert pending_ids(db) == [message_id]


async def test_an_outage_is_retried_with_backoff_until_it_goes_through(
    session: Session, db: Database
) -> None:
    w = build_world(session)
    with standin_server() as hook:
        answers = iter([(503, b"maintenance"), (502, b"bad gateway"), (200, b"{}")])
        hook.check = lambda path, headers, body: next(answers)
        message_id = _reply(session, w, hook)
        async with httpx.AsyncClient() as http:
            await deliver(db, http, message_id, FAST)
            first = _entry(db, message_id)
            assert first.state == "pending" and first.attempts == 1
            assert first.next_attempt_at > utcnow()
            shown = stored(db, message_id)
            assert shown.delivery == "pending"
            assert shown.error is not None and shown.error == (
                "Attempt 1 failed (webhook answered 503: maintenance); trying again in a moment"
            )
            await deliver(db, http, message_id, FAST)
            await deliver(db, http, message_id, FAST)
    assert len(hook.received) == 3
    final = stored(db, message_id)
    assert final.delivery == "sent" and final.error is None
    with db.session() as fresh:
        attempts = attempts_of(fresh, message_id)
    assert [a.ok for a in attempts] == [False, False, True]
    assert attempts[0].error == "webhook answered 503: maintenance"


async def test_the_backoff_doubles_and_honours_retry_after() -> None:
    policy = RetryPolicy(first_delay=2.0, longest=600.0)
    waits = [policy.delay(n) for n in (1, 2, 3, 4)]
    for wait, base in zip(waits, (2, 4, 8, 16), strict=True):
        assert base * 0.8 <= wait <= base * 1.2
    assert policy.delay(1, retry_after=30) == 30
    assert policy.delay(1, retry_after=10_000) == 600, "capped at the longest wait"


async def test_a_rate_limit_waits_as_long_as_the_provider_asks(
    session: Session, db: Database
) -> None:
    w = build_world(session)
    with standin_server() as hook:
        hook.check = lambda path, headers, body: (429, b"{}", {"retry-after": "7"})
        message_id = _reply(session, w, hook)
        before = utcnow()
        async with httpx.AsyncClient() as http:
            await deliver(db, http, message_id, RetryPolicy(first_delay=0.05))
    entry = _entry(db, message_id)
    assert entry.state == "pending"
    wait = (entry.next_attempt_at - before).total_seconds()
    assert 6.5 < wait < 9, wait
    with db.session() as fresh:
        [attempt] = attempts_of(fresh, message_id)
    assert attempt.retry_after_seconds == 7


async def test_a_refusal_fails_at_once_and_retry_sends_it_again(
    session: Session, db: Database
) -> None:
    w = build_world(session)
    with standin_server() as hook:
        refusing = True
        hook.check = lambda path, headers, body: (
            (422, b'{"error": "unknown contact"}') if refusing else (200, b"{}")
        )
        message_id = _reply(session, w, hook)
        async with httpx.AsyncClient() as http:
            await deliver(db, http, message_id, FAST)
            failed = stored(db, message_id)
            assert failed.delivery == "failed"
            assert failed.error == 'webhook answered 422: {"error": "unknown contact"}'
            assert _entry(db, message_id).attempts == 1, "a 4xx is not retried"
            await deliver(db, http, message_id, FAST)
            assert len(hook.received) == 1, "a failed entry is not sent by the worker"

            refusing = False
            with db.session() as s:
                message = s.get(Message, message_id)
                assert message is not None
                do_retry_delivery(session=s, message=message, actor=w.dana)
            assert stored(db, message_id).delivery == "pending"
            await deliver(db, http, message_id, FAST)
    assert stored(db, message_id).delivery == "sent"
    with db.session() as fresh:
        assert [a.ok for a in attempts_of(fresh, message_id)] == [False, True]


async def test_only_a_failed_message_can_be_retried(session: Session, db: Database) -> None:
    w = build_world(session)
    with standin_server() as hook:
        message_id = _reply(session, w, hook)
    message = session.get(Message, message_id)
    assert message is not None
    with pytest.raises(InvalidInput):
        do_retry_delivery(session=session, message=message, actor=w.dana)


async def test_too_many_failures_mark_the_message_failed(session: Session, db: Database) -> None:
    w = build_world(session)
    with standin_server() as hook:
        hook.check = lambda path, headers, body: (500, b"down")
        message_id = _reply(session, w, hook)
        async with httpx.AsyncClient() as http:
            for _ in range(FAST.max_attempts + 2):
                await deliver(db, http, message_id, FAST)
    assert len(hook.received) == FAST.max_attempts
    final = stored(db, message_id)
    assert final.delivery == "failed" and final.error == "webhook answered 500: down"


async def test_a_provider_that_does_not_answer_times_out_and_is_retried(
    session: Session, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api_channel, "SEND_TIMEOUT", 0.1)
    w = build_world(session)
    with standin_server() as hook:
        hook.delay = 0.5
        message_id = _reply(session, w, hook)
        async with httpx.AsyncClient() as http:
            await deliver(db, http, message_id, FAST)
        hook.delay = 0
    entry = _entry(db, message_id)
    assert entry.state == "pending" and entry.attempts == 1
    assert entry.last_error is not None and "Timeout" in entry.last_error


async def test_two_workers_never_claim_the_same_entry(session: Session, db: Database) -> None:
    w = build_world(session)
    with standin_server() as hook:
        message_id = _reply(session, w, hook)
    with db.session() as one, db.session() as two:
        first = claim_due(one, FAST)
        second = claim_due(two, FAST)
    assert [c.message_id for c in first] == [message_id]
    assert second == []


async def test_the_worker_sends_pending_messages_on_start_and_new_ones_at_once(
    session: Session, db: Database
) -> None:
    """A restart resumes: what was pending before the worker started is sent first."""
    w = build_world(session)
    with standin_server() as hook:
        left_over = _reply(session, w, hook, "from before the restart")
        async with httpx.AsyncClient() as http:
            worker = asyncio.create_task(run_dispatcher(db, http, FAST))
            try:
                await asyncio.to_thread(hook.wait_for, 1)
                c = session.get(Message, left_over)
                assert c is not None
                conversation_id = c.conversation_id
                conversation = session.get(Conversation, conversation_id)
                assert conversation is not None
                do_reply(session=session, conversation=conversation, agent=w.dana, content="new")
                await asyncio.to_thread(hook.wait_for, 2)
                # The stand-in has the request before the worker has its answer and records
                # the send: give it that moment before stopping it.
                for _ in range(100):
                    if not pending_ids(db):
                        break
                    await asyncio.sleep(0.05)
            finally:
                worker.cancel()
    sent = [r.json()["message"]["content"] for r in hook.received]
    assert sent == ["from before the restart", "new"]
    assert pending_ids(db) == []


async def test_the_worker_comes_back_for_a_retry_when_it_falls_due(
    session: Session, db: Database
) -> None:
    w = build_world(session)
    with standin_server() as hook:
        answers = iter([(503, b"{}"), (200, b"{}")])
        hook.check = lambda path, headers, body: next(answers)
        message_id = _reply(session, w, hook)
        async with httpx.AsyncClient() as http:
            worker = asyncio.create_task(run_dispatcher(db, http, FAST))
            try:
                await asyncio.to_thread(hook.wait_for, 2, 5.0)
                for _ in range(50):
                    if stored(db, message_id).delivery == "sent":
                        break
                    await asyncio.sleep(0.05)
            finally:
                worker.cancel()
    assert stored(db, message_id).delivery == "sent"


async def test_delivery_receipts_only_move_forward(session: Session, db: Database) -> None:
    w = build_world(session)
    with standin_server() as hook:
        message_id = _reply(session, w, hook)
        async with httpx.AsyncClient() as http:
            await deliver(db, http, message_id, FAST)
    message = session.get(Message, message_id)
    assert message is not None and message.delivery == "sent"
    message.external_id = "provider-1"
    session.add(message)
    session.commit()
    assert w.api.id is not None

    def update(state: str) -> bool:
        assert w.api.id is not None
        return do_update_delivery(
            session=session, inbox_id=w.api.id, external_id="provider-1", state=state
        )

    assert update("read")
    assert not update("delivered"), "a late 'delivered' never turns 'read' back"
    assert not update("sent")
    assert not update("failed"), "a message the customer read did not fail"
    assert not do_update_delivery(
        session=session, inbox_id=w.api.id, external_id="nobody", state="read"
    )
    session.refresh(message)
    assert message.delivery == "read"


async def test_an_edit_changes_the_customer_message_and_marks_it(
    session: Session, db: Database
) -> None:
    w = build_world(session)
    received = customer_writes(session, w.api, "teh invoice", external_id="m-1")
    assert w.api.id is not None
    assert do_edit_inbound(session=session, inbox_id=w.api.id, external_id="m-1", content="the")
    assert not do_edit_inbound(
        session=session, inbox_id=w.api.id, external_id="m-1", content="the"
    ), "the same edit twice changes nothing"
    session.refresh(received.message)
    assert received.message.content == "the" and received.message.edited
