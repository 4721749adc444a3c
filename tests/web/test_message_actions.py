"""A message's own actions in the agent's thread: Retry for a failed send, attachments to
download, an email's HTML shown safely, quoted history folded, auto-replies flagged."""

from __future__ import annotations

import time

from sqlmodel import Session
from starlette.testclient import TestClient

from inbox.accounts import do_update_inbox
from inbox.conversations import InboundMessage, do_receive_inbound
from inbox.db import Database
from inbox.models import Message
from tests.conftest import csrf_headers, login
from tests.factories import build_world, customer_writes
from tests.standins import standin_server


def _db(client: TestClient) -> Database:
    db: Database = client.app.state.handoff.db  # type: ignore[attr-defined]
    return db


def _wait_for_delivery(db: Database, message_id: int, state: str) -> Message:
    deadline = time.monotonic() + 10
    while True:
        with db.session() as s:
            message = s.get(Message, message_id)
            assert message is not None
            if message.delivery == state or time.monotonic() > deadline:
                return message
        time.sleep(0.05)


def test_a_failed_reply_shows_the_reason_and_retry_sends_it(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    with standin_server() as partner:
        refusing = True
        partner.check = lambda path, headers, body: (
            (400, b"unknown customer") if refusing else (200, b"{}")
        )
        do_update_inbox(
            session=session, inbox=w.api, changes={"config": {"webhook_url": partner.url}}
        )
        session.commit()
        c = customer_writes(session, w.api, "hello", who="p-1", team=w.support).conversation
        login(app_client, "dana@example.com")
        posted = app_client.post(
            f"/conversations/{c.id}/reply",
            data={"content": "Here is your answer", "version": str(c.version)},
            headers=csrf_headers(app_client),
        )
        assert posted.status_code == 200, posted.text
        message_id = int(posted.text.split('id="msg-', 1)[1].split('"', 1)[0])
        failed = _wait_for_delivery(_db(app_client), message_id, "failed")
        assert failed.delivery == "failed"

        page = app_client.get(f"/conversations/{c.id}").text
        assert "webhook answered 400: unknown customer" in page
        assert f'hx-post="/conversations/{c.id}/messages/{message_id}/retry"' in page

        refusing = False
        retried = app_client.post(
            f"/conversations/{c.id}/messages/{message_id}/retry", headers=csrf_headers(app_client)
        )
        assert retried.status_code == 200, retried.text
        assert "delivery-pending" in retried.text and "/retry" not in retried.text
        assert _wait_for_delivery(_db(app_client), message_id, "sent").delivery == "sent"
        assert len(partner.received) == 2


def test_retry_is_refused_for_a_message_that_did_not_fail_and_hidden_from_others(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    c = customer_writes(session, w.api, "hello", team=w.support).conversation
    login(app_client, "dana@example.com")
    posted = app_client.post(
        f"/conversations/{c.id}/reply",
        data={"content": "Hi", "version": str(c.version)},
        headers=csrf_headers(app_client),
    )
    message_id = int(posted.text.split('id="msg-', 1)[1].split('"', 1)[0])
    _wait_for_delivery(_db(app_client), message_id, "sent")
    again = app_client.post(
        f"/conversations/{c.id}/messages/{message_id}/retry", headers=csrf_headers(app_client)
    )
    assert again.status_code == 422
    assert "Only a message that failed to send can be sent again" in again.text
    app_client.post("/logout", headers=csrf_headers(app_client))
    login(app_client, "bob@example.com")  # Billing: may not see Support's conversation
    hidden = app_client.post(
        f"/conversations/{c.id}/messages/{message_id}/retry", headers=csrf_headers(app_client)
    )
    assert hidden.status_code == 404


def test_an_email_shows_sanitized_html_folded_quotes_and_its_attachments(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    assert w.api.id is not None
    received = do_receive_inbound(
        session=session,
        inbound=InboundMessage(
            inbox_id=w.api.id,
            identifier="ann@example.org",
            email="ann@example.org",
            content="See the invoice attached",
            html='<p>See the <b>invoice</b><script>alert("x")</script>'
            '<img src="https://tracker.example/p.gif" onerror="alert(1)"></p>',
            quoted="> On Monday you wrote:\n> we will refund",
            team_id=w.support.id,
            attachments=[
                {"filename": "invoice.pdf", "content_type": "application/pdf", "data": b"%PDF-1"},
                {"filename": "huge.iso", "data": b"x" * (10 * 1024 * 1024 + 1)},
            ],
        ),
    )
    login(app_client, "dana@example.com")
    page = app_client.get(f"/conversations/{received.conversation.id}").text
    assert "<b>invoice</b>" in page
    assert "alert(" not in page and "tracker.example" not in page
    assert "Show quoted text" in page and "&gt; On Monday you wrote:" in page
    assert "invoice.pdf" in page and "huge.iso" in page and "larger than 10 MiB" in page

    [stored] = [a for a in received.message.attachments if "id" in a]
    download = app_client.get(f"/attachments/{stored['id']}")
    assert download.status_code == 200 and download.content == b"%PDF-1"
    assert download.headers["content-disposition"] == (
        "attachment; filename=\"invoice.pdf\"; filename*=UTF-8''invoice.pdf"
    )
    assert download.headers["content-type"] == "application/octet-stream"

    app_client.post("/logout", headers=csrf_headers(app_client))
    login(app_client, "bob@example.com")
    assert app_client.get(f"/attachments/{stored['id']}").status_code == 404


def test_an_auto_reply_is_flagged_and_reopens_nothing(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    assert w.api.id is not None
    first = customer_writes(
        session, w.api, "hello", who="ann", external_id="<m1@x>", team=w.support
    )
    conversation = first.conversation
    conversation.status = "resolved"
    session.add(conversation)
    session.commit()
    auto = do_receive_inbound(
        session=session,
        inbound=InboundMessage(
            inbox_id=w.api.id,
            identifier="ann",
            content="I am out of the office until Monday",
            external_id="<ooo@x>",
            thread_refs=["<m1@x>"],
            auto_submitted=True,
        ),
    )
    assert auto.conversation.id == conversation.id
    session.refresh(conversation)
    assert conversation.status == "resolved" and conversation.reopen_count == 0
    login(app_client, "dana@example.com")
    page = app_client.get(f"/conversations/{conversation.id}").text
    assert "Auto-reply" in page
