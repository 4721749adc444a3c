"""Files from customers in the chat widget (docs/channels/webchat.md): sent with a message as
multipart, stored, listed to the customer and to agents; refused whole when over the limits."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlmodel import Session, select
from starlette.testclient import TestClient

from inbox.attachments import MAX_FILE, MAX_FILES, MAX_PER_MESSAGE
from inbox.models import Attachment, Message, MessageKind
from inbox.queries import thread
from inbox.settings import Settings
from tests.channels.helpers import app_events, widget_token
from tests.channels.test_webchat import start_chat, the_conversation, visitor_headers
from tests.conftest import login
from tests.factories import World, build_world

SCREENSHOT = b"\x89PNG\r\n\x1a\n error 500 on checkout"
RECEIPT = b"%PDF-1.4 receipt #88"
MIB = 1024 * 1024

Part = tuple[str, tuple[str, bytes, str]]


def png(name: str = "error.png", data: bytes = SCREENSHOT) -> Part:
    return ("files", (name, data, "image/png"))


def pdf(name: str = "receipt.pdf", data: bytes = RECEIPT) -> Part:
    return ("files", (name, data, "application/pdf"))


def chatting(client: TestClient, session: Session) -> tuple[World, str]:
    """A world whose customer has started a chat; their visitor token."""
    w = build_world(session)
    return w, start_chat(client, widget_token(w))["visitor_token"]


def send(
    client: TestClient, w: World, visitor: str | None, files: list[Part], content: str = ""
) -> Any:
    headers = visitor_headers(visitor) if visitor is not None else {}
    return client.post(
        f"/widget/{widget_token(w)}/messages",
        data={"content": content},
        files=files,
        headers=headers,
    )


def incoming(session: Session) -> list[Message]:
    session.expire_all()
    return list(session.exec(select(Message).where(Message.kind == MessageKind.incoming)).all())


def stored_files(session: Session) -> list[Attachment]:
    session.expire_all()
    return list(session.exec(select(Attachment)).all())


def test_a_customer_sends_a_message_with_two_files(
    app_client: TestClient, session: Session
) -> None:
    w, visitor = chatting(app_client, session)
    seen = app_events(app_client)
    response = send(app_client, w, visitor, [png(), pdf()], content="It fails at checkout")

    assert response.status_code == 201, response.text
    sent = response.json()["message"]
    assert sent["content"] == "It fails at checkout" and sent["author"] == "You"
    assert [(f["filename"], f["size"]) for f in sent["attachments"]] == [
        ("error.png", len(SCREENSHOT)),
        ("receipt.pdf", len(RECEIPT)),
    ]
    files = {f.filename: f for f in stored_files(session)}
    assert files["error.png"].data == SCREENSHOT
    assert files["receipt.pdf"].data == RECEIPT
    assert files["receipt.pdf"].content_type == "application/pdf"

    # The customer's thread lists them, and they can fetch their own file back.
    listed = app_client.get(f"/widget/{widget_token(w)}/messages", headers=visitor_headers(visitor))
    assert listed.json()["messages"][-1]["attachments"] == sent["attachments"]
    back = app_client.get(
        f"/widget/{widget_token(w)}/attachments/{files['error.png'].id}",
        headers=visitor_headers(visitor),
    )
    assert back.content == SCREENSHOT

    # Agents get the message with its links at once, and on the conversation page.
    links = [f'href="/attachments/{files[name].id}"' for name in ("error.png", "receipt.pdf")]
    (created,) = [e for e in seen if e.type == "message.created"]
    assert all(link in created.html["en"]["message"] for link in links)
    login(app_client, "admin@example.com")
    page = app_client.get(f"/conversations/{the_conversation(session).id}")
    assert all(link in page.text for link in links)


def test_a_file_alone_is_a_message(app_client: TestClient, session: Session) -> None:
    w, visitor = chatting(app_client, session)
    response = send(app_client, w, visitor, [png()])
    assert response.status_code == 201, response.text
    assert response.json()["message"]["content"] == ""
    assert [f["filename"] for f in response.json()["message"]["attachments"]] == ["error.png"]
    assert [f.data for f in stored_files(session)] == [SCREENSHOT]


def test_the_first_message_may_come_with_a_file(app_client: TestClient, session: Session) -> None:
    w = build_world(session)
    response = app_client.post(
        f"/widget/{widget_token(w)}/conversations",
        data={"name": "Lena Park", "email": "lena@example.org", "content": ""},
        files=[png()],
    )
    assert response.status_code == 201, response.text
    (first,) = response.json()["messages"]
    assert [f["filename"] for f in first["attachments"]] == ["error.png"]
    assert thread(session, the_conversation(session).id or 0)[0].attachments[0]["size"] == len(
        SCREENSHOT
    )


def test_a_file_over_the_limit_is_refused_by_name_and_nothing_is_stored(
    app_client: TestClient, session: Session
) -> None:
    w, visitor = chatting(app_client, session)
    big = png("video.png", b"x" * (MAX_FILE + 1))
    response = send(app_client, w, visitor, [pdf(), big], content="See attached")
    assert response.status_code == 422
    assert response.json()["error"] == "video.png is larger than 10 MiB."
    assert response.json()["detail"] == {"field": "files"}
    assert len(incoming(session)) == 1 and stored_files(session) == []


def test_files_too_large_together_are_refused(app_client: TestClient, session: Session) -> None:
    w, visitor = chatting(app_client, session)
    # Each within its own limit, a few bytes over together.
    third = b"x" * (MAX_PER_MESSAGE // 3 + 1)
    three = [png(f"part{i}.png", third) for i in range(3)]
    response = send(app_client, w, visitor, three)
    assert response.status_code == 422
    assert response.json()["error"] == "The files are larger than 25 MiB together."
    assert stored_files(session) == []


def test_a_body_larger_than_any_message_is_refused_unread(
    app_client: TestClient, session: Session
) -> None:
    w, visitor = chatting(app_client, session)
    huge = [png(f"part{i}.png", b"x" * (9 * MIB)) for i in range(3)] + [pdf()]
    request = app_client.build_request(
        "POST", f"/widget/{widget_token(w)}/messages", files=huge, headers=visitor_headers(visitor)
    )
    declared = app_client.send(request)
    # Without a declared length (a chunked upload), cut off once it passes the same size.
    body = request.read()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), MIB):
            yield body[start : start + MIB]

    headers = {**visitor_headers(visitor), "content-type": request.headers["content-type"]}
    chunked = app_client.post(
        f"/widget/{widget_token(w)}/messages", content=chunks(), headers=headers
    )
    for response in (declared, chunked):
        assert response.status_code == 413
        assert response.json()["error"] == "The files are larger than 25 MiB together."
    assert len(incoming(session)) == 1 and stored_files(session) == []


def test_too_many_files_are_refused(app_client: TestClient, session: Session) -> None:
    w, visitor = chatting(app_client, session)
    for count in (MAX_FILES + 1, MAX_FILES + 5):
        files = [png(f"shot{i}.png") for i in range(count)]
        response = send(app_client, w, visitor, files)
        assert response.status_code == 422, count
        assert response.json()["error"] == "You can send at most 10 files at once."
    assert stored_files(session) == []


def test_an_empty_file_is_refused(app_client: TestClient, session: Session) -> None:
    w, visitor = chatting(app_client, session)
    response = send(app_client, w, visitor, [png("blank.png", b"")], content="here")
    assert response.status_code == 422
    assert response.json()["error"] == "blank.png is empty."
    assert len(incoming(session)) == 1 and stored_files(session) == []


def test_files_without_a_visitor_token_are_refused(
    app_client: TestClient, session: Session
) -> None:
    w, visitor = chatting(app_client, session)
    for token in (None, visitor[:-4] + ("AAAA" if not visitor.endswith("AAAA") else "BBBB")):
        response = send(app_client, w, token, [png()], content="sneaky")
        assert response.status_code == 401
        assert "expired" in response.json()["error"]
    assert len(incoming(session)) == 1 and stored_files(session) == []


def test_a_message_with_files_counts_once_against_the_rate_limit(
    app_client: TestClient, session: Session, settings: Settings
) -> None:
    w, visitor = chatting(app_client, session)
    allowed = int(settings.widget_rate_limit.split("/")[0])
    for _ in range(allowed):
        assert send(app_client, w, visitor, [png(), pdf()]).status_code == 201
    assert send(app_client, w, visitor, [png()]).status_code == 429
    assert len(stored_files(session)) == 2 * allowed


def test_json_and_text_only_messages_work_as_before(
    app_client: TestClient, session: Session
) -> None:
    w, visitor = chatting(app_client, session)
    url = f"/widget/{widget_token(w)}/messages"
    as_json = app_client.post(
        url, json={"content": "Still there?"}, headers=visitor_headers(visitor)
    )
    assert as_json.status_code == 201
    assert as_json.json()["message"]["content"] == "Still there?"
    assert "attachments" not in as_json.json()["message"]
    # A multipart form with an empty file input and no text is still an empty message.
    empty = send(app_client, w, visitor, [("files", ("", b"", "application/octet-stream"))])
    assert empty.status_code == 422 and empty.json()["error"] == "Please write a message."
    assert [m.content for m in incoming(session)][-1] == "Still there?"
