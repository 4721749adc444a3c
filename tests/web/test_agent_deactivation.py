"""Settings → Agents and the API: deactivating an agent who left, and taking them back."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from inbox.accounts import do_create_token, do_deactivate_agent
from inbox.conversations import do_assign
from inbox.models import Agent, ApiToken, Conversation
from tests.conftest import csrf_headers, login
from tests.factories import PASSWORD, World, build_world, customer_writes


@pytest.fixture
def world(session: Session) -> World:
    return build_world(session)


@pytest.fixture
def admin(app_client: TestClient, world: World) -> TestClient:
    login(app_client, "admin@example.com")
    return app_client


def fresh_agent(session: Session, agent_id: int | None) -> Agent:
    session.rollback()
    session.expire_all()
    agent = session.get(Agent, agent_id)
    assert agent is not None
    return agent


def second_browser(client: TestClient) -> TestClient:
    """Another browser on the same running app (its own cookies)."""
    return TestClient(client.app, base_url="http://testserver")


def test_the_deactivate_button_signs_them_out_and_unassigns_their_work(
    admin: TestClient, world: World, session: Session
) -> None:
    conversation = customer_writes(session, world.webchat, team=world.support).conversation
    do_assign(session=session, conversation=conversation, assignee=world.dana, actor=world.admin)
    dana_browser = second_browser(admin)
    login(dana_browser, "dana@example.com")
    assert dana_browser.get("/inbox", follow_redirects=False).status_code == 200

    page = admin.get(f"/settings/agents/{world.dana.id}")
    assert f'hx-post="/settings/agents/{world.dana.id}/deactivate"' in page.text
    assert "hx-confirm=" in page.text
    response = admin.post(
        f"/settings/agents/{world.dana.id}/deactivate", headers=csrf_headers(admin)
    )

    assert response.status_code == 200
    assert "Dana Kowalski was deactivated" in response.text
    assert f'hx-post="/settings/agents/{world.dana.id}/reactivate"' in response.text
    dana = fresh_agent(session, world.dana.id)
    assert dana.deactivated_at is not None and not dana.available
    assert session.get(Conversation, conversation.id).assignee_id is None  # type: ignore[union-attr]
    # The cookie Dana already holds no longer opens anything.
    refused = dana_browser.get("/inbox", follow_redirects=False)
    assert refused.status_code == 303 and refused.headers["location"].startswith("/login")


def test_the_deactivate_button_needs_the_csrf_token(
    admin: TestClient, world: World, session: Session
) -> None:
    response = admin.post(
        f"/settings/agents/{world.dana.id}/deactivate", headers={"hx-request": "true"}
    )
    assert response.status_code == 403
    assert fresh_agent(session, world.dana.id).deactivated_at is None


def test_a_deactivated_agent_cannot_sign_in(
    app_client: TestClient, world: World, session: Session
) -> None:
    do_deactivate_agent(session=session, agent=world.dana, actor=world.admin)
    app_client.get("/login")
    deactivated = app_client.post(
        "/login", data={"email": "dana@example.com", "password": PASSWORD}, follow_redirects=False
    )
    wrong = app_client.post(
        "/login", data={"email": "bob@example.com", "password": "nope-nope"}, follow_redirects=False
    )
    assert deactivated.status_code == wrong.status_code == 401
    assert "Wrong email or password" in deactivated.text
    assert "agent_id" not in str(app_client.cookies.get("session", ""))


def test_the_agents_list_shows_deactivated_agents_last_with_a_badge(
    admin: TestClient, world: World, session: Session
) -> None:
    do_deactivate_agent(session=session, agent=world.bob, actor=world.admin)
    page = admin.get("/settings/agents").text
    bob_row = page.index(f'id="agent-{world.bob.id}"')
    assert page[bob_row:].startswith(f'id="agent-{world.bob.id}" class="deactivated"')
    assert "Deactivated</span>" in page[bob_row : bob_row + 1500]
    # Bob sorts before Dana by name, but he is no longer working: he comes last.
    assert bob_row > page.index(f'id="agent-{world.dana.id}"')
    assert "Deactivated</span>" not in page[page.index(f'id="agent-{world.dana.id}"') : bob_row]


def test_reactivating_from_the_agent_page(
    admin: TestClient, world: World, session: Session
) -> None:
    do_deactivate_agent(session=session, agent=world.dana, actor=world.admin)
    response = admin.post(
        f"/settings/agents/{world.dana.id}/reactivate", headers=csrf_headers(admin)
    )
    assert response.status_code == 200
    assert "can sign in again" in response.text
    assert fresh_agent(session, world.dana.id).deactivated_at is None
    dana_browser = second_browser(admin)
    login(dana_browser, "dana@example.com")


def test_an_admin_cannot_deactivate_themselves(
    admin: TestClient, world: World, session: Session
) -> None:
    assert "/deactivate" not in admin.get(f"/settings/agents/{world.admin.id}").text
    response = admin.post(
        f"/settings/agents/{world.admin.id}/deactivate", headers=csrf_headers(admin)
    )
    assert response.status_code == 422
    assert "You cannot deactivate yourself" in response.text
    assert fresh_agent(session, world.admin.id).deactivated_at is None


def test_only_admins_deactivate(app_client: TestClient, world: World, session: Session) -> None:
    login(app_client, "maria@example.com")
    response = app_client.post(
        f"/settings/agents/{world.dana.id}/deactivate", headers=csrf_headers(app_client)
    )
    assert response.status_code == 403
    assert fresh_agent(session, world.dana.id).deactivated_at is None


def test_deactivated_agents_are_not_offered_as_assignees_or_mentions(
    app_client: TestClient, world: World, session: Session
) -> None:
    conversation = customer_writes(session, world.webchat, team=world.support).conversation
    do_deactivate_agent(session=session, agent=world.dana, actor=world.admin)
    login(app_client, "maria@example.com")
    page = app_client.get(f"/conversations/{conversation.id}").text
    assert f'<option value="{world.dana.id}"' not in page
    assert f'<option value="{world.manager.id}"' in page
    names = [o["name"] for o in app_client.get("/mentionables?q=").json()]
    assert "Maria Lopez" in names and "Dana Kowalski" not in names
    refused = app_client.post(
        f"/conversations/{conversation.id}/assign",
        data={"assignee_id": str(world.dana.id)},
        headers=csrf_headers(app_client),
    )
    assert refused.status_code == 422


# The API


def bearer(session: Session, agent: Agent) -> dict[str, str]:
    token = do_create_token(session=session, agent=agent, label="test")
    session.commit()
    return {"authorization": f"Bearer {token}"}


def test_api_patch_active_false_deactivates_and_true_reactivates(
    app_client: TestClient, world: World, session: Session
) -> None:
    admin = bearer(session, world.admin)
    dana = bearer(session, world.dana)
    assert app_client.get("/api/v1/agents/1", headers=dana).status_code == 200
    listed: dict[str, Any] = app_client.get(f"/api/v1/agents/{world.dana.id}", headers=admin).json()
    assert listed["active"] is True

    response = app_client.patch(
        f"/api/v1/agents/{world.dana.id}", json={"active": False}, headers=admin
    )
    assert response.status_code == 200, response.text
    assert response.json()["active"] is False and response.json()["available"] is False
    assert app_client.get("/api/v1/agents/1", headers=dana).status_code == 401
    session.rollback()
    assert session.exec(select(ApiToken).where(ApiToken.agent_id == world.dana.id)).all() == []

    back = app_client.patch(f"/api/v1/agents/{world.dana.id}", json={"active": True}, headers=admin)
    assert back.status_code == 200
    assert back.json()["active"] is True and back.json()["available"] is False


def test_api_active_is_for_admins_and_never_for_yourself(
    app_client: TestClient, world: World, session: Session
) -> None:
    admin = bearer(session, world.admin)
    manager = bearer(session, world.manager)
    forbidden = app_client.patch(
        f"/api/v1/agents/{world.dana.id}", json={"active": False}, headers=manager
    )
    assert forbidden.status_code == 403
    yourself = app_client.patch(
        f"/api/v1/agents/{world.admin.id}", json={"active": False}, headers=admin
    )
    assert yourself.status_code == 422
    bad = app_client.patch(f"/api/v1/agents/{world.dana.id}", json={"active": "no"}, headers=admin)
    assert bad.status_code == 422
    assert fresh_agent(session, world.dana.id).deactivated_at is None


def test_sign_out_everywhere_ends_their_browser_sessions_only(
    admin: TestClient, world: World, session: Session
) -> None:
    """A lost laptop: their browsers must sign in again; the account itself stays active."""
    dana_browser = second_browser(admin)
    login(dana_browser, "dana@example.com")
    assert dana_browser.get("/inbox", follow_redirects=False).status_code == 200
    page = admin.get(f"/settings/agents/{world.dana.id}").text
    assert f'hx-post="/settings/agents/{world.dana.id}/sign-out"' in page

    response = admin.post(f"/settings/agents/{world.dana.id}/sign-out", headers=csrf_headers(admin))

    assert response.status_code == 200
    assert "Dana Kowalski was signed out of every browser." in response.text
    assert dana_browser.get("/inbox", follow_redirects=False).status_code in (302, 303)
    assert fresh_agent(session, world.dana.id).deactivated_at is None
    login(dana_browser, "dana@example.com")
    assert dana_browser.get("/inbox", follow_redirects=False).status_code == 200
    assert admin.get("/settings/agents", follow_redirects=False).status_code == 200, (
        "the admin who pressed it stays signed in"
    )
