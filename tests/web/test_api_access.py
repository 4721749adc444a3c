"""Who sees what through the API (docs/concepts/access.md): the same rules as the inbox page.

A conversation an agent may not see answers 404, exactly like one that does not exist, so its
id reveals nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session
from starlette.testclient import TestClient

from inbox.accounts import do_create_token
from inbox.models import Agent, Conversation
from tests.factories import World, build_world, customer_writes

API = "/api/v1"


def bearer(session: Session, agent: Agent) -> dict[str, str]:
    token = do_create_token(session=session, agent=agent, label="test")
    session.commit()
    return {"authorization": f"Bearer {token}"}


def listed_ids(client: TestClient, headers: dict[str, str], **params: Any) -> set[int]:
    response = client.get(f"{API}/conversations", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return {c["id"] for c in response.json()["items"]}


@pytest.fixture
def world(session: Session) -> World:
    return build_world(session)


@pytest.fixture
def support_case(session: Session, world: World) -> Conversation:
    got = customer_writes(
        session, world.webchat, "I cannot log in to my account", who="sam", team=world.support
    )
    return got.conversation


def test_billing_agent_cannot_reach_a_support_conversation(
    app_client: TestClient, session: Session, world: World, support_case: Conversation
) -> None:
    bob = bearer(session, world.bob)
    url = f"{API}/conversations/{support_case.id}"

    assert support_case.id not in listed_ids(app_client, bob)
    assert support_case.id not in listed_ids(app_client, bob, status="all", q="log in")
    assert support_case.id not in listed_ids(app_client, bob, team_id=world.support.id)
    for response in (
        app_client.get(url, headers=bob),
        app_client.get(f"{url}/messages", headers=bob),
        app_client.post(f"{url}/messages", headers=bob, json={"content": "Hi from billing"}),
        app_client.post(f"{url}/messages", headers=bob, json={"content": "psst", "private": True}),
        app_client.post(f"{url}/status", headers=bob, json={"status": "resolved"}),
        app_client.post(f"{url}/assign", headers=bob, json={"assignee_id": world.bob.id}),
        app_client.post(f"{url}/team", headers=bob, json={"team_id": world.billing.id}),
    ):
        assert response.status_code == 404, response.text
        assert response.json()["error"] == "No such conversation"
    missing = app_client.get(f"{API}/conversations/99999", headers=bob)
    assert missing.json() == app_client.get(url, headers=bob).json(), "same answer as no such id"

    admin = bearer(session, world.admin)
    messages = app_client.get(f"{url}/messages", headers=admin).json()["items"]
    assert [m["content"] for m in messages] == ["I cannot log in to my account"]
    assert app_client.get(url, headers=admin).json()["status"] == "open"


def test_the_admin_sees_and_answers_every_conversation(
    app_client: TestClient, session: Session, world: World, support_case: Conversation
) -> None:
    billing = customer_writes(session, world.webchat, "Refund", who="rita", team=world.billing)
    admin = bearer(session, world.admin)
    assert listed_ids(app_client, admin) == {support_case.id, billing.conversation.id}
    reply = app_client.post(
        f"{API}/conversations/{support_case.id}/messages",
        headers=admin,
        json={"content": "Let me reset that for you"},
    )
    assert reply.status_code == 201, reply.text


def test_an_agent_sees_their_teams_and_can_work_them(
    app_client: TestClient, session: Session, world: World, support_case: Conversation
) -> None:
    billing = customer_writes(session, world.webchat, "Refund", who="rita", team=world.billing)
    dana, bob = bearer(session, world.dana), bearer(session, world.bob)
    assert listed_ids(app_client, dana) == {support_case.id}
    assert listed_ids(app_client, bob) == {billing.conversation.id}
    note = app_client.post(
        f"{API}/conversations/{support_case.id}/messages",
        headers=dana,
        json={"content": "Checking the login logs", "private": True},
    )
    assert note.status_code == 201, note.text


def test_a_manager_sees_every_conversation_at_their_teams_tiers(
    app_client: TestClient, session: Session, world: World, support_case: Conversation
) -> None:
    # Maria manages Support L1 (tier 1). A conversation with no team yet is tier 1 too,
    # so she sees it although no team of hers owns it; Dana, an agent of the same team, does not.
    unrouted = customer_writes(session, world.webchat, "Hello?", who="una").conversation
    billing = customer_writes(session, world.webchat, "Refund", who="rita", team=world.billing)
    maria, dana = bearer(session, world.manager), bearer(session, world.dana)

    assert listed_ids(app_client, maria) == {support_case.id, unrouted.id}
    assert listed_ids(app_client, maria, tier=1) == {support_case.id, unrouted.id}
    assert listed_ids(app_client, maria, tier=2) == set()
    assert app_client.get(f"{API}/conversations/{unrouted.id}", headers=maria).status_code == 200
    assert (
        app_client.get(f"{API}/conversations/{billing.conversation.id}", headers=maria).status_code
        == 404
    )

    assert listed_ids(app_client, dana) == {support_case.id}
    assert app_client.get(f"{API}/conversations/{unrouted.id}", headers=dana).status_code == 404


def test_moving_a_conversation_away_takes_it_out_of_sight(
    app_client: TestClient, session: Session, world: World, support_case: Conversation
) -> None:
    dana = bearer(session, world.dana)
    url = f"{API}/conversations/{support_case.id}"
    moved = app_client.post(f"{url}/team", headers=dana, json={"team_id": world.billing.id})
    assert moved.status_code == 200 and moved.json()["team_id"] == world.billing.id
    assert app_client.get(url, headers=dana).status_code == 404
    assert support_case.id in listed_ids(app_client, bearer(session, world.bob))


def test_managers_and_agents_cannot_change_settings(
    app_client: TestClient, session: Session, world: World
) -> None:
    maria = bearer(session, world.manager)
    for method, path, body in (
        ("POST", "/teams", {"name": "Escalations", "tier": 3}),
        ("PATCH", f"/teams/{world.support.id}", {"tier": 2}),
        ("POST", "/agents", {"email": "x@example.com", "name": "X"}),
        ("PATCH", f"/agents/{world.manager.id}", {"role": "admin"}),
        ("POST", "/inboxes", {"name": "Mail", "channel": "email"}),
        ("PATCH", f"/inboxes/{world.api.id}", {"config": {"webhook_url": "https://evil.example"}}),
        (
            "POST",
            f"/inboxes/{world.api.id}/messages",
            {"contact": {"identifier": "x"}, "content": "fake customer"},
        ),
    ):
        response = app_client.request(method, API + path, headers=maria, json=body)
        assert response.status_code == 403, (method, path, response.text)
    admin = bearer(session, world.admin)
    assert app_client.get(f"{API}/agents/{world.manager.id}", headers=admin).json()["role"] == (
        "manager"
    )
    api_inbox = app_client.get(f"{API}/inboxes/{world.api.id}", headers=admin).json()
    assert "webhook_url" not in api_inbox["config"]
    assert app_client.get(f"{API}/conversations", headers=admin).json()["items"] == []
