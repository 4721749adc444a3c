"""`GET/PUT /api/v1/policy` as an integration sees it: JSON or YAML, admins only for changes,
422 naming the bad field (CONTRACT.md, docs/concepts/escalation-policy.md)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from sqlmodel import Session, select
from starlette.testclient import TestClient

from inbox.accounts import do_create_team, do_create_token
from inbox.models import Agent, PolicyDocument
from inbox.policy_store import as_data, current_policy, policy_to_yaml
from tests.factories import World, build_world, world_policy

API = "/api/v1/policy"


def bearer(session: Session, agent: Agent) -> dict[str, str]:
    token = do_create_token(session=session, agent=agent, label="test")
    session.commit()
    return {"authorization": f"Bearer {token}"}


@pytest.fixture
def world(session: Session) -> World:
    w = build_world(session)
    for name, tier in [("Technical", 2), ("Customer Satisfaction", 2), ("Management", 3)]:
        do_create_team(session=session, name=name, tier=tier, skills=[])
    session.commit()
    return w


@pytest.fixture
def admin(session: Session, world: World) -> dict[str, str]:
    return bearer(session, world.admin)


@pytest.fixture
def dana(session: Session, world: World) -> dict[str, str]:
    return bearer(session, world.dana)


def in_force(session: Session) -> Any:
    session.expire_all()
    return current_policy(session)


def field_of(response: Any) -> str:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"].startswith(body["detail"]["field"] + ": ")
    return str(body["detail"]["field"])


def test_any_agent_reads_the_policy_as_json(app_client: TestClient, dana: dict[str, str]) -> None:
    response = app_client.get(API, headers=dana)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body == as_data(world_policy())
    assert body["matrix"][0]["tiers"] == {"1": "Support L1", "2": "Billing", "3": "Management"}


@pytest.mark.parametrize(
    ("query", "headers"),
    [("?format=yaml", {}), ("", {"accept": "application/yaml"})],
)
def test_the_policy_comes_as_yaml_when_asked(
    app_client: TestClient, dana: dict[str, str], query: str, headers: dict[str, str]
) -> None:
    response = app_client.get(API + query, headers={**dana, **headers})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/yaml")
    assert response.text == policy_to_yaml(world_policy())
    assert yaml.safe_load(response.text)["rules"]["reopen_limit"] == 3


def test_an_unknown_format_is_refused_by_name(app_client: TestClient, dana: dict[str, str]) -> None:
    response = app_client.get(API + "?format=xml", headers=dana)
    assert response.status_code == 422
    assert response.json()["detail"] == {"field": "format"}
    json_anyway = app_client.get(API + "?format=json", headers={**dana, "accept": "text/yaml"})
    assert json_anyway.headers["content-type"].startswith("application/json")


def test_secrets_are_blanked_for_agents_and_shown_to_admins(
    app_client: TestClient, admin: dict[str, str], dana: dict[str, str]
) -> None:
    document = as_data(world_policy())
    document["notifiers"]["slack"]["bot_token"] = "xoxb-123"
    assert app_client.put(API, headers=admin, json=document).status_code == 200
    assert app_client.get(API, headers=dana).json()["notifiers"]["slack"]["bot_token"] is None
    assert "xoxb-123" not in app_client.get(API + "?format=yaml", headers=dana).text
    assert app_client.get(API, headers=admin).json()["notifiers"]["slack"]["bot_token"] == (
        "xoxb-123"
    )


def test_an_admin_replaces_the_policy_with_json(
    app_client: TestClient, admin: dict[str, str], session: Session
) -> None:
    document = as_data(world_policy())
    document["rules"]["acknowledge_minutes"] = 15
    response = app_client.put(API, headers=admin, json=document)
    assert response.status_code == 200, response.text
    assert response.json()["rules"]["acknowledge_minutes"] == 15
    assert in_force(session).rules.acknowledge_minutes == 15
    assert app_client.get(API, headers=admin).json() == response.json()


def test_an_admin_replaces_the_policy_with_yaml(
    app_client: TestClient, admin: dict[str, str], session: Session
) -> None:
    text = policy_to_yaml(world_policy()).replace("reopen_limit: 3", "reopen_limit: 2")
    response = app_client.put(
        API,
        headers={**admin, "content-type": "application/yaml", "accept": "application/yaml"},
        content=text.encode(),
    )
    assert response.status_code == 200, response.text
    assert response.text == text
    assert in_force(session).rules.reopen_limit == 2


@pytest.mark.parametrize("who", ["dana", "maria"])
def test_agents_and_managers_may_not_change_the_policy(
    app_client: TestClient, session: Session, world: World, who: str
) -> None:
    agent = world.dana if who == "dana" else world.manager
    response = app_client.put(API, headers=bearer(session, agent), json=as_data(world_policy()))
    assert response.status_code == 403
    assert "admins" in response.json()["error"]
    assert len(session.exec(select(PolicyDocument)).all()) == 1, "only build_world's policy"


def test_without_a_token_there_is_no_policy(app_client: TestClient, world: World) -> None:
    assert app_client.get(API).status_code == 401
    assert app_client.put(API, json={}).status_code == 401


def test_an_invalid_policy_gets_422_naming_the_field(
    app_client: TestClient, admin: dict[str, str], session: Session
) -> None:
    document = as_data(world_policy())
    document["sla"][1]["targets"]["first_response"] = -1
    response = app_client.put(API, headers=admin, json=document)
    assert field_of(response) == "sla.1.targets.first_response"
    assert response.json()["error"] == (
        "sla.1.targets.first_response: Input should be greater than 0"
    )

    document = as_data(world_policy())
    document["matrix"][0]["tiers"]["2"] = "Payments"
    document["tiers"][2]["teams"].append("Payments")
    assert field_of(app_client.put(API, headers=admin, json=document)) == "tiers.2.teams.3"

    text = "tiers:\n  - level: 9\n"
    response = app_client.put(
        API, headers={**admin, "content-type": "application/yaml"}, content=text.encode()
    )
    assert field_of(response) == "tiers.0.level"

    response = app_client.put(
        API, headers={**admin, "content-type": "text/yaml"}, content=b"rules: {\n"
    )
    assert response.status_code == 422 and response.json()["detail"]["line"] == 2
    assert len(session.exec(select(PolicyDocument)).all()) == 1, "only build_world's policy"


def test_a_body_that_is_not_json_is_a_400(app_client: TestClient, admin: dict[str, str]) -> None:
    response = app_client.put(
        API, headers={**admin, "content-type": "application/json"}, content=b"tiers: []"
    )
    assert response.status_code == 400
    assert "application/yaml" in response.json()["error"]
