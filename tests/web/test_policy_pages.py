"""The escalation policy in the browser: the admins' settings page with its summary and YAML
editor, and the printable escalation matrix every agent can open
(docs/concepts/escalation-policy.md)."""

from __future__ import annotations

from typing import Any

import pytest
from markupsafe import escape
from sqlmodel import Session, select
from starlette.testclient import TestClient

from inbox.accounts import do_create_team
from inbox.models import PolicyDocument
from inbox.policy import Policy
from inbox.policy_store import (
    current_policy,
    do_save_policy,
    parse_policy,
    policy_to_yaml,
)
from tests.conftest import csrf_headers, login
from tests.factories import World, build_world, world_policy

PAGE = "/settings/policy"


@pytest.fixture
def world(session: Session) -> World:
    return build_world(session)


def add_missing_teams(session: Session) -> None:
    for name, tier in [("Technical", 2), ("Customer Satisfaction", 2), ("Management", 3)]:
        do_create_team(session=session, name=name, tier=tier, skills=[])
    session.commit()


@pytest.fixture
def admin(app_client: TestClient, world: World) -> TestClient:
    login(app_client, "admin@example.com")
    return app_client


def in_force(session: Session) -> Policy:
    session.expire_all()
    return current_policy(session)


def save(client: TestClient, text: str) -> Any:
    """The htmx form post the editor's Save button sends."""
    return client.post(PAGE, data={"yaml": text}, headers=csrf_headers(client))


# Settings → Policy


def test_admins_see_a_readable_summary_above_the_yaml(admin: TestClient) -> None:
    response = admin.get(PAGE)
    assert response.status_code == 200
    page = response.text
    assert 'aria-current="page">Policy</a>' in page
    assert "In force since" in page, "build_world saved a policy"
    for words in ("First line", "Support L1", "Customer Satisfaction", "Not routed"):
        assert words in page, words
    # Teams the policy names but the database lacks are pointed out, not hidden.
    assert page.count("no such team yet") == 3
    assert "Urgent, VIP or gold" in page and "15 min" in page and "72 h" in page
    assert "Open 48 hours" in page and "Jan Kowalczyk (director)" in page
    assert "reopened more than 3 times goes to Customer Satisfaction" in page
    assert 'href="/matrix"' in page and 'href="/settings/policy/download"' in page
    assert str(escape(policy_to_yaml(world_policy()))) in page


def test_saving_an_edited_policy_puts_it_in_force(
    admin: TestClient, session: Session, world: World
) -> None:
    add_missing_teams(session)
    text = policy_to_yaml(world_policy()).replace("reopen_limit: 3", "reopen_limit: 2")
    response = save(admin, text)
    assert response.status_code == 200, response.text
    assert "Saved. The new policy is in force" in response.text
    # The summary beside it is refreshed in the same answer.
    assert 'id="policy-summary" class="policy-summary" hx-swap-oob="true"' in response.text
    assert "reopened more than 2 times" in response.text
    assert "saved by Ada Admin" in response.text
    assert "no such team yet" not in response.text
    assert in_force(session).rules.reopen_limit == 2
    assert "In force since" in admin.get(PAGE).text


def test_a_mistake_is_shown_beside_the_editor_and_the_text_is_kept(
    admin: TestClient, session: Session, world: World
) -> None:
    add_missing_teams(session)
    text = policy_to_yaml(world_policy()).replace(
        "timezone: Europe/Warsaw", "timezone: Europe/Atlantis"
    )
    response = save(admin, text)
    assert response.status_code == 422
    assert "Not saved." in response.text
    assert "calendars.0.timezone: unknown time zone &#39;Europe/Atlantis&#39;" in response.text
    assert "Europe/Atlantis" in response.text.split("<textarea", 1)[1]
    assert 'id="policy-summary"' not in response.text  # the summary stays as it was
    assert len(session.exec(select(PolicyDocument)).all()) == 1, "only build_world's policy"


def test_a_team_that_does_not_exist_is_refused_on_save(admin: TestClient, session: Session) -> None:
    response = save(admin, policy_to_yaml(world_policy()))
    assert response.status_code == 422
    assert "tiers.2.teams.1: no team named &#39;Technical&#39;" in response.text
    assert "<code>matrix.2.tiers.2</code>" in response.text  # every problem is listed
    assert len(session.exec(select(PolicyDocument)).all()) == 1, "only build_world's policy"


def test_a_yaml_syntax_error_names_its_line_and_keeps_the_text(admin: TestClient) -> None:
    response = save(admin, "version: 1\nrules:\n  reopen_limit: [3\n  <b>oops</b>\n")
    assert response.status_code == 422
    assert "line 5" in response.text
    assert "&lt;b&gt;oops&lt;/b&gt;" in response.text and "<b>oops</b>" not in response.text


def test_the_policy_downloads_as_a_yaml_file(admin: TestClient) -> None:
    response = admin.get("/settings/policy/download")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/yaml")
    assert 'filename="handoff-policy.yaml"' in response.headers["content-disposition"]
    assert response.text == policy_to_yaml(world_policy())


@pytest.mark.parametrize("email", ["dana@example.com", "maria@example.com"])
def test_only_admins_may_see_or_change_the_policy_settings(
    app_client: TestClient, world: World, session: Session, email: str
) -> None:
    login(app_client, email)
    for path in (PAGE, "/settings/policy/download"):
        response = app_client.get(path)
        assert response.status_code == 403
        assert "Settings are for admins" in response.text
    add_missing_teams(session)
    assert save(app_client, policy_to_yaml(world_policy())).status_code == 403
    assert len(session.exec(select(PolicyDocument)).all()) == 1, "only build_world's policy"


def test_signed_out_visitors_are_sent_to_sign_in(app_client: TestClient, world: World) -> None:
    for path in (PAGE, "/matrix"):
        response = app_client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login")


# The printable matrix


def test_any_agent_opens_the_matrix_for_training(app_client: TestClient, world: World) -> None:
    login(app_client, "dana@example.com")
    response = app_client.get("/matrix")
    assert response.status_code == 200
    page = response.text
    assert "<h1>Escalation matrix</h1>" in page
    # Where each problem goes: one row per problem, one column per tier.
    complaint = page.split("<strong>complaint</strong>", 1)[1].split("</tr>", 1)[0]
    assert [cell.split("</td>")[0] for cell in complaint.split("<td>")[1:]] == [
        "Support L1",
        "Customer Satisfaction",
        "Management",
    ]
    # Targets by priority and customer tier, the ladder, the rules, the people.
    assert "VIP customers" in page and "Gold customers" in page and "Other customers" in page
    assert "30 min · 1 h · 8 h" in page  # urgent, everyone else
    assert "4 h · 8 h · 72 h" in page  # normal, everyone else
    assert "Still open 24 hours after it was opened" in page
    assert "Maria Lopez (manager)" in page and "Slack, SMS, Email" in page
    assert "within 30 minutes moves one tier up" in page
    assert "+48600100400" in page and "mailto:ewa.wisniewska@example.com" in page
    assert "Mon–Fri 09:00–17:00." in page and "Closed on public holidays (PL)" in page
    # Printable: its own stylesheet with an A4 print rule; only admins get the edit link.
    assert '<link rel="stylesheet" href="/static/css/matrix.css">' in page
    assert 'href="/settings/policy"' not in page
    css = app_client.get("/static/css/matrix.css").text
    assert "size: A4" in css and "@media print" in css


def test_the_matrix_shows_the_saved_policy_escaped(
    app_client: TestClient, world: World, session: Session
) -> None:
    add_missing_teams(session)
    data = world_policy().model_dump(mode="json")
    data["matrix"][0]["problem"] = "<b>refund fraud</b>"
    data["matrix"][0]["description"] = '<img src=x onerror="alert(1)">'
    data["people"][0]["name"] = "Kasia <script>alert(2)</script>"
    data["ladder"][0]["notify"] = ["Kasia <script>alert(2)</script>"]
    do_save_policy(session=session, policy=parse_policy(data), actor=world.admin)

    login(app_client, "admin@example.com")
    page = app_client.get("/matrix").text
    assert "&lt;b&gt;refund fraud&lt;/b&gt;" in page
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page
    assert "Kasia &lt;script&gt;alert(2)&lt;/script&gt;" in page
    assert "<script>alert" not in page and "<img src=x" not in page and " style=" not in page
    assert 'href="/settings/policy"' in page  # admins may go and edit it
    assert "Policy in force since" in page
