"""The agents' pages: sign-in, the inbox, replies, notes, collisions, access and escaping."""

from __future__ import annotations

from sqlmodel import Session, select
from starlette.datastructures import Headers
from starlette.testclient import TestClient

from inbox.db import Database
from inbox.models import Conversation, Message, Notification
from inbox.settings import Settings
from tests.conftest import csrf_headers, login
from tests.factories import build_world, customer_writes
from web.security import own_origin


def test_sign_in_with_a_wrong_password_says_so(app_client: TestClient, session: Session) -> None:
    build_world(session)
    app_client.get("/login")
    response = app_client.post("/login", data={"email": "dana@example.com", "password": "nope"})
    assert response.status_code == 401
    assert "Wrong email or password" in response.text


def test_sign_in_attempts_are_rate_limited(app_client: TestClient, session: Session) -> None:
    build_world(session)
    for _ in range(5):
        app_client.post("/login", data={"email": "dana@example.com", "password": "nope"})
    response = app_client.post(
        "/login", data={"email": "dana@example.com", "password": "pw-123456"}
    )
    assert response.status_code == 429
    assert "Too many sign-in attempts" in response.text


def test_a_sign_in_form_posted_from_another_site_is_refused(
    app_client: TestClient, session: Session
) -> None:
    # Login CSRF: a page elsewhere must not sign the visitor in to someone else's account.
    build_world(session)
    credentials = {"email": "dana@example.com", "password": "pw-123456"}
    elsewhere = app_client.post(
        "/login",
        data=credentials,
        headers={"origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert elsewhere.status_code == 403
    assert "Sign in from Handoff&#39;s own sign-in page." in elsewhere.text
    assert "handoff_session" not in elsewhere.cookies
    own = app_client.post(
        "/login", data=credentials, headers={"origin": "http://testserver"}, follow_redirects=False
    )
    assert own.status_code == 303


def test_own_origin_knows_the_host_the_public_url_and_the_allowed_origins(
    settings: Settings,
) -> None:
    def sent(origin: str, host: str = "10.0.0.5:8000") -> Headers:
        return Headers({"origin": origin, "host": host})

    assert own_origin(sent("http://10.0.0.5:8000"), settings)
    assert not own_origin(sent("https://help.example.com"), settings)
    assert not own_origin(Headers({"host": "10.0.0.5:8000"}), settings)  # no Origin at all
    behind_proxy = settings.model_copy(
        update={"public_url": "https://help.example.com/", "allowed_origins": ["https://b.example"]}
    )
    assert own_origin(sent("https://help.example.com"), behind_proxy)
    assert own_origin(sent("https://b.example"), behind_proxy)
    assert not own_origin(sent("https://help.example.com.evil.example"), behind_proxy)


def test_signed_out_visitors_go_to_the_login_page(app_client: TestClient) -> None:
    response = app_client.get("/inbox", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


def test_inbox_lists_what_the_agent_may_see(app_client: TestClient, session: Session) -> None:
    w = build_world(session)
    customer_writes(session, w.api, "Where is my parcel?", who="ann", team=w.support)
    customer_writes(session, w.api, "Refund please", who="ben", team=w.billing)
    login(app_client, "dana@example.com")
    page = app_client.get("/inbox").text
    assert "Where is my parcel?" in page and "Refund please" not in page


def test_agent_of_another_team_cannot_open_or_answer(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    c = customer_writes(session, w.api, "private matter", team=w.support).conversation
    login(app_client, "bob@example.com")
    assert app_client.get(f"/conversations/{c.id}").status_code == 404
    reply = app_client.post(
        f"/conversations/{c.id}/reply", data={"content": "hi"}, headers=csrf_headers(app_client)
    )
    assert reply.status_code == 404
    assert session.exec(select(Message).where(Message.kind == "outgoing")).all() == []


def test_reply_appears_in_the_thread_and_goes_out(
    app_client: TestClient, session: Session, db: Database
) -> None:
    w = build_world(session)
    c = customer_writes(session, w.webchat, "Hello?", team=w.support).conversation
    login(app_client, "dana@example.com")
    response = app_client.post(
        f"/conversations/{c.id}/reply",
        data={"content": "Hi, Dana here", "version": str(c.version)},
        headers=csrf_headers(app_client),
    )
    assert response.status_code == 200 and "Hi, Dana here" in response.text
    assert f'id="version-{c.id}"' in response.text, "the form's version moves on"
    with db.session() as fresh:
        stored = fresh.exec(select(Message).where(Message.kind == "outgoing")).one()
        conversation = fresh.get(Conversation, c.id)
        assert conversation is not None and conversation.assignee_id == w.dana.id
    assert stored.content == "Hi, Dana here"


def test_state_changes_need_the_csrf_token(app_client: TestClient, session: Session) -> None:
    w = build_world(session)
    c = customer_writes(session, w.webchat, team=w.support).conversation
    login(app_client, "dana@example.com")
    response = app_client.post(f"/conversations/{c.id}/reply", data={"content": "x"})
    assert response.status_code == 403


def test_reply_on_a_changed_conversation_warns_first(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    c = customer_writes(session, w.webchat, team=w.support).conversation
    opened_at = c.version
    customer_writes(session, w.webchat, "Actually, never mind")
    login(app_client, "dana@example.com")
    headers = csrf_headers(app_client)
    url = f"/conversations/{c.id}/reply"
    stale = app_client.post(
        url, data={"content": "Sure!", "version": str(opened_at)}, headers=headers
    )
    assert stale.status_code == 409
    assert "changed since you opened it" in stale.text and "Send anyway" in stale.text
    forced = app_client.post(url, data={"content": "Sure!", "force": "1"}, headers=headers)
    assert forced.status_code == 200


def test_note_mention_notifies_and_shows_in_the_bell(
    app_client: TestClient, session: Session, db: Database
) -> None:
    w = build_world(session)
    c = customer_writes(session, w.webchat, team=w.support).conversation
    login(app_client, "dana@example.com")
    response = app_client.post(
        f"/conversations/{c.id}/note",
        data={"content": "@MariaLopez please call them"},
        headers=csrf_headers(app_client),
    )
    assert response.status_code == 200 and "Internal note" in response.text
    with db.session() as fresh:
        note = fresh.exec(select(Notification)).one()
    assert note.agent_id == w.manager.id and note.kind == "mention"
    app_client.post("/logout", headers=csrf_headers(app_client))
    login(app_client, "maria@example.com")
    bell = app_client.get("/bell").text
    assert 'data-count="1"' in bell
    listing = app_client.get("/notifications").text
    assert "Dana Kowalski mentioned you" in listing


def test_customer_text_is_escaped(app_client: TestClient, session: Session) -> None:
    w = build_world(session)
    c = customer_writes(
        session, w.webchat, "<script>alert(1)</script><img src=x onerror=alert(2)>", team=w.support
    ).conversation
    login(app_client, "dana@example.com")
    for path in ("/inbox", f"/conversations/{c.id}"):
        page = app_client.get(path).text
        assert "<script>alert(1)" not in page and "<img src=x" not in page
        assert "&lt;script&gt;alert(1)" in page


def test_pages_carry_a_content_security_policy(app_client: TestClient) -> None:
    csp = app_client.get("/login").headers["content-security-policy"]
    assert "script-src 'self'" in csp and "object-src 'none'" in csp


def test_status_snooze_and_priority_controls(app_client: TestClient, session: Session) -> None:
    w = build_world(session)
    c = customer_writes(session, w.webchat, team=w.support).conversation
    login(app_client, "dana@example.com")
    headers = csrf_headers(app_client)
    base = f"/conversations/{c.id}"
    urgent = app_client.post(f"{base}/priority", data={"priority": "urgent"}, headers=headers)
    assert urgent.status_code == 200 and "Priority set to urgent" in urgent.text
    snoozed = app_client.post(
        f"{base}/status", data={"status": "snoozed", "snooze_until": "4h"}, headers=headers
    )
    assert snoozed.status_code == 200 and "Snoozed until" in snoozed.text
    bad = app_client.post(f"{base}/status", data={"status": "gone"}, headers=headers)
    assert bad.status_code == 422 and "status must be" in bad.text
    resolved = app_client.post(f"{base}/status", data={"status": "resolved"}, headers=headers)
    assert "Reopen" in resolved.text


def test_moving_to_another_team_counts_a_transfer(
    app_client: TestClient, session: Session, db: Database
) -> None:
    w = build_world(session)
    c = customer_writes(session, w.webchat, team=w.support).conversation
    login(app_client, "dana@example.com")
    response = app_client.post(
        f"/conversations/{c.id}/team",
        data={"team_id": str(w.billing.id)},
        headers=csrf_headers(app_client),
    )
    assert response.status_code == 200
    with db.session() as fresh:
        moved = fresh.get(Conversation, c.id)
        assert moved is not None and moved.transfer_count == 1 and moved.tier == 2


def test_search_finds_messages_and_contacts(app_client: TestClient, session: Session) -> None:
    w = build_world(session)
    customer_writes(session, w.webchat, "The invoice total is wrong", who="zoe", team=w.support)
    customer_writes(session, w.webchat, "Cannot log in", who="yan", team=w.support)
    login(app_client, "dana@example.com")
    by_word = app_client.get("/inbox/list", params={"q": "invoice"}).text
    assert "The invoice total is wrong" in by_word and "Cannot log in" not in by_word
    by_name = app_client.get("/inbox/list", params={"q": "Customer yan"}).text
    assert "Cannot log in" in by_name and "invoice" not in by_name
    nothing = app_client.get("/inbox/list", params={"q": "zzzqqq"}).text
    assert "Nothing matches" in nothing


def test_list_pages_follow_the_cursor(app_client: TestClient, session: Session) -> None:
    w = build_world(session)
    for i in range(30):
        customer_writes(session, w.api, f"message number {i}", who=f"c{i}", team=w.support)
    login(app_client, "dana@example.com")
    first = app_client.get("/inbox").text
    assert "message number 29" in first and "message number 4" not in first
    assert "Load older conversations" in first
    cursor = first.split("cursor=")[1].split('"')[0]
    older = app_client.get("/inbox/list", params={"cursor": cursor}).text
    assert "message number 4" in older and "message number 29" not in older
