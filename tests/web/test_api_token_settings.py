"""Settings → Agents: an admin creates, sees and revokes an agent's API tokens."""

from __future__ import annotations

import re

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from inbox.accounts import do_create_token, do_deactivate_agent
from inbox.models import ApiToken
from tests.conftest import csrf_headers, login
from tests.factories import World, build_world

RAW_TOKEN = re.compile(r"hnd_[A-Za-z0-9_-]{43}")


@pytest.fixture
def world(session: Session) -> World:
    return build_world(session)


@pytest.fixture
def admin(app_client: TestClient, world: World) -> TestClient:
    login(app_client, "admin@example.com")
    return app_client


def rows_of(session: Session, agent_id: int | None) -> list[ApiToken]:
    session.rollback()
    session.expire_all()
    return list(session.exec(select(ApiToken).where(ApiToken.agent_id == agent_id)).all())


def test_the_agent_page_explains_tokens_when_there_are_none(
    admin: TestClient, world: World
) -> None:
    page = admin.get(f"/settings/agents/{world.dana.id}").text
    assert "API tokens" in page
    assert "No API tokens yet" in page and "/api/v1" in page
    assert f'hx-post="/settings/agents/{world.dana.id}/tokens"' in page


def test_a_created_token_is_shown_once_works_and_stops_working_when_revoked(
    admin: TestClient, world: World, session: Session
) -> None:
    created = admin.post(
        f"/settings/agents/{world.dana.id}/tokens",
        data={"label": "Billing sync"},
        headers=csrf_headers(admin),
    )

    assert created.status_code == 200, created.text
    assert "Copy it now: it is not shown again." in created.text
    assert created.headers["cache-control"] == "no-store"
    shown = RAW_TOKEN.findall(created.text)
    assert len(set(shown)) == 1
    token = shown[0]
    assert "Billing sync" in created.text
    reloaded = admin.get(f"/settings/agents/{world.dana.id}").text
    assert token not in reloaded and "Copy it now" not in reloaded
    assert "Billing sync" in reloaded

    bearer = {"authorization": f"Bearer {token}"}
    assert admin.get("/api/v1/conversations", headers=bearer).status_code == 200

    (row,) = rows_of(session, world.dana.id)
    revoke = f"/settings/agents/{world.dana.id}/tokens/{row.id}/revoke"
    assert f'hx-post="{revoke}"' in reloaded and "hx-confirm=" in reloaded
    revoked = admin.post(revoke, headers=csrf_headers(admin))

    assert revoked.status_code == 200
    assert "was revoked" in revoked.text
    assert admin.get("/api/v1/conversations", headers=bearer).status_code == 401
    assert rows_of(session, world.dana.id) == []


def test_an_admin_makes_tokens_for_themselves_too(
    admin: TestClient, world: World, session: Session
) -> None:
    page = admin.get(f"/settings/agents/{world.admin.id}").text
    assert f'hx-post="/settings/agents/{world.admin.id}/tokens"' in page
    created = admin.post(
        f"/settings/agents/{world.admin.id}/tokens", data={}, headers=csrf_headers(admin)
    )
    assert created.status_code == 200
    assert "(no label)" in created.text
    assert len(rows_of(session, world.admin.id)) == 1


def test_another_agents_token_cannot_be_revoked_through_the_wrong_agent(
    admin: TestClient, world: World, session: Session
) -> None:
    do_create_token(session=session, agent=world.bob, label="bob's")
    session.commit()
    (bobs,) = rows_of(session, world.bob.id)

    response = admin.post(
        f"/settings/agents/{world.dana.id}/tokens/{bobs.id}/revoke", headers=csrf_headers(admin)
    )

    assert response.status_code == 404
    assert [t.id for t in rows_of(session, world.bob.id)] == [bobs.id]


def test_a_deactivated_agent_gets_no_token_and_no_token_form(
    admin: TestClient, world: World, session: Session
) -> None:
    do_deactivate_agent(session=session, agent=world.dana, actor=world.admin)
    page = admin.get(f"/settings/agents/{world.dana.id}").text
    assert f'hx-post="/settings/agents/{world.dana.id}/tokens"' not in page

    refused = admin.post(
        f"/settings/agents/{world.dana.id}/tokens",
        data={"label": "sneaky"},
        headers=csrf_headers(admin),
    )

    assert refused.status_code == 422
    assert "deactivated" in refused.text
    assert RAW_TOKEN.search(refused.text) is None
    assert rows_of(session, world.dana.id) == []


@pytest.mark.parametrize("email", ["dana@example.com", "maria@example.com"])
def test_non_admins_cannot_create_or_revoke_tokens(
    app_client: TestClient, world: World, session: Session, email: str
) -> None:
    do_create_token(session=session, agent=world.bob, label="bob's")
    session.commit()
    (bobs,) = rows_of(session, world.bob.id)
    login(app_client, email)
    headers = csrf_headers(app_client)

    created = app_client.post(
        f"/settings/agents/{world.bob.id}/tokens", data={"label": "mine"}, headers=headers
    )
    revoked = app_client.post(
        f"/settings/agents/{world.bob.id}/tokens/{bobs.id}/revoke", headers=headers
    )

    assert created.status_code == revoked.status_code == 403
    assert RAW_TOKEN.search(created.text) is None
    assert [t.label for t in rows_of(session, world.bob.id)] == ["bob's"]


def test_a_token_made_to_expire_lists_its_date_and_the_default_form_offers_90_days(
    admin: TestClient, world: World, session: Session
) -> None:
    page = admin.get(f"/settings/agents/{world.dana.id}").text
    assert '<option value="90" selected>' in page
    created = admin.post(
        f"/settings/agents/{world.dana.id}/tokens",
        data={"label": "Trial", "expires_in_days": "30"},
        headers=csrf_headers(admin),
    )
    assert created.status_code == 200, created.text
    [row] = rows_of(session, world.dana.id)
    assert row.expires_at is not None
    assert row.expires_at.strftime("%Y-%m-%d %H:%M") in created.text
    kept = admin.post(
        f"/settings/agents/{world.dana.id}/tokens",
        data={"label": "Forever", "expires_in_days": ""},
        headers=csrf_headers(admin),
    )
    assert kept.status_code == 200 and "never" in kept.text
    odd = admin.post(
        f"/settings/agents/{world.dana.id}/tokens",
        data={"label": "Odd", "expires_in_days": "7"},
        headers=csrf_headers(admin),
    )
    assert "Pick when the token expires" in odd.text
    assert sorted(r.label for r in rows_of(session, world.dana.id)) == ["Forever", "Trial"]
