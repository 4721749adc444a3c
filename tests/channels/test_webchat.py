"""The website chat widget (docs/channels/webchat.md), driven as a visitor's browser would."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session, col, select
from starlette.applications import Starlette
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from channels.webchat.visitor import sign_visitor
from inbox.accounts import do_create_inbox
from inbox.conversations import do_reply
from inbox.models import Agent, Conversation, Message, MessageKind
from inbox.notes import do_add_note
from inbox.settings import Settings
from tests.channels.helpers import widget_token
from tests.conftest import csrf_headers, login
from tests.factories import build_world, customer_writes
from web.state import AppState

ORIGIN = {"origin": "http://testserver"}
TOO_FAST = "You're sending messages too fast. Please wait a moment."


def start_chat(client: TestClient, token: str, **fields: Any) -> Any:
    body = {"name": "Lena Park", "email": "lena@example.org", "content": "Where is my order?"}
    response = client.post(f"/widget/{token}/conversations", json={**body, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def visitor_headers(visitor_token: str) -> dict[str, str]:
    return {"x-visitor-token": visitor_token}


def the_conversation(session: Session) -> Conversation:
    session.expire_all()
    conversation = session.exec(select(Conversation).order_by(col(Conversation.id).desc())).first()
    assert conversation is not None
    return conversation


def next_frame(ws: Any) -> Any:
    """The next frame that is not a heartbeat."""
    while True:
        frame = ws.receive_json()
        if frame["type"] != "ping":
            return frame


def test_loader_script_is_served_for_a_known_token_only(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    response = app_client.get(f"/widget/{widget_token(w)}.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/javascript")
    assert "max-age" in response.headers["cache-control"]
    assert "HandoffWidget" in response.text and "/frame" in response.text
    unknown = app_client.get("/widget/not-a-real-token.js")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("application/javascript")
    assert unknown.text.startswith("/*")


def test_frame_shows_the_greeting_and_the_departments_in_the_visitors_language(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    w.webchat.config = {**w.webchat.config, "greeting": "Hi! How can we help today?"}
    session.add(w.webchat)
    session.commit()
    english = app_client.get(f"/widget/{widget_token(w)}/frame", headers={"accept-language": "en"})
    assert english.status_code == 200
    assert '<html lang="en" dir="ltr">' in english.text
    assert "Hi! How can we help today?" in english.text
    assert "What do you need help with?" in english.text
    assert "Support L1" in english.text and "Billing" in english.text
    assert "frame-ancestors *" in english.headers["content-security-policy"]
    assert "<script>" not in english.text, "no inline script: the CSP would block it"
    arabic = app_client.get(f"/widget/{widget_token(w)}/frame", headers={"accept-language": "ar"})
    assert 'dir="rtl"' in arabic.text
    assert app_client.get("/widget/nope/frame").status_code == 404


def test_frame_without_departments_asks_no_question(
    app_client: TestClient, session: Session
) -> None:
    inbox = do_create_inbox(session=session, name="Shop", channel="webchat", config={})
    session.commit()
    page = app_client.get(f"/widget/{inbox.widget_token}/frame")
    assert page.status_code == 200 and "What do you need help with?" not in page.text


def test_starting_a_chat_with_a_department_routes_it_to_that_team(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    got = start_chat(app_client, widget_token(w), department=w.billing.id)
    assert got["visitor_token"]
    assert [(m["kind"], m["content"], m["author"]) for m in got["messages"]] == [
        ("incoming", "Where is my order?", "You")
    ]
    conversation = the_conversation(session)
    assert conversation.team_id == w.billing.id and conversation.inbox_id == w.webchat.id


def test_a_department_the_widget_does_not_offer_is_refused(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    other = do_create_inbox(session=session, name="Other", channel="webchat", config={})
    session.commit()
    response = app_client.post(
        f"/widget/{widget_token(w)}/conversations",
        json={"name": "Lena", "email": "lena@example.org", "content": "Hi", "department": 999},
    )
    assert response.status_code == 422
    assert response.json()["detail"] == {"field": "department"}
    # A widget with no departments takes none either.
    response = app_client.post(
        f"/widget/{other.widget_token}/conversations",
        json={"name": "L", "email": "l@example.org", "content": "Hi", "department": w.billing.id},
    )
    assert response.status_code == 422
    assert session.exec(select(Message)).first() is None


def test_pre_chat_form_is_checked(app_client: TestClient, session: Session) -> None:
    w = build_world(session)
    url = f"/widget/{widget_token(w)}/conversations"
    no_email = app_client.post(url, data={"name": "Lena", "email": "nope", "content": "Hi"})
    assert no_email.status_code == 422 and no_email.json()["detail"] == {"field": "email"}
    assert no_email.json()["error"] == "Please enter a valid email address."
    form = app_client.post(url, data={"name": "Lena", "email": "l@example.org", "content": "Hi"})
    assert form.status_code == 201, "the form encoding works as well as JSON"


def test_visitor_token_joins_the_same_conversation_and_nothing_else(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    other = do_create_inbox(session=session, name="Other site", channel="webchat", config={})
    session.commit()
    visitor = start_chat(app_client, widget_token(w))["visitor_token"]
    url = f"/widget/{widget_token(w)}/messages"
    sent = app_client.post(url, json={"content": "Order #1234"}, headers=visitor_headers(visitor))
    assert sent.status_code == 201
    assert sent.json()["message"]["content"] == "Order #1234"
    assert not sent.json()["new_conversation"]
    thread = app_client.get(url, headers=visitor_headers(visitor)).json()["messages"]
    assert [m["content"] for m in thread] == ["Where is my order?", "Order #1234"]
    assert len(session.exec(select(Conversation)).all()) == 1

    forged = visitor[:-4] + ("AAAA" if not visitor.endswith("AAAA") else "BBBB")
    assert other.id is not None
    foreign = sign_visitor("test-secret", other.id, "visitor:someone")
    wrong_key = sign_visitor("another-secret", w.webchat.id or 0, "visitor:someone")
    for bad in (forged, foreign, wrong_key, ""):
        response = app_client.post(url, json={"content": "hi"}, headers=visitor_headers(bad))
        assert response.status_code == 401
        assert "expired" in response.json()["error"]
        assert app_client.get(url, headers=visitor_headers(bad)).status_code == 401
    # The right token on another site's widget is refused too.
    elsewhere = f"/widget/{other.widget_token}/messages"
    assert app_client.get(elsewhere, headers=visitor_headers(visitor)).status_code == 401
    assert len(session.exec(select(Message)).all()) == 2


def test_customer_never_sees_notes_or_activity(app_client: TestClient, session: Session) -> None:
    w = build_world(session)
    visitor = start_chat(app_client, widget_token(w), department=w.support.id)["visitor_token"]
    conversation = the_conversation(session)
    do_add_note(session=session, conversation=conversation, agent=w.dana, content="VIP, careful")
    do_reply(session=session, conversation=conversation, agent=w.dana, content="Looking into it")
    kinds = {m.kind for m in session.exec(select(Message)).all()}
    assert {MessageKind.note, MessageKind.activity} <= kinds, "the agent side has both"
    response = app_client.get(
        f"/widget/{widget_token(w)}/messages", headers=visitor_headers(visitor)
    )
    thread = response.json()["messages"]
    assert [(m["kind"], m["author"], m["content"]) for m in thread] == [
        ("incoming", "You", "Where is my order?"),
        ("outgoing", "Dana", "Looking into it"),
    ]
    assert "VIP" not in response.text and "Assigned" not in response.text
    assert "Kowalski" not in response.text, "agents appear by first name only"
    assert response.headers["cache-control"] == "no-store"


def test_a_visitor_who_types_someone_elses_email_sees_only_their_own_chat(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    earlier = customer_writes(session, w.webchat, "My card was charged twice", who="cust-1")
    do_reply(session=session, conversation=earlier.conversation, agent=w.bob, content="Refunded")
    got = start_chat(app_client, widget_token(w), email="cust-1@example.org", content="Hello")
    assert [m["content"] for m in got["messages"]] == ["Hello"]
    thread = app_client.get(
        f"/widget/{widget_token(w)}/messages", headers=visitor_headers(got["visitor_token"])
    ).text
    assert "charged twice" not in thread and "Refunded" not in thread


def test_widget_socket_gets_the_reply_but_never_a_note_or_agent_events(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    visitor = start_chat(app_client, widget_token(w), department=w.support.id)["visitor_token"]
    conversation = the_conversation(session)
    login(app_client, "dana@example.com")
    widget_url = f"/widget/ws?token={widget_token(w)}&visitor={visitor}"
    with (
        app_client.websocket_connect(widget_url, headers=ORIGIN) as widget,
        app_client.websocket_connect("/ws", headers=ORIGIN) as agent,
    ):
        assert widget.receive_json()["type"] == "hello"
        assert agent.receive_json()["type"] == "hello"
        # Dana opens the conversation and types: presence and typing go to agents only.
        agent.send_json({"type": "viewing", "conversation_id": conversation.id})
        while next_frame(agent)["type"] != "presence":
            pass
        agent.send_json({"type": "typing", "conversation_id": conversation.id, "box": "note"})
        while next_frame(agent)["type"] != "typing":
            pass
        headers = csrf_headers(app_client)
        note = app_client.post(
            f"/conversations/{conversation.id}/note",
            data={"content": "Refund approved, do not mention"},
            headers=headers,
        )
        assert note.status_code == 200, note.text
        reply = app_client.post(
            f"/conversations/{conversation.id}/reply",
            data={"content": "Your refund is on its way"},
            headers=headers,
        )
        assert reply.status_code == 200, reply.text
        frame = next_frame(widget)
        assert frame["type"] == "message", frame
        assert frame["data"]["kind"] == "outgoing"
        assert frame["data"]["content"] == "Your refund is on its way"
        assert frame["data"]["author"] == "Dana"
        assert set(frame["data"]) == {"id", "kind", "content", "author", "created_at"}


def test_widget_socket_replays_what_it_missed_after_a_reconnect(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    visitor = start_chat(app_client, widget_token(w))["visitor_token"]
    url = f"/widget/ws?token={widget_token(w)}&visitor={visitor}"
    with app_client.websocket_connect(url, headers=ORIGIN) as widget:
        since = widget.receive_json()["seq"]
    assert isinstance(app_client.app, Starlette)
    handoff: AppState = app_client.app.state.handoff
    db = handoff.db
    with db.session() as app_session:
        conversation = the_conversation(app_session)
        dana = app_session.get(Agent, w.dana.id)
        assert dana is not None
        do_add_note(session=app_session, conversation=conversation, agent=dana, content="psst")
        do_reply(session=app_session, conversation=conversation, agent=dana, content="Back again")
    with app_client.websocket_connect(f"{url}&since={since}", headers=ORIGIN) as widget:
        assert widget.receive_json()["type"] == "hello"
        frame = next_frame(widget)
        assert frame["type"] == "message" and frame["data"]["content"] == "Back again"
        assert frame["seq"] > since


def test_widget_socket_refuses_bad_tokens_and_foreign_origins(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    visitor = start_chat(app_client, widget_token(w))["visitor_token"]
    refused = [
        (f"/widget/ws?token={widget_token(w)}&visitor=forged", ORIGIN),
        (f"/widget/ws?token=unknown&visitor={visitor}", ORIGIN),
        (f"/widget/ws?token={widget_token(w)}&visitor={visitor}", {"origin": "https://evil.test"}),
    ]
    for url, headers in refused:
        with (
            pytest.raises(WebSocketDisconnect) as closed,
            app_client.websocket_connect(url, headers=headers),
        ):
            pass
        assert closed.value.code == 1008


def test_a_flood_is_stopped_with_a_clear_message_and_nothing_stored(
    app_client: TestClient, session: Session, settings: Settings
) -> None:
    w = build_world(session)
    visitor = start_chat(app_client, widget_token(w))["visitor_token"]
    allowed = int(settings.widget_rate_limit.split("/")[0])
    url = f"/widget/{widget_token(w)}/messages"
    for i in range(allowed):
        sent = app_client.post(url, json={"content": f"msg {i}"}, headers=visitor_headers(visitor))
        assert sent.status_code == 201
    flood = app_client.post(url, json={"content": "one more"}, headers=visitor_headers(visitor))
    assert flood.status_code == 429
    assert flood.json()["error"] == TOO_FAST
    stored = session.exec(select(Message).where(Message.kind == MessageKind.incoming)).all()
    assert len(stored) == allowed + 1
    assert "one more" not in {m.content for m in stored}


def test_long_messages_and_large_bodies_are_refused(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    visitor = start_chat(app_client, widget_token(w))["visitor_token"]
    url = f"/widget/{widget_token(w)}/messages"
    long = app_client.post(url, json={"content": "x" * 5_001}, headers=visitor_headers(visitor))
    assert long.status_code == 422 and long.json()["detail"] == {"field": "content"}
    huge = app_client.post(url, json={"content": "x" * 70_000}, headers=visitor_headers(visitor))
    assert huge.status_code == 413
    assert len(session.exec(select(Message)).all()) == 1


def test_a_script_tag_from_the_widget_is_shown_escaped_to_agents(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    start_chat(app_client, widget_token(w), content="<script>alert('hi')</script> help")
    conversation = the_conversation(session)
    login(app_client, "admin@example.com")
    page = app_client.get(f"/conversations/{conversation.id}")
    assert page.status_code == 200
    assert "<script>alert(" not in page.text
    assert "&lt;script&gt;alert(" in page.text
