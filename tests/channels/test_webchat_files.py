"""Files in the chat widget (docs/channels/webchat.md): an agent's reply with a file, as the
customer's browser lists and downloads it, and nobody else can."""

from __future__ import annotations

from sqlmodel import Session
from starlette.testclient import TestClient

from channels.webchat.visitor import sign_visitor
from inbox.accounts import do_create_inbox
from inbox.conversations import do_reply
from inbox.models import Agent, Attachment, Message
from inbox.notes import do_add_note
from inbox.queries import thread
from tests.channels.helpers import app_db, widget_token
from tests.channels.test_webchat import ORIGIN, next_frame, start_chat, the_conversation
from tests.channels.test_webchat import visitor_headers as as_visitor
from tests.factories import World, build_world

INVOICE = b"%PDF-1.4 invoice #1234"


def reply_with_invoice(session: Session, world: World) -> Message:
    """Dana answers the latest conversation with a PDF."""
    return do_reply(
        session=session,
        conversation=the_conversation(session),
        agent=world.dana,
        content="Here is your invoice",
        files=[{"filename": "invoice 5€.pdf", "content_type": "application/pdf", "data": INVOICE}],
    )


def customers_first_message(session: Session) -> Message:
    conversation = the_conversation(session)
    return thread(session, conversation.id or 0)[0]


def attachment_id(message: Message) -> int:
    file_id = message.attachments[0]["id"]
    assert isinstance(file_id, int)
    return file_id


def test_the_customer_sees_the_agents_file_listed_under_the_reply(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    visitor = start_chat(app_client, widget_token(w))["visitor_token"]
    # A file of the customer's that was only referred to (not stored) has nothing to fetch.
    asked = customers_first_message(session)
    asked.attachments = [{"filename": "photo.jpg", "url": "https://cdn.example/photo.jpg"}]
    session.add(asked)
    session.commit()
    reply = reply_with_invoice(session, w)

    response = app_client.get(f"/widget/{widget_token(w)}/messages", headers=as_visitor(visitor))
    mine, theirs = response.json()["messages"]
    assert "attachments" not in mine, "a message without stored files keeps its old fields"
    assert theirs["content"] == "Here is your invoice"
    assert theirs["attachments"] == [
        {"id": attachment_id(reply), "filename": "invoice 5€.pdf", "size": len(INVOICE)}
    ]


def test_the_widget_socket_pushes_the_reply_with_its_file(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    visitor = start_chat(app_client, widget_token(w))["visitor_token"]
    url = f"/widget/ws?token={widget_token(w)}&visitor={visitor}"
    with app_client.websocket_connect(url, headers=ORIGIN) as widget:
        assert widget.receive_json()["type"] == "hello"
        # Written through the app's own database, so the event reaches the app's bus.
        with app_db(app_client).session() as app_session:
            dana = app_session.get(Agent, w.dana.id)
            assert dana is not None
            w.dana = dana
            reply = reply_with_invoice(app_session, w)
            file_id = attachment_id(reply)
        frame = next_frame(widget)
    assert frame["type"] == "message" and frame["data"]["content"] == "Here is your invoice"
    assert frame["data"]["attachments"] == [
        {"id": file_id, "filename": "invoice 5€.pdf", "size": len(INVOICE)}
    ]


def test_the_customer_downloads_the_agents_file(app_client: TestClient, session: Session) -> None:
    w = build_world(session)
    visitor = start_chat(app_client, widget_token(w))["visitor_token"]
    file_id = attachment_id(reply_with_invoice(session, w))
    response = app_client.get(
        f"/widget/{widget_token(w)}/attachments/{file_id}", headers=as_visitor(visitor)
    )
    assert response.status_code == 200
    assert response.content == INVOICE
    # Always a download, never shown in our origin, and kept by no cache.
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"invoice 5_.pdf\"; filename*=UTF-8''invoice%205%E2%82%AC.pdf"
    )
    assert "nosniff" in response.headers["x-content-type-options"]
    assert response.headers["cache-control"] == "private, no-store"


def test_another_visitor_of_the_same_widget_cannot_download_it(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    start_chat(app_client, widget_token(w))
    file_id = attachment_id(reply_with_invoice(session, w))
    stranger = start_chat(app_client, widget_token(w), name="Max", email="max@example.org")
    headers = as_visitor(stranger["visitor_token"])
    url = f"/widget/{widget_token(w)}/attachments"
    theirs = app_client.get(f"{url}/{file_id}", headers=headers)
    missing = app_client.get(f"{url}/{file_id + 999}", headers=headers)
    # The same answer as for a file that does not exist: nothing tells them it does.
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json()
    assert theirs.json()["error"] == "No such attachment"
    assert INVOICE not in theirs.content


def test_no_or_a_bad_visitor_token_is_refused_like_the_thread(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    visitor = start_chat(app_client, widget_token(w))["visitor_token"]
    file_id = attachment_id(reply_with_invoice(session, w))
    other = do_create_inbox(session=session, name="Other site", channel="webchat", config={})
    session.commit()
    assert other.id is not None
    url = f"/widget/{widget_token(w)}/attachments/{file_id}"
    forged = visitor[:-4] + ("AAAA" if not visitor.endswith("AAAA") else "BBBB")
    foreign = sign_visitor("test-secret", other.id, "visitor:someone")
    for headers in ({}, as_visitor(""), as_visitor(forged), as_visitor(foreign)):
        thread = app_client.get(f"/widget/{widget_token(w)}/messages", headers=headers)
        response = app_client.get(url, headers=headers)
        assert response.status_code == thread.status_code == 401
        assert "expired" in response.json()["error"]
    # The right visitor through another site's widget gets nothing either.
    elsewhere = f"/widget/{other.widget_token}/attachments/{file_id}"
    assert app_client.get(elsewhere, headers=as_visitor(visitor)).status_code == 401


def test_a_file_on_a_note_is_never_served_to_the_customer(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    visitor = start_chat(app_client, widget_token(w))["visitor_token"]
    conversation = the_conversation(session)
    note = do_add_note(session=session, conversation=conversation, agent=w.dana, content="psst")
    assert note.id is not None
    secret = Attachment(
        inbox_id=note.inbox_id, message_id=note.id, filename="internal.txt", data=b"internal"
    )
    session.add(secret)
    session.commit()
    assert secret.id is not None
    response = app_client.get(
        f"/widget/{widget_token(w)}/attachments/{secret.id}", headers=as_visitor(visitor)
    )
    assert response.status_code == 404
    assert b"internal" not in response.content


def test_the_customer_can_download_their_own_file_too(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    visitor = start_chat(app_client, widget_token(w))["visitor_token"]
    asked = customers_first_message(session)
    own = Attachment(inbox_id=asked.inbox_id, message_id=asked.id, filename="a.png", data=b"png")
    session.add(own)
    session.commit()
    response = app_client.get(
        f"/widget/{widget_token(w)}/attachments/{own.id}", headers=as_visitor(visitor)
    )
    assert response.status_code == 200 and response.content == b"png"
