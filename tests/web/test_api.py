"""The JSON API at /api/v1 as an integration sees it: tokens, resources, errors, pages."""

from __future__ import annotations

import hmac
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from hashlib import sha256
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

import pytest
from sqlmodel import Session, select
from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from inbox.accounts import do_create_inbox, do_create_token
from inbox.clock import utcnow
from inbox.conversations import do_set_status
from inbox.events import Event
from inbox.models import Agent, Notification
from inbox.token_scopes import TokenScopes
from main import create_app
from tests.conftest import login
from tests.factories import World, build_world, customer_writes

API = "/api/v1"


def bearer(session: Session, agent: Agent) -> dict[str, str]:
    token = do_create_token(session=session, agent=agent, label="test")
    session.commit()
    return {"authorization": f"Bearer {token}"}


def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert isinstance(body["error"], str) and body["error"]
    return body


def field_of(response: Any) -> str:
    detail = error_of(response, 422)["detail"]
    assert isinstance(detail, dict)
    return str(detail["field"])


@pytest.fixture
def world(session: Session) -> World:
    return build_world(session)


@pytest.fixture
def admin(session: Session, world: World) -> dict[str, str]:
    return bearer(session, world.admin)


@pytest.fixture
def dana(session: Session, world: World) -> dict[str, str]:
    return bearer(session, world.dana)


# Authentication


def test_no_token_or_a_wrong_one_is_401_json(app_client: TestClient, world: World) -> None:
    for headers in (
        {},
        {"authorization": "Bearer hnd_not-a-real-token"},
        {"authorization": "Basic YWRtaW46cHc="},
        {"authorization": "Bearer "},
    ):
        response = app_client.get(f"{API}/conversations", headers=headers)
        body = error_of(response, 401)
        assert "detail" in body
        assert response.headers["content-type"].startswith("application/json")


def test_a_signed_in_browser_session_is_not_an_api_token(
    app_client: TestClient, world: World
) -> None:
    login(app_client, "admin@example.com")
    error_of(app_client.get(f"{API}/teams"), 401)


def test_unknown_paths_and_methods_answer_json(
    app_client: TestClient, admin: dict[str, str]
) -> None:
    error_of(app_client.get(f"{API}/nothing-here", headers=admin), 404)
    error_of(app_client.delete(f"{API}/teams", headers=admin), 405)
    error_of(app_client.get(f"{API}/teams/abc", headers=admin), 404)


# Teams


def test_admin_creates_reads_and_changes_a_team(
    app_client: TestClient, admin: dict[str, str], dana: dict[str, str]
) -> None:
    created = app_client.post(
        f"{API}/teams", headers=admin, json={"name": "Technical", "tier": 2, "skills": ["api"]}
    )
    assert created.status_code == 201, created.text
    team = created.json()
    assert team["name"] == "Technical" and team["tier"] == 2 and team["skills"] == ["api"]
    assert team["created_at"].endswith("Z")

    listed = app_client.get(f"{API}/teams", headers=dana).json()
    assert [t["name"] for t in listed["items"]] == ["Support L1", "Billing", "Technical"]
    assert listed["next_cursor"] is None
    assert app_client.get(f"{API}/teams/{team['id']}", headers=dana).json() == team

    patched = app_client.patch(
        f"{API}/teams/{team['id']}", headers=admin, json={"tier": 3, "name": "Engineering"}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["tier"] == 3 and patched.json()["name"] == "Engineering"
    assert app_client.get(f"{API}/teams/{team['id']}", headers=dana).json()["tier"] == 3


def test_team_errors(
    app_client: TestClient, world: World, admin: dict[str, str], dana: dict[str, str]
) -> None:
    error_of(app_client.post(f"{API}/teams", headers=dana, json={"name": "Mine"}), 403)
    error_of(app_client.patch(f"{API}/teams/{world.support.id}", headers=dana, json={}), 403)
    error_of(app_client.get(f"{API}/teams/9999", headers=dana), 404)
    error_of(app_client.patch(f"{API}/teams/9999", headers=admin, json={"tier": 1}), 404)
    assert field_of(app_client.post(f"{API}/teams", headers=admin, json={"tier": 1})) == "name"
    assert (
        field_of(app_client.post(f"{API}/teams", headers=admin, json={"name": "X", "tier": 7}))
        == "tier"
    )
    assert (
        field_of(app_client.post(f"{API}/teams", headers=admin, json={"name": "X", "tier": "2"}))
        == "tier"
    )
    assert field_of(app_client.post(f"{API}/teams", headers=admin, json={"name": 5})) == "name"
    assert (
        field_of(
            app_client.post(f"{API}/teams", headers=admin, json={"name": "X", "skills": "api"})
        )
        == "skills"
    )
    assert (
        field_of(app_client.post(f"{API}/teams", headers=admin, json={"name": "X", "colour": 1}))
        == "colour"
    )
    assert (
        field_of(
            app_client.patch(f"{API}/teams/{world.billing.id}", headers=admin, json={"tier": None})
        )
        == "tier"
    )
    error_of(app_client.post(f"{API}/teams", headers=admin, json={"name": "Billing"}), 409)
    error_of(
        app_client.patch(
            f"{API}/teams/{world.billing.id}", headers=admin, json={"name": "Support L1"}
        ),
        409,
    )


def test_malformed_json_is_400_never_500(app_client: TestClient, admin: dict[str, str]) -> None:
    for body in (b"{not json", b"", b"[1, 2]", b'"team"', b"[" * 100_000, b"\xff\xfe"):
        response = app_client.post(
            f"{API}/teams", headers={**admin, "content-type": "application/json"}, content=body
        )
        error_of(response, 400)


# Agents


def test_admin_creates_an_agent_who_can_then_sign_in(
    app_client: TestClient, world: World, admin: dict[str, str], dana: dict[str, str]
) -> None:
    created = app_client.post(
        f"{API}/agents",
        headers=admin,
        json={
            "email": "Zoe@Example.com",
            "name": "Zoe Quinn",
            "role": "agent",
            "password": "zoe-secret-1",
            "team_ids": [world.billing.id],
            "skills": ["refunds"],
            "capacity": 4,
        },
    )
    assert created.status_code == 201, created.text
    zoe = created.json()
    assert zoe["email"] == "zoe@example.com" and zoe["team_ids"] == [world.billing.id]
    assert zoe["skills"] == ["refunds"] and zoe["capacity"] == 4 and zoe["available"] is True
    assert "password" not in json.dumps(zoe) and "hash" not in json.dumps(zoe)
    login(app_client, "zoe@example.com", "zoe-secret-1")
    app_client.cookies.clear()  # the rest is bearer-token API calls, as from a script

    listed = app_client.get(f"{API}/agents", headers=dana).json()["items"]
    assert {a["email"] for a in listed} >= {"dana@example.com", "zoe@example.com"}
    maria = next(a for a in listed if a["email"] == "maria@example.com")
    assert maria["role"] == "manager" and maria["team_ids"] == [world.support.id]

    patched = app_client.patch(
        f"{API}/agents/{zoe['id']}",
        headers=admin,
        json={
            "available": False,
            "team_ids": [world.support.id, world.billing.id],
            "role": "manager",
        },
    )
    assert patched.status_code == 200, patched.text
    after = app_client.get(f"{API}/agents/{zoe['id']}", headers=dana).json()
    assert after["available"] is False and after["role"] == "manager"
    assert set(after["team_ids"]) == {world.support.id, world.billing.id}


def test_agent_errors(
    app_client: TestClient, world: World, admin: dict[str, str], dana: dict[str, str]
) -> None:
    new = {"email": "new@example.com", "name": "New Person"}
    error_of(app_client.post(f"{API}/agents", headers=dana, json=new), 403)
    error_of(app_client.patch(f"{API}/agents/{world.dana.id}", headers=dana, json={}), 403)
    error_of(app_client.get(f"{API}/agents/9999", headers=dana), 404)
    assert (
        field_of(app_client.post(f"{API}/agents", headers=admin, json={**new, "role": "boss"}))
        == "role"
    )
    assert field_of(app_client.post(f"{API}/agents", headers=admin, json={"name": "X"})) == "email"
    assert (
        field_of(app_client.post(f"{API}/agents", headers=admin, json={"email": "x@y.z"})) == "name"
    )
    assert (
        field_of(app_client.post(f"{API}/agents", headers=admin, json={**new, "email": "nope"}))
        == "email"
    )
    assert (
        field_of(app_client.post(f"{API}/agents", headers=admin, json={**new, "team_ids": [999]}))
        == "team_ids"
    )
    assert (
        field_of(app_client.post(f"{API}/agents", headers=admin, json={**new, "capacity": "ten"}))
        == "capacity"
    )
    assert (
        field_of(
            app_client.patch(
                f"{API}/agents/{world.bob.id}", headers=admin, json={"available": "no"}
            )
        )
        == "available"
    )
    assert (
        field_of(
            app_client.patch(
                f"{API}/agents/{world.bob.id}", headers=admin, json={"email": "bobby@example.com"}
            )
        )
        == "email"
    )
    error_of(
        app_client.post(f"{API}/agents", headers=admin, json={**new, "email": "dana@example.com"}),
        409,
    )
    # Nothing was half-created by the failed attempts.
    emails = [a["email"] for a in app_client.get(f"{API}/agents", headers=admin).json()["items"]]
    assert "new@example.com" not in emails


# Inboxes


def test_admin_creates_inboxes_and_only_admins_see_their_config(
    app_client: TestClient, world: World, admin: dict[str, str], dana: dict[str, str]
) -> None:
    created = app_client.post(
        f"{API}/inboxes",
        headers=admin,
        json={
            "name": "Shop backend",
            "channel": "api",
            "config": {"webhook_url": "https://shop.example/hook"},
            "member_ids": [world.dana.id],
        },
    )
    assert created.status_code == 201, created.text
    inbox = created.json()
    assert inbox["channel"] == "api" and inbox["member_ids"] == [world.dana.id]
    assert inbox["config"]["webhook_url"] == "https://shop.example/hook"
    assert len(inbox["config"]["secret"]) > 20, "an api inbox gets a signing secret"

    as_admin = app_client.get(f"{API}/inboxes/{inbox['id']}", headers=admin).json()
    assert as_admin["config"]["secret"] == inbox["config"]["secret"]
    as_agent = app_client.get(f"{API}/inboxes/{inbox['id']}", headers=dana).json()
    assert "config" not in as_agent and inbox["config"]["secret"] not in json.dumps(as_agent)
    listed = app_client.get(f"{API}/inboxes", headers=dana).json()["items"]
    assert all("config" not in i for i in listed)
    webchat = next(i for i in listed if i["channel"] == "webchat")
    assert webchat["widget_token"] == world.webchat.widget_token

    patched = app_client.patch(
        f"{API}/inboxes/{inbox['id']}",
        headers=admin,
        json={"name": "Shop", "config": {"webhook_url": "https://shop.example/v2"}},
    )
    assert patched.status_code == 200, patched.text
    config = patched.json()["config"]
    assert config["webhook_url"] == "https://shop.example/v2"
    assert config["secret"] == inbox["config"]["secret"], "PATCH merges config keys"
    assert patched.json()["name"] == "Shop"


def test_inbox_errors(
    app_client: TestClient, world: World, admin: dict[str, str], dana: dict[str, str]
) -> None:
    inbox = {"name": "Fax", "channel": "api"}
    error_of(app_client.post(f"{API}/inboxes", headers=dana, json=inbox), 403)
    error_of(app_client.patch(f"{API}/inboxes/{world.api.id}", headers=dana, json={}), 403)
    error_of(app_client.get(f"{API}/inboxes/9999", headers=dana), 404)
    assert (
        field_of(app_client.post(f"{API}/inboxes", headers=admin, json={**inbox, "channel": "fax"}))
        == "channel"
    )
    assert (
        field_of(app_client.post(f"{API}/inboxes", headers=admin, json={**inbox, "config": []}))
        == "config"
    )
    assert (
        field_of(
            app_client.post(f"{API}/inboxes", headers=admin, json={**inbox, "member_ids": [999]})
        )
        == "member_ids"
    )
    assert (
        field_of(
            app_client.patch(
                f"{API}/inboxes/{world.api.id}", headers=admin, json={"channel": "webchat"}
            )
        )
        == "channel"
    )


# Conversations


def _ids(response: Any) -> list[int]:
    assert response.status_code == 200, response.text
    return [c["id"] for c in response.json()["items"]]


def test_conversation_list_filters(
    app_client: TestClient, session: Session, world: World, admin: dict[str, str]
) -> None:
    support = customer_writes(session, world.webchat, "Password reset", who="a", team=world.support)
    billing = customer_writes(session, world.webchat, "Refund please", who="b", team=world.billing)
    partner = customer_writes(session, world.api, "From the shop", who="c")
    done = customer_writes(session, world.webchat, "Thanks", who="d", team=world.support)
    do_set_status(session=session, conversation=done.conversation, status="resolved", actor=None)
    app_client.post(
        f"{API}/conversations/{billing.conversation.id}/assign",
        headers=admin,
        json={"assignee_id": world.bob.id},
    )
    s, b, p, d = (r.conversation.id for r in (support, billing, partner, done))
    url = f"{API}/conversations"

    assert _ids(app_client.get(url, headers=admin)) == [b, p, s], "newest activity first"
    assert set(_ids(app_client.get(f"{url}?status=all", headers=admin))) == {s, b, p, d}
    assert _ids(app_client.get(f"{url}?status=resolved", headers=admin)) == [d]
    assert _ids(app_client.get(f"{url}?team_id={world.support.id}", headers=admin)) == [s]
    assert _ids(app_client.get(f"{url}?inbox_id={world.api.id}", headers=admin)) == [p]
    assert _ids(app_client.get(f"{url}?assignee_id={world.bob.id}", headers=admin)) == [b]
    assert _ids(app_client.get(f"{url}?tier=2", headers=admin)) == [b]
    assert _ids(app_client.get(f"{url}?escalated=true", headers=admin)) == []
    assert _ids(app_client.get(f"{url}?escalated=false", headers=admin)) == [b, p, s]
    assert field_of(app_client.get(f"{url}?breaching=maybe", headers=admin)) == "breaching"

    assert field_of(app_client.get(f"{url}?team_id=billing", headers=admin)) == "team_id"
    assert field_of(app_client.get(f"{url}?status=closed", headers=admin)) == "status"
    assert field_of(app_client.get(f"{url}?limit=0", headers=admin)) == "limit"
    assert field_of(app_client.get(f"{url}?limit=500", headers=admin)) == "limit"
    assert field_of(app_client.get(f"{url}?cursor=garbage!", headers=admin)) == "cursor"


def test_pages_cover_every_conversation_once(
    app_client: TestClient, session: Session, world: World, admin: dict[str, str]
) -> None:
    created = [
        customer_writes(session, world.webchat, f"Question number {i}", who=f"c{i}").conversation.id
        for i in range(30)
    ]
    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 7, **({"cursor": cursor} if cursor else {})}
        body = app_client.get(f"{API}/conversations", headers=admin, params=params).json()
        assert len(body["items"]) <= 7
        seen += [c["id"] for c in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 5
    assert seen == list(reversed(created)), "no duplicates, no gaps, newest first"


def test_search_finds_by_message_word_and_by_contact_name(
    app_client: TestClient, session: Session, world: World, admin: dict[str, str]
) -> None:
    parcel = customer_writes(session, world.webchat, "My parcel is stuck in customs", who="p")
    other = customer_writes(session, world.webchat, "Change my plan", who="zelda")
    url = f"{API}/conversations"
    assert _ids(app_client.get(url, headers=admin, params={"q": "customs"})) == [
        parcel.conversation.id
    ]
    # The factory names contacts "Customer <who>".
    assert _ids(app_client.get(url, headers=admin, params={"q": "zelda"})) == [
        other.conversation.id
    ]
    assert _ids(app_client.get(url, headers=admin, params={"q": "nothing-like-this"})) == []


def test_conversation_detail(
    app_client: TestClient, session: Session, world: World, dana: dict[str, str]
) -> None:
    got = customer_writes(session, world.webchat, "Hello", who="olivia", team=world.support)
    body = app_client.get(f"{API}/conversations/{got.conversation.id}", headers=dana).json()
    assert body["id"] == got.conversation.id
    assert body["status"] == "open" and body["priority"] == "normal"
    assert body["team_id"] == world.support.id and body["tier"] == 1
    assert body["inbox_id"] == world.webchat.id and body["assignee_id"] is None
    assert body["contact"] == {
        "id": got.contact.id,
        "name": "Customer olivia",
        "email": "olivia@example.org",
        "phone": None,
        "customer_tier": "standard",
        "lifetime_value": 0.0,
    }
    assert body["transfer_count"] == 0 and body["reopen_count"] == 0
    assert body["escalations"] == []
    assert body["sla"]["policy"] == "Default" and body["sla"]["first_response_due_at"]
    assert body["version"] >= 1
    assert body["created_at"].endswith("Z") and body["last_activity_at"].endswith("Z")
    error_of(app_client.get(f"{API}/conversations/99999", headers=dana), 404)


def test_thread_lists_every_kind_oldest_first(
    app_client: TestClient, session: Session, world: World, dana: dict[str, str]
) -> None:
    got = customer_writes(
        session, world.api, "Where is my order?", who="k", team=world.support, external_id="e-1"
    )
    url = f"{API}/conversations/{got.conversation.id}/messages"
    reply = app_client.post(url, headers=dana, json={"content": "Looking into it"})
    assert reply.status_code == 201, reply.text
    assert reply.json()["kind"] == "outgoing" and reply.json()["private"] is False
    assert reply.json()["sender"] == {"type": "agent", "id": world.dana.id, "name": "Dana Kowalski"}
    note = app_client.post(url, headers=dana, json={"content": "VIP, be quick", "private": True})
    assert note.status_code == 201 and note.json()["kind"] == "note"

    items = app_client.get(url, headers=dana).json()["items"]
    kinds = [m["kind"] for m in items]
    # Dana's reply assigned the conversation to her: an activity line.
    assert kinds == ["incoming", "outgoing", "activity", "note"]
    incoming = items[0]
    assert incoming["content"] == "Where is my order?" and incoming["external_id"] == "e-1"
    assert incoming["sender"] == {"type": "contact", "id": got.contact.id, "name": "Customer k"}
    assert incoming["delivery"] == "received" and incoming["attachments"] == []
    assert items[2]["sender"]["type"] == "system" and items[2]["private"] is True
    assert all(m["created_at"].endswith("Z") for m in items)
    ids = [m["id"] for m in items]
    assert ids == sorted(ids)

    first = app_client.get(url, headers=dana, params={"limit": 3}).json()
    rest = app_client.get(url, headers=dana, params={"cursor": first["next_cursor"]}).json()
    assert [m["id"] for m in first["items"] + rest["items"]] == ids
    assert rest["next_cursor"] is None


def test_posting_errors(
    app_client: TestClient, session: Session, world: World, dana: dict[str, str]
) -> None:
    got = customer_writes(session, world.webchat, "Hi", who="e", team=world.support)
    url = f"{API}/conversations/{got.conversation.id}/messages"
    assert field_of(app_client.post(url, headers=dana, json={"content": "  "})) == "content"
    assert field_of(app_client.post(url, headers=dana, json={})) == "content"
    assert field_of(app_client.post(url, headers=dana, json={"content": 3})) == "content"
    assert (
        field_of(app_client.post(url, headers=dana, json={"content": "x", "private": "yes"}))
        == "private"
    )
    error_of(app_client.post(url, headers=dana, content=b"content=hi"), 400)
    stale = app_client.post(url, headers=dana, json={"content": "Late", "version": 0})
    assert error_of(stale, 409)["detail"]["version"] == got.conversation.version
    error_of(app_client.post(f"{API}/conversations/99999/messages", headers=dana, json={}), 404)


def test_a_private_note_notifies_the_agents_it_mentions(
    app_client: TestClient, session: Session, world: World, dana: dict[str, str]
) -> None:
    got = customer_writes(session, world.webchat, "Hi", who="f", team=world.support)
    response = app_client.post(
        f"{API}/conversations/{got.conversation.id}/messages",
        headers=dana,
        json={"content": "@Maria can you approve a refund?", "private": True},
    )
    assert response.status_code == 201, response.text
    notes = session.exec(
        select(Notification).where(Notification.agent_id == world.manager.id)
    ).all()
    assert [n.kind for n in notes] == ["mention"]
    assert notes[0].message_id == response.json()["id"]


def test_status_assign_and_team(
    app_client: TestClient, session: Session, world: World, admin: dict[str, str]
) -> None:
    got = customer_writes(session, world.webchat, "Hi", who="g", team=world.support)
    base = f"{API}/conversations/{got.conversation.id}"

    resolved = app_client.post(f"{base}/status", headers=admin, json={"status": "resolved"})
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["status"] == "resolved" and resolved.json()["resolved_at"]
    reopened = app_client.post(f"{base}/status", headers=admin, json={"status": "open"})
    assert reopened.json()["reopen_count"] == 1

    until = (utcnow() + timedelta(hours=3)).replace(microsecond=0)
    snoozed = app_client.post(
        f"{base}/status",
        headers=admin,
        json={"status": "snoozed", "snooze_until": until.isoformat()},
    )
    assert snoozed.status_code == 200, snoozed.text
    assert snoozed.json()["snoozed_until"] == until.isoformat().replace("+00:00", "Z")
    naive = until.replace(tzinfo=None).isoformat()
    as_utc = app_client.post(
        f"{base}/status", headers=admin, json={"status": "snoozed", "snooze_until": naive}
    )
    assert as_utc.json()["snoozed_until"] == naive + "Z", "no offset means UTC"

    assert (
        field_of(app_client.post(f"{base}/status", headers=admin, json={"status": "gone"}))
        == "status"
    )
    assert field_of(app_client.post(f"{base}/status", headers=admin, json={})) == "status"
    assert (
        field_of(app_client.post(f"{base}/status", headers=admin, json={"status": "snoozed"}))
        == "snooze_until"
    )
    assert (
        field_of(
            app_client.post(
                f"{base}/status", headers=admin, json={"status": "snoozed", "snooze_until": "soon"}
            )
        )
        == "snooze_until"
    )

    assigned = app_client.post(f"{base}/assign", headers=admin, json={"assignee_id": world.dana.id})
    assert assigned.status_code == 200 and assigned.json()["assignee_id"] == world.dana.id
    unassigned = app_client.post(f"{base}/assign", headers=admin, json={"assignee_id": None})
    assert unassigned.json()["assignee_id"] is None
    assert (
        field_of(app_client.post(f"{base}/assign", headers=admin, json={"assignee_id": 999}))
        == "assignee_id"
    )
    assert field_of(app_client.post(f"{base}/assign", headers=admin, json={})) == "assignee_id"

    moved = app_client.post(f"{base}/team", headers=admin, json={"team_id": world.billing.id})
    assert moved.status_code == 200, moved.text
    assert moved.json()["team_id"] == world.billing.id and moved.json()["tier"] == 2
    assert moved.json()["transfer_count"] == 1
    assert (
        field_of(app_client.post(f"{base}/team", headers=admin, json={"team_id": 999})) == "team_id"
    )
    assert (
        field_of(app_client.post(f"{base}/team", headers=admin, json={"team_id": "x"})) == "team_id"
    )


# The generic API channel


def _inbound(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "contact": {
            "identifier": "shop-user-42",
            "name": "Nora Lind",
            "email": "nora@shop.example",
        },
        "content": "My voucher code does not work",
        "external_id": "shop-msg-1",
    }
    return {**body, **overrides}


def test_inbound_message_opens_a_conversation_once(
    app_client: TestClient, world: World, admin: dict[str, str]
) -> None:
    published: list[Event] = []
    cast(Starlette, app_client.app).state.handoff.db.bus.add_enricher(published.append)
    url = f"{API}/inboxes/{world.api.id}/messages"

    first = app_client.post(url, headers=admin, json=_inbound())
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["message"]["content"] == "My voucher code does not work"
    assert body["message"]["external_id"] == "shop-msg-1" and body["message"]["kind"] == "incoming"
    events_after_first = len(published)
    assert events_after_first > 0

    again = app_client.post(url, headers=admin, json=_inbound())
    assert again.status_code == 200, again.text
    assert again.json() == body
    assert len(published) == events_after_first, "a repeated delivery pushes nothing"

    conversation = app_client.get(
        f"{API}/conversations/{body['conversation_id']}", headers=admin
    ).json()
    assert conversation["inbox_id"] == world.api.id
    assert conversation["contact"]["id"] == body["contact_id"]
    assert conversation["contact"]["name"] == "Nora Lind"
    messages = app_client.get(
        f"{API}/conversations/{body['conversation_id']}/messages", headers=admin
    ).json()["items"]
    assert [m["content"] for m in messages] == ["My voucher code does not work"]

    follow_up = app_client.post(
        url, headers=admin, json=_inbound(content="Still broken", external_id="shop-msg-2")
    )
    assert follow_up.status_code == 201
    assert follow_up.json()["conversation_id"] == body["conversation_id"]


def test_inbound_messages_without_an_external_id_are_each_stored(
    app_client: TestClient, world: World, admin: dict[str, str]
) -> None:
    url = f"{API}/inboxes/{world.api.id}/messages"
    for body in (
        _inbound(external_id=None, content="one"),
        _inbound(external_id="", content="two"),
        _inbound(external_id="  ", content="three"),
        {"contact": {"identifier": "shop-user-42"}, "content": "four"},
    ):
        response = app_client.post(url, headers=admin, json=body)
        assert response.status_code == 201, response.text
        assert response.json()["message"]["external_id"] is None
    conversation_id = response.json()["conversation_id"]
    messages = app_client.get(
        f"{API}/conversations/{conversation_id}/messages", headers=admin
    ).json()["items"]
    assert [m["content"] for m in messages] == ["one", "two", "three", "four"]


def test_inbound_errors(
    app_client: TestClient,
    session: Session,
    world: World,
    admin: dict[str, str],
    dana: dict[str, str],
) -> None:
    url = f"{API}/inboxes/{world.api.id}/messages"
    error_of(app_client.post(url, headers=dana, json=_inbound()), 403)
    error_of(app_client.post(f"{API}/inboxes/9999/messages", headers=admin, json=_inbound()), 404)
    webchat = app_client.post(
        f"{API}/inboxes/{world.webchat.id}/messages", headers=admin, json=_inbound()
    )
    assert field_of(webchat) == "channel"
    assert field_of(app_client.post(url, headers=admin, json=_inbound(contact=None))) == "contact"
    assert (
        field_of(app_client.post(url, headers=admin, json=_inbound(contact={"name": "N"})))
        == "contact.identifier"
    )
    assert (
        field_of(app_client.post(url, headers=admin, json=_inbound(contact={"identifier": 42})))
        == "contact.identifier"
    )
    assert field_of(app_client.post(url, headers=admin, json=_inbound(content=""))) == "content"
    assert (
        field_of(app_client.post(url, headers=admin, json=_inbound(external_id=7))) == "external_id"
    )
    error_of(app_client.post(url, headers=admin, content=b"{"), 400)

    huge = json.dumps(_inbound(content="x" * (1024 * 1024))).encode()
    error_of(app_client.post(url, headers=admin, content=huge), 413)

    def chunks() -> Iterator[bytes]:
        # No Content-Length: the limit holds for a streamed body too.
        for _ in range(20):
            yield b" " * 65536

    error_of(app_client.post(url, headers=admin, content=chunks()), 413)
    listed = app_client.get(f"{API}/conversations", headers=admin).json()["items"]
    assert listed == [], "no failed attempt stored anything"


def test_inbox_members_may_post_to_their_api_inbox(
    app_client: TestClient, session: Session, world: World, dana: dict[str, str]
) -> None:
    inbox = do_create_inbox(
        session=session, name="Dana's shop", channel="api", member_ids=[world.dana.id or 0]
    )
    session.commit()
    response = app_client.post(f"{API}/inboxes/{inbox.id}/messages", headers=dana, json=_inbound())
    assert response.status_code == 201, response.text
    # Membership of the inbox also lets her read what came in.
    conversation_id = response.json()["conversation_id"]
    assert app_client.get(f"{API}/conversations/{conversation_id}", headers=dana).status_code == 200


class _Hook(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []
    arrived = threading.Event()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        type(self).received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(204)
        self.end_headers()
        type(self).arrived.set()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def hook_server() -> Iterator[str]:
    _Hook.received = []
    _Hook.arrived = threading.Event()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()
    thread.join()


def test_a_reply_reaches_the_integration_signed(
    app_client: TestClient, world: World, admin: dict[str, str], hook_server: str
) -> None:
    inbox_url = f"{API}/inboxes/{world.api.id}"
    config = app_client.patch(
        inbox_url, headers=admin, json={"config": {"webhook_url": hook_server}}
    ).json()["config"]
    got = app_client.post(f"{inbox_url}/messages", headers=admin, json=_inbound()).json()

    reply = app_client.post(
        f"{API}/conversations/{got['conversation_id']}/messages",
        headers=admin,
        json={"content": "Here is a new code: SPRING25"},
    )
    assert reply.status_code == 201 and reply.json()["delivery"] == "pending"
    assert _Hook.arrived.wait(10), "the reply was never POSTed to the webhook"

    headers, body = _Hook.received[0]
    expected = "sha256=" + hmac.new(config["secret"].encode(), body, sha256).hexdigest()
    assert hmac.compare_digest(headers["x-handoff-signature"], expected)
    payload = json.loads(body)
    assert payload["message"]["content"] == "Here is a new code: SPRING25"
    assert payload["conversation_id"] == got["conversation_id"]
    assert payload["contact"]["identifier"] == "shop-user-42"


def test_no_two_api_routes_share_a_path_and_method() -> None:
    # main.py orders the API's routes for speed (the channel route first); that is only safe
    # while no route could shadow another.
    mount = next(r for r in create_app().routes if isinstance(r, Mount) and r.path == "/api/v1")
    pairs = Counter(
        (route.path, method)
        for route in mount.routes
        if isinstance(route, Route)
        for method in route.methods or ()
    )
    assert [pair for pair, n in pairs.items() if n > 1] == []
    first = mount.routes[0]
    assert isinstance(first, Route) and first.path == "/inboxes/{id:int}/messages"


def test_a_busy_tokens_scope_is_read_again_between_requests(
    app_client: TestClient, admin: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    app_state = cast(Starlette, app_client.app).state.handoff
    scopes = app_state.token_scopes = TokenScopes(ttl=3.0)
    refreshed = threading.Event()
    refresh = scopes.refresh

    def spy(session: Session, token: str) -> None:
        refresh(session, token)
        refreshed.set()

    monkeypatch.setattr(scopes, "refresh", spy)
    assert app_client.get(f"{API}/conversations", headers=admin).status_code == 200
    time.sleep(1.6)  # past half the entry's life, far from its end
    assert app_client.get(f"{API}/conversations", headers=admin).status_code == 200
    assert refreshed.wait(2), "refreshed after the request, without another one"
