"""Agents attach files to replies, in the reply box and through the API
(docs/concepts/attachments.md); a channel that cannot carry them refuses them up front."""

from __future__ import annotations

import base64

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from channels.registry import ADAPTERS
from inbox.models import Attachment, Conversation, Message
from tests.channels.test_twilio import make_inbox as sms_inbox
from tests.conftest import csrf_headers, login
from tests.factories import World, build_world, customer_writes
from tests.web.test_api import API, bearer, error_of

INVOICE = ("invoice 4471.pdf", b"%PDF-1.4 invoice", "application/pdf")


def without_files(session: Session, w: World, monkeypatch: pytest.MonkeyPatch) -> Conversation:
    """A conversation on a channel whose adapter declares it cannot carry files. Every
    channel Handoff ships carries them now; a new one may not (a voice line), and the SMS
    inbox plays that channel here, its adapter's declaration turned off."""
    monkeypatch.setattr(ADAPTERS["twilio"], "sends_files", False)
    inbox = sms_inbox(session, w)
    return customer_writes(session, inbox, team=w.support, who="+48600100200").conversation


def reply_box(page: str) -> str:
    return page.split('id="reply-form"', 1)[1].split("</form>", 1)[0]


def stored_files(session: Session) -> list[Attachment]:
    session.expire_all()
    return list(session.exec(select(Attachment)).all())


def test_the_reply_box_sends_files_and_the_thread_links_them(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    c = customer_writes(session, w.webchat, "Can I get the invoice?", team=w.support).conversation
    login(app_client, "dana@example.com")
    box = reply_box(app_client.get(f"/conversations/{c.id}").text)
    assert 'name="files"' in box and 'hx-encoding="multipart/form-data"' in box

    response = app_client.post(
        f"/conversations/{c.id}/reply",
        data={"content": "Here it is", "version": str(c.version)},
        files=[("files", INVOICE), ("files", ("", b"", "application/octet-stream"))],
        headers=csrf_headers(app_client),
    )

    assert response.status_code == 200, response.text
    [stored] = stored_files(session)
    assert (stored.filename, stored.data) == ("invoice 4471.pdf", INVOICE[1])
    assert f'href="/attachments/{stored.id}"' in response.text
    download = app_client.get(f"/attachments/{stored.id}")
    assert download.status_code == 200 and download.content == INVOICE[1]
    assert download.headers.get_list("x-content-type-options") == ["nosniff"], "said once"


def test_a_file_alone_is_a_reply_but_an_empty_box_is_not(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    c = customer_writes(session, w.webchat, team=w.support).conversation
    login(app_client, "dana@example.com")
    empty = app_client.post(
        f"/conversations/{c.id}/reply", data={"content": " "}, headers=csrf_headers(app_client)
    )
    assert empty.status_code == 422 and "content is empty" in empty.text
    alone = app_client.post(
        f"/conversations/{c.id}/reply",
        data={"content": ""},
        files=[("files", INVOICE)],
        headers=csrf_headers(app_client),
    )
    assert alone.status_code == 200, alone.text
    assert len(stored_files(session)) == 1


def test_a_channel_without_files_refuses_them_and_hides_the_control(
    app_client: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = build_world(session)
    c = without_files(session, w, monkeypatch)
    login(app_client, "dana@example.com")
    assert 'name="files"' not in reply_box(app_client.get(f"/conversations/{c.id}").text)

    response = app_client.post(
        f"/conversations/{c.id}/reply",
        data={"content": "Here it is"},
        files=[("files", INVOICE)],
        headers=csrf_headers(app_client),
    )

    assert response.status_code == 422
    assert "Replies through twilio cannot carry files" in response.text
    assert stored_files(session) == []
    assert session.exec(select(Message).where(Message.kind == "outgoing")).all() == []


def test_a_changed_conversation_asks_before_sending_the_files_again(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    c = customer_writes(session, w.webchat, team=w.support).conversation
    login(app_client, "dana@example.com")
    stale = str(c.version)
    customer_writes(session, w.webchat, "Hello again", team=w.support)
    response = app_client.post(
        f"/conversations/{c.id}/reply",
        data={"content": "Here it is", "version": stale},
        files=[("files", INVOICE)],
        headers=csrf_headers(app_client),
    )
    assert response.status_code == 409
    # The files are still chosen in the reply box; the warning sends that form again.
    assert "data-send-anyway" in response.text and 'name="content"' not in response.text
    assert stored_files(session) == []


def test_a_reply_box_post_larger_than_any_reply_is_refused_unread(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    c = customer_writes(session, w.webchat, team=w.support).conversation
    login(app_client, "dana@example.com")
    headers = {**csrf_headers(app_client), "content-length": str(40 * 1024 * 1024)}
    response = app_client.post(f"/conversations/{c.id}/reply", content=b"x" * 10, headers=headers)
    assert response.status_code == 413


def test_the_api_takes_files_as_base64(app_client: TestClient, session: Session) -> None:
    w = build_world(session)
    c = customer_writes(session, w.webchat, team=w.support).conversation
    headers = bearer(session, w.dana)
    encoded = base64.b64encode(INVOICE[1]).decode()
    file = {"filename": INVOICE[0], "content_type": INVOICE[2], "data_base64": encoded}

    created = app_client.post(
        f"{API}/conversations/{c.id}/messages", json={"attachments": [file]}, headers=headers
    )

    assert created.status_code == 201, created.text
    [stored] = stored_files(session)
    assert created.json()["attachments"] == [
        {"id": stored.id, "filename": INVOICE[0], "content_type": INVOICE[2], "size": 16}
    ]
    assert stored.data == INVOICE[1]


def test_the_api_refuses_bad_files_with_the_field_named(
    app_client: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = build_world(session)
    c = customer_writes(session, w.webchat, team=w.support).conversation
    sms = without_files(session, w, monkeypatch)
    headers = bearer(session, w.dana)
    good = {"filename": "a.txt", "data_base64": base64.b64encode(b"a").decode()}
    cases = [
        (c, {"content": "x", "attachments": [{"filename": "a.txt", "data_base64": "%%%"}]}),
        (c, {"content": "x", "attachments": [{"data_base64": good["data_base64"]}]}),
        (c, {"content": "x", "attachments": "a.txt"}),
        (sms, {"content": "x", "attachments": [good]}),
    ]
    fields = []
    for conversation, body in cases:
        response = app_client.post(
            f"{API}/conversations/{conversation.id}/messages", json=body, headers=headers
        )
        fields.append(error_of(response, 422)["detail"]["field"])
    assert fields == [
        "attachments[0].data_base64",
        "attachments[0].filename",
        "attachments",
        "files",
    ]
    assert stored_files(session) == []


def test_a_note_carries_files_for_teammates_only(
    app_client: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = build_world(session)
    # A channel without files: a note's stay inside Handoff anyway.
    c = without_files(session, w, monkeypatch)
    login(app_client, "dana@example.com")
    page = app_client.get(f"/conversations/{c.id}").text
    assert page.count('name="files"') == 1, "the note box only"

    response = app_client.post(
        f"/conversations/{c.id}/note",
        data={"content": ""},
        files=[("files", ("screenshot.png", b"\x89PNG fake", "image/png"))],
        headers=csrf_headers(app_client),
    )

    assert response.status_code == 200, response.text
    [stored] = stored_files(session)
    note = session.get(Message, stored.message_id)
    assert note is not None and note.kind == "note"
    assert f'href="/attachments/{stored.id}"' in response.text
    # Through the API as well, text optional.
    encoded = base64.b64encode(b"log line").decode()
    created = app_client.post(
        f"{API}/conversations/{c.id}/messages",
        json={"private": True, "attachments": [{"filename": "app.log", "data_base64": encoded}]},
        headers=bearer(session, w.dana),
    )
    assert created.status_code == 201 and created.json()["private"] is True
    assert [a["filename"] for a in created.json()["attachments"]] == ["app.log"]


def test_too_many_files_are_refused_with_the_limit_however_many(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    c = customer_writes(session, w.webchat, team=w.support).conversation
    login(app_client, "dana@example.com")
    for count in (11, 40):
        response = app_client.post(
            f"/conversations/{c.id}/reply",
            data={"content": "x"},
            files=[("files", (f"f{i}.txt", b"a", "text/plain")) for i in range(count)],
            headers=csrf_headers(app_client),
        )
        assert response.status_code == 422 and "at most 10 files per reply" in response.text
    assert stored_files(session) == []
