"""The admins' settings pages: agents, teams, inboxes (docs/concepts/settings.md)."""

from __future__ import annotations

import re

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from inbox.accounts import check_password, do_create_agent, team_ids_of
from inbox.inbox_members import member_ids_of
from inbox.models import Agent, Inbox, Team
from tests.conftest import csrf_headers, login
from tests.factories import PASSWORD, World, build_world

PAGES = ["/settings", "/settings/agents", "/settings/teams", "/settings/inboxes"]


@pytest.fixture
def world(session: Session) -> World:
    return build_world(session)


@pytest.fixture
def admin(app_client: TestClient, world: World) -> TestClient:
    login(app_client, "admin@example.com")
    return app_client


def fresh(session: Session) -> Session:
    """Forget what the test's session cached, to read what the app committed."""
    session.rollback()
    session.expire_all()
    return session


def agent_by_email(session: Session, email: str) -> Agent | None:
    return fresh(session).exec(select(Agent).where(Agent.email == email)).first()


# Who may come in


def test_settings_opens_on_the_agents_page(admin: TestClient) -> None:
    response = admin.get("/settings", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/settings/agents"


def test_signed_out_visitors_are_sent_to_sign_in(app_client: TestClient, world: World) -> None:
    for path in PAGES:
        response = app_client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login")


@pytest.mark.parametrize("email", ["dana@example.com", "maria@example.com"])
def test_agents_and_managers_get_403_everywhere(
    app_client: TestClient, world: World, session: Session, email: str
) -> None:
    login(app_client, email)
    pages = [
        *PAGES,
        f"/settings/agents/{world.dana.id}",
        f"/settings/teams/{world.support.id}",
        f"/settings/inboxes/{world.webchat.id}",
    ]
    for path in pages:
        response = app_client.get(path, follow_redirects=False)
        assert response.status_code == 403, path
        assert "Settings are for admins" in response.text
        assert 'href="/inbox"' in response.text  # a way back, not a dead end

    headers = csrf_headers(app_client)
    posts = {
        "/settings/agents": {"name": "Eve", "email": "eve@example.com", "password": "x" * 12},
        f"/settings/agents/{world.dana.id}": {"name": "Dana", "role": "admin"},
        "/settings/teams": {"name": "Sneaky", "tier": "1"},
        f"/settings/teams/{world.support.id}": {"name": "Renamed", "tier": "3"},
        "/settings/inboxes": {"name": "Sneaky chat", "channel": "webchat"},
        f"/settings/inboxes/{world.webchat.id}": {"name": "Renamed"},
    }
    for path, data in posts.items():
        assert app_client.post(path, data=data, headers=headers).status_code == 403, path

    fresh(session)
    assert agent_by_email(session, "eve@example.com") is None
    assert session.get(Agent, world.dana.id).role == "agent"  # type: ignore[union-attr]
    assert session.exec(select(Team).where(Team.name == "Sneaky")).first() is None
    assert session.get(Inbox, world.webchat.id).name == "Website"  # type: ignore[union-attr]


def test_a_post_without_the_csrf_header_is_refused(admin: TestClient, session: Session) -> None:
    response = admin.post(
        "/settings/agents",
        data={"name": "Eve", "email": "eve@example.com", "password": "long-enough"},
        headers={"hx-request": "true"},
    )
    assert response.status_code == 403
    assert agent_by_email(session, "eve@example.com") is None


# Agents


def test_the_agents_page_lists_everyone_with_teams_and_skills(admin: TestClient) -> None:
    page = admin.get("/settings/agents")
    assert page.status_code == 200
    for text in ["Ada Admin", "dana@example.com", "Maria Lopez", "Support L1", "Add agent"]:
        assert text in page.text
    # The shared top bar: back to the inbox, and the three tabs.
    assert 'href="/inbox"' in page.text
    for tab in ["/settings/agents", "/settings/teams", "/settings/inboxes"]:
        assert f'href="{tab}"' in page.text


def test_an_admin_adds_an_agent_who_can_then_sign_in(
    admin: TestClient, world: World, session: Session, app_client: TestClient
) -> None:
    response = admin.post(
        "/settings/agents",
        data={
            "name": "Lee Park",
            "email": "Lee@Example.com",
            "role": "manager",
            "team_ids": [str(world.support.id), str(world.billing.id)],
            "skills": "billing, refunds, billing",
            "capacity": "7",
            "password": "lee-secret-1",
        },
        headers=csrf_headers(admin),
    )
    assert response.status_code == 200
    assert "Lee Park was added" in response.text
    # The table comes back out of band with the new row in it.
    assert 'id="agents-table" class="table-scroll" hx-swap-oob="true"' in response.text
    assert "lee@example.com" in response.text

    lee = agent_by_email(session, "lee@example.com")
    assert lee is not None and lee.id is not None
    assert (lee.name, lee.role, lee.capacity) == ("Lee Park", "manager", 7)
    assert lee.skills == ["billing", "refunds"]
    assert set(team_ids_of(session, lee.id)) == {world.support.id, world.billing.id}

    admin.post("/logout", headers=csrf_headers(admin))
    login(app_client, "lee@example.com", "lee-secret-1")
    assert app_client.get("/inbox").status_code == 200


def test_a_duplicate_email_is_shown_beside_the_form(admin: TestClient, session: Session) -> None:
    before = len(fresh(session).exec(select(Agent)).all())
    response = admin.post(
        "/settings/agents",
        data={"name": "Copy Cat", "email": "dana@example.com", "password": "long-enough"},
        headers=csrf_headers(admin),
    )
    assert response.status_code == 422
    assert "An agent with email dana@example.com exists" in response.text
    assert 'id="agent-panel"' in response.text
    assert 'value="Copy Cat"' in response.text  # what was typed stays
    assert "<html" not in response.text  # a fragment, not an error page
    assert len(fresh(session).exec(select(Agent)).all()) == before


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "No At", "email": "not-an-address"}, "Email is not an address"),
        ({"name": "  ", "email": "blank@example.com"}, "Enter the agent&#39;s name"),
        ({"name": "Short", "email": "short@example.com", "password": "abc"}, "at least 8"),
        ({"name": "Busy", "email": "busy@example.com", "capacity": "lots"}, "whole number"),
    ],
)
def test_bad_agent_input_is_explained_inline(
    admin: TestClient, session: Session, data: dict[str, str], message: str
) -> None:
    response = admin.post(
        "/settings/agents",
        data={"password": "long-enough", **data},
        headers=csrf_headers(admin),
    )
    assert response.status_code == 422
    assert message in response.text
    assert 'role="alert"' in response.text
    assert agent_by_email(session, data["email"]) is None


def test_the_edit_form_opens_as_a_page_or_as_a_panel(admin: TestClient, world: World) -> None:
    page = admin.get(f"/settings/agents/{world.dana.id}")
    assert page.status_code == 200
    assert "<html" in page.text and "Edit Dana Kowalski" in page.text

    panel = admin.get(f"/settings/agents/{world.dana.id}", headers={"hx-request": "true"})
    assert "<html" not in panel.text
    assert "Edit Dana Kowalski" in panel.text
    assert f'id="agent-{world.dana.id}" class="selected"' in panel.text

    assert admin.get("/settings/agents/9999").status_code == 404


def test_an_admin_edits_an_agent(
    admin: TestClient, world: World, session: Session, app_client: TestClient
) -> None:
    response = admin.post(
        f"/settings/agents/{world.dana.id}",
        data={
            "name": "Dana K.",
            "role": "manager",
            "team_ids": [str(world.billing.id)],
            "skills": "billing",
            "capacity": "3",
            "password": "a-new-password",
            # no "available": the box was unticked
        },
        headers=csrf_headers(admin),
    )
    assert response.status_code == 200
    assert "Saved changes to Dana K." in response.text
    assert response.headers["hx-push-url"] == "/settings/agents"

    dana = fresh(session).get(Agent, world.dana.id)
    assert dana is not None and dana.id is not None
    assert (dana.name, dana.role, dana.capacity, dana.available) == ("Dana K.", "manager", 3, False)
    assert dana.skills == ["billing"]
    assert team_ids_of(session, dana.id) == [world.billing.id]
    assert check_password(dana, "a-new-password")


def test_an_empty_password_field_keeps_the_password(
    admin: TestClient, world: World, session: Session
) -> None:
    admin.post(
        f"/settings/agents/{world.bob.id}",
        data={"name": "Bob Stone", "role": "agent", "capacity": "10", "available": "1"},
        headers=csrf_headers(admin),
    )
    bob = fresh(session).get(Agent, world.bob.id)
    assert bob is not None and check_password(bob, PASSWORD) and bob.available


def test_an_admin_cannot_take_away_their_own_admin_role(
    admin: TestClient, world: World, session: Session
) -> None:
    response = admin.post(
        f"/settings/agents/{world.admin.id}",
        data={"name": "Ada Admin", "role": "agent", "capacity": "10"},
        headers=csrf_headers(admin),
    )
    assert response.status_code == 422
    assert "your own admin role" in response.text
    assert fresh(session).get(Agent, world.admin.id).role == "admin"  # type: ignore[union-attr]


# Teams


def test_an_admin_adds_and_edits_teams(admin: TestClient, session: Session) -> None:
    page = admin.get("/settings/teams")
    assert "Support L1" in page.text and "L2 · specialists" in page.text

    created = admin.post(
        "/settings/teams",
        data={"name": "Escalations", "tier": "3", "skills": "management, legal"},
        headers=csrf_headers(admin),
    )
    assert created.status_code == 200
    assert 'id="teams-table" class="table-scroll" hx-swap-oob="true"' in created.text
    assert "Escalations" in created.text and "L3 · management" in created.text
    team = fresh(session).exec(select(Team).where(Team.name == "Escalations")).one()
    assert (team.tier, team.skills) == (3, ["management", "legal"])

    edited = admin.post(
        f"/settings/teams/{team.id}",
        data={"name": "Executive escalations", "tier": "2", "skills": ""},
        headers=csrf_headers(admin),
    )
    assert edited.status_code == 200
    team = fresh(session).get(Team, team.id)  # type: ignore[assignment]
    assert (team.name, team.tier, team.skills) == ("Executive escalations", 2, [])


def test_team_names_are_unique_when_adding_and_renaming(
    admin: TestClient, world: World, session: Session
) -> None:
    added = admin.post(
        "/settings/teams", data={"name": "Billing", "tier": "1"}, headers=csrf_headers(admin)
    )
    assert added.status_code == 422
    assert "A team named Billing exists" in added.text

    renamed = admin.post(
        f"/settings/teams/{world.support.id}",
        data={"name": "Billing", "tier": "1"},
        headers=csrf_headers(admin),
    )
    assert renamed.status_code == 422
    assert "A team named Billing exists" in renamed.text
    assert fresh(session).get(Team, world.support.id).name == "Support L1"  # type: ignore[union-attr]

    bad_tier = admin.post(
        "/settings/teams", data={"name": "L9", "tier": "9"}, headers=csrf_headers(admin)
    )
    assert bad_tier.status_code == 422


def test_names_that_admins_type_are_escaped(admin: TestClient, session: Session) -> None:
    admin.post(
        "/settings/teams",
        data={"name": "<b>x</b>", "tier": "1", "skills": "<img src=x onerror=alert(1)>"},
        headers=csrf_headers(admin),
    )
    page = admin.get("/settings/teams")
    assert "&lt;b&gt;x&lt;/b&gt;" in page.text
    assert "<b>x</b>" not in page.text
    assert "<img src=x" not in page.text
    agents_page = admin.get("/settings/agents")  # the team is offered in the agent form
    assert "&lt;b&gt;x&lt;/b&gt;" in agents_page.text and "<b>x</b>" not in agents_page.text


# Inboxes


def test_the_inboxes_page_lists_inboxes_with_their_channel(admin: TestClient, world: World) -> None:
    page = admin.get("/settings/inboxes")
    assert page.status_code == 200
    for text in ["Website", "Partner API", "Web chat", "Add web chat inbox", "Add API inbox"]:
        assert text in page.text


def test_an_admin_creates_a_web_chat_inbox_and_gets_its_snippet(
    admin: TestClient, world: World, session: Session
) -> None:
    response = admin.post(
        "/settings/inboxes",
        data={
            "channel": "webchat",
            "name": "Help center chat",
            "greeting": "Hello there!",
            "departments": [str(world.billing.id), str(world.support.id)],
            "member_ids": [str(world.dana.id), str(world.bob.id)],
        },
        headers=csrf_headers(admin),
    )
    assert response.status_code == 200
    inbox = fresh(session).exec(select(Inbox).where(Inbox.name == "Help center chat")).one()
    assert inbox.id is not None and inbox.widget_token
    assert inbox.channel == "webchat"
    assert inbox.config == {
        "departments": [world.billing.id, world.support.id],
        "greeting": "Hello there!",
    }
    assert member_ids_of(session, inbox.id) == sorted([world.dana.id or 0, world.bob.id or 0])
    snippet = (
        f"&lt;script src=&#34;http://testserver/widget/{inbox.widget_token}.js&#34; async&gt;"
        "&lt;/script&gt;"
    )
    assert snippet in response.text  # shown at once, ready to copy
    assert 'id="inboxes-table" class="table-scroll" hx-swap-oob="true"' in response.text

    page = admin.get(f"/settings/inboxes/{inbox.id}")
    assert page.status_code == 200
    assert snippet in page.text
    assert 'data-copy="snippet"' in page.text
    assert "/static/js/settings.js" in page.text
    assert "Hello there!" in page.text  # the widget preview


def test_an_admin_creates_an_api_inbox_and_sees_how_to_call_it(
    admin: TestClient, session: Session
) -> None:
    response = admin.post(
        "/settings/inboxes",
        data={"channel": "api", "name": "Mobile app", "webhook_url": "https://app.example/hook"},
        headers=csrf_headers(admin),
    )
    assert response.status_code == 200
    inbox = fresh(session).exec(select(Inbox).where(Inbox.name == "Mobile app")).one()
    assert inbox.config["webhook_url"] == "https://app.example/hook"
    secret = inbox.config["secret"]
    assert secret

    page = admin.get(f"/settings/inboxes/{inbox.id}")
    assert f"POST http://testserver/api/v1/inboxes/{inbox.id}/messages" in page.text
    assert secret in page.text
    assert "X-Handoff-Signature" in page.text


def test_bad_inbox_input_is_explained_inline(
    admin: TestClient, world: World, session: Session
) -> None:
    count = len(fresh(session).exec(select(Inbox)).all())
    cases = [
        ({"channel": "webchat", "name": ""}, "Give the inbox a name"),
        ({"channel": "webchat", "name": "X", "departments": "999"}, "No team 999"),
        ({"channel": "webchat", "name": "X", "member_ids": "999"}, "No agent 999"),
        ({"channel": "api", "name": "X", "webhook_url": "ftp://x"}, "must start with https://"),
        ({"channel": "fax", "name": "X"}, "Pick a channel for the inbox."),
    ]
    for data, message in cases:
        response = admin.post("/settings/inboxes", data=data, headers=csrf_headers(admin))
        assert response.status_code == 422, data
        assert message in response.text, data
    assert len(fresh(session).exec(select(Inbox)).all()) == count


def test_an_admin_edits_an_inbox_and_its_members(
    admin: TestClient, world: World, session: Session
) -> None:
    assert world.webchat.id is not None
    response = admin.post(
        f"/settings/inboxes/{world.webchat.id}",
        data={
            "name": "Website chat",
            "greeting": "Welcome!",
            "departments": [str(world.support.id)],
            "member_ids": [str(world.manager.id), str(world.dana.id)],
        },
        headers=csrf_headers(admin),
    )
    assert response.status_code == 200
    assert "Saved." in response.text
    assert 'id="inbox-header" hx-swap-oob="true"' in response.text
    inbox = fresh(session).get(Inbox, world.webchat.id)
    assert inbox is not None
    assert inbox.name == "Website chat"
    assert inbox.config["greeting"] == "Welcome!"
    assert inbox.config["departments"] == [world.support.id]
    assert member_ids_of(session, world.webchat.id) == sorted(
        [world.manager.id or 0, world.dana.id or 0]
    )

    # Unticking everyone leaves the inbox without members.
    admin.post(
        f"/settings/inboxes/{world.webchat.id}",
        data={"name": "Website chat"},
        headers=csrf_headers(admin),
    )
    assert member_ids_of(fresh(session), world.webchat.id) == []


def test_a_new_workspace_is_told_what_to_do_first(app_client: TestClient, session: Session) -> None:
    do_create_agent(
        session=session, email="solo@example.com", name="Solo", role="admin", password=PASSWORD
    )
    session.commit()
    login(app_client, "solo@example.com")
    inboxes = app_client.get("/settings/inboxes").text
    assert "No inboxes yet" in inboxes
    assert "paste its snippet into your site" in inboxes
    assert "No teams yet" in app_client.get("/settings/teams").text
    assert "Only you so far" in app_client.get("/settings/agents").text


def test_settings_pages_carry_no_inline_script_or_style(admin: TestClient, world: World) -> None:
    for path in [
        "/settings/agents",
        "/settings/teams",
        "/settings/inboxes",
        f"/settings/inboxes/{world.webchat.id}",
        f"/settings/inboxes/{world.api.id}",
    ]:
        html = admin.get(path).text
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), path
        assert " style=" not in html and " on" + "click=" not in html, path
