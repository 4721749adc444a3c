"""Shortcuts and escalations through the JSON API (CONTRACT.md): admins define buttons,
integrations escalate with a brief (422 without one that meets the required fields),
receiving agents accept, and a shortcut's webhook goes out signed after the commit."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
from sqlmodel import Session, select
from starlette.testclient import TestClient

from channels.api_channel import sign
from inbox.accounts import do_create_token
from inbox.db import Database
from inbox.models import Agent, Alert, Conversation, Escalation
from shortcuts.webhooks import send_pending_webhooks
from tests.factories import World, build_world, customer_writes
from tests.standins import standin_server

BILLING_BRIEF = [
    {"name": "problem", "label": "Problem", "required": True},
    {"name": "tried", "label": "What was tried", "required": True},
]


def bearer(session: Session, agent: Agent) -> dict[str, str]:
    token = do_create_token(session=session, agent=agent, label="test")
    session.commit()
    return {"authorization": f"Bearer {token}"}


def new_shortcut(client: TestClient, headers: dict[str, str], w: World, **extra: object) -> int:
    body = {
        "label": "Escalate to Billing",
        "target": {"team_id": w.billing.id},
        "brief_fields": BILLING_BRIEF,
        **extra,
    }
    response = client.post("/api/v1/shortcuts", json=body, headers=headers)
    assert response.status_code == 201, response.text
    shortcut_id: int = response.json()["id"]
    return shortcut_id


def test_admins_define_shortcuts_and_everyone_reads_them(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    admin, dana = bearer(session, w.admin), bearer(session, w.dana)
    body = {"label": "Up a tier", "target": {"tier_up": 1}, "brief_fields": BILLING_BRIEF}
    assert app_client.post("/api/v1/shortcuts", json=body, headers=dana).status_code == 403
    bad = app_client.post(
        "/api/v1/shortcuts", json={**body, "target": {"team_id": 999}}, headers=admin
    )
    assert bad.status_code == 422 and bad.json()["detail"]["field"] == "target.team_id"
    unknown = app_client.post(
        "/api/v1/shortcuts", json={**body, "actions": {"launch": "rockets"}}, headers=admin
    )
    assert unknown.status_code == 422 and unknown.json()["detail"]["field"] == "actions.launch"
    shortcut_id = new_shortcut(
        app_client,
        admin,
        w,
        actions={"webhook_url": "https://example.com/hook", "webhook_secret": "s3cret"},
    )
    listed = app_client.get("/api/v1/shortcuts", headers=dana).json()["items"]
    assert [s["label"] for s in listed] == ["Escalate to Billing"]
    assert listed[0]["actions"]["webhook_secret"] is None, "agents never see the secret"
    patched = app_client.patch(
        f"/api/v1/shortcuts/{shortcut_id}",
        json={"label": "Billing, please", "active": False},
        headers=admin,
    )
    assert patched.status_code == 200 and patched.json()["label"] == "Billing, please"
    assert patched.json()["active"] is False
    refused = app_client.patch(
        f"/api/v1/shortcuts/{shortcut_id}", json={"label": "mine"}, headers=dana
    )
    assert refused.status_code == 403


def test_escalating_needs_the_shortcuts_brief(
    app_client: TestClient, session: Session, db: Database
) -> None:
    w = build_world(session)
    admin = bearer(session, w.admin)
    shortcut_id = new_shortcut(app_client, admin, w)
    c = customer_writes(session, w.api, "charged twice", team=w.support).conversation
    dana = bearer(session, w.dana)
    url = f"/api/v1/conversations/{c.id}/escalations"
    missing = app_client.post(
        url, json={"shortcut_id": shortcut_id, "brief": {"problem": "x"}}, headers=dana
    )
    assert missing.status_code == 422
    assert missing.json()["detail"] == {"field": "brief.tried"}
    none = app_client.post(url, json={"shortcut_id": shortcut_id}, headers=dana)
    assert none.status_code == 422
    with db.session() as fresh:
        assert fresh.exec(select(Escalation)).all() == []
    done = app_client.post(
        url,
        json={"shortcut_id": shortcut_id, "brief": {"problem": "Double charge", "tried": "Stripe"}},
        headers=dana,
    )
    assert done.status_code == 201, done.text
    body = done.json()
    assert body["kind"] == "functional" and body["status"] == "open"
    assert body["to_team_id"] == w.billing.id and body["from_team_id"] == w.support.id
    assert body["brief"] == {"problem": "Double charge", "tried": "Stripe"}
    assert body["shortcut_id"] == shortcut_id and body["bounce_due_at"]
    # Dana's team no longer holds it: to her it is gone, as any conversation she may not see.
    assert app_client.get(url, headers=dana).status_code == 404
    bob = bearer(session, w.bob)
    listed = app_client.get(url, headers=bob).json()["items"]
    assert [e["id"] for e in listed] == [body["id"]]
    accepted = app_client.post(f"/api/v1/escalations/{body['id']}/accept", headers=bob)
    assert accepted.status_code == 200 and accepted.json()["accepted_by_id"] == w.bob.id
    again = app_client.post(f"/api/v1/escalations/{body['id']}/accept", headers=bob)
    assert again.status_code == 409


def test_escalating_without_a_shortcut_needs_a_summary_and_a_target(
    app_client: TestClient, session: Session, db: Database
) -> None:
    w = build_world(session)
    c = customer_writes(session, w.api, "help", team=w.support).conversation
    dana = bearer(session, w.dana)
    url = f"/api/v1/conversations/{c.id}/escalations"
    assert app_client.post(url, json={"tier": 2, "brief": {}}, headers=dana).status_code == 422
    nowhere = app_client.post(url, json={"brief": {"summary": "x"}}, headers=dana)
    assert nowhere.status_code == 422
    same = app_client.post(url, json={"tier": 1, "brief": {"summary": "x"}}, headers=dana)
    assert same.status_code == 422 and same.json()["detail"]["field"] == "tier"
    up = app_client.post(url, json={"tier": 2, "brief": {"summary": "Needs L2"}}, headers=dana)
    assert up.status_code == 201 and up.json()["kind"] == "hierarchical"
    assert up.json()["to_tier"] == 2
    with db.session() as fresh:
        conversation = fresh.get(Conversation, c.id)
        assert conversation is not None and conversation.tier == 2
        assert conversation.escalation_id == up.json()["id"]


def test_an_agent_who_cannot_see_the_conversation_gets_404(
    app_client: TestClient, session: Session, db: Database
) -> None:
    w = build_world(session)
    c = customer_writes(session, w.api, "private", team=w.support).conversation
    bob = bearer(session, w.bob)
    response = app_client.post(
        f"/api/v1/conversations/{c.id}/escalations",
        json={"team_id": w.billing.id, "brief": {"summary": "mine now"}},
        headers=bob,
    )
    assert response.status_code == 404
    with db.session() as fresh:
        assert fresh.exec(select(Escalation)).all() == []


def settled_webhook(db: Database, within: float = 10.0) -> str:
    """The webhook alert's status once the app's background sender has dealt with it."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with db.session() as fresh:
            alert = fresh.exec(select(Alert).where(Alert.channel == "webhook")).first()
        if alert is not None and alert.status not in ("pending", "sending"):
            return alert.status
        time.sleep(0.05)
    raise AssertionError("the webhook was never sent")


def test_a_shortcuts_webhook_is_posted_signed_after_the_commit(
    app_client: TestClient, session: Session, db: Database
) -> None:
    w = build_world(session)
    admin = bearer(session, w.admin)
    c = customer_writes(session, w.api, "charged twice", team=w.support).conversation
    with standin_server() as tickets:
        shortcut_id = new_shortcut(
            app_client,
            admin,
            w,
            actions={"webhook_url": tickets.url + "/jira", "webhook_secret": "s3cret"},
        )
        done = app_client.post(
            f"/api/v1/conversations/{c.id}/escalations",
            json={"shortcut_id": shortcut_id, "brief": {"problem": "Double", "tried": "Stripe"}},
            headers=admin,
        )
        assert done.status_code == 201

        # The app's own sender delivers it right after the commit.
        assert settled_webhook(db) == "sent"

        async def send() -> dict[int, str]:
            async with httpx.AsyncClient() as http:
                return await send_pending_webhooks(db, http)

        assert asyncio.run(send()) == {}, "each webhook goes out once"
    [received] = tickets.received
    assert received.path == "/jira"
    assert received.headers["x-handoff-signature"] == sign("s3cret", received.body)
    payload = json.loads(received.body)
    assert payload["event"] == "escalation.created"
    assert payload["escalation"]["brief"] == {"problem": "Double", "tried": "Stripe"}
    assert payload["escalation"]["to_team"] == {"id": w.billing.id, "name": "Billing"}
    with db.session() as fresh:
        alert = fresh.exec(select(Alert).where(Alert.channel == "webhook")).one()
        assert alert.status == "sent" and alert.error is None


def test_a_failing_webhook_is_recorded_as_failed(
    app_client: TestClient, session: Session, db: Database
) -> None:
    w = build_world(session)
    admin = bearer(session, w.admin)
    c = customer_writes(session, w.api, "charged twice", team=w.support).conversation
    with standin_server() as tickets:
        tickets.check = lambda path, headers, body: (500, b"{}")
        shortcut_id = new_shortcut(app_client, admin, w, actions={"webhook_url": tickets.url})
        app_client.post(
            f"/api/v1/conversations/{c.id}/escalations",
            json={"shortcut_id": shortcut_id, "brief": {"problem": "Double", "tried": "Stripe"}},
            headers=admin,
        )

        assert settled_webhook(db) == "failed"
    with db.session() as fresh:
        alert = fresh.exec(select(Alert).where(Alert.channel == "webhook")).one()
        assert alert.status == "failed" and alert.error == "webhook answered 500"
