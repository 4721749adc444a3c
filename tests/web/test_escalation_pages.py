"""Escalating from the inbox: shortcut buttons, the brief form (refused without the required
fields, stored nothing), the pinned brief and the badge, accepting, access, live delivery to
the receiving team, and Settings → Shortcuts."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select
from starlette.testclient import TestClient

from inbox.db import Database
from inbox.escalation import do_escalate
from inbox.inbox_members import set_inbox_members
from inbox.models import Conversation, Escalation, Message, Notification, Shortcut
from inbox.shortcuts_store import do_create_shortcut
from tests.conftest import csrf_headers, login
from tests.factories import World, build_world, customer_writes
from tests.web.test_realtime import ORIGIN, next_frame

BRIEF_FIELDS = [
    {"name": "problem", "label": "Problem", "required": True},
    {"name": "tried", "label": "What was tried", "required": True},
    {"name": "impact", "label": "Customer impact", "required": False},
]


def setup(session: Session) -> tuple[World, Conversation, Shortcut]:
    """Dana (Support L1, and a member of the web chat inbox, so she keeps seeing what she
    escalates) has a customer's conversation; a shortcut sends it to Billing."""
    w = build_world(session)
    set_inbox_members(session, w.webchat, [w.dana.id or 0])
    session.commit()
    c = customer_writes(session, w.webchat, "I was charged twice", team=w.support).conversation
    shortcut = do_create_shortcut(
        session=session,
        label="Escalate to Billing",
        target={"team_id": w.billing.id},
        brief_fields=BRIEF_FIELDS,
    )
    return w, c, shortcut


def test_the_conversation_shows_the_shortcut_buttons(
    app_client: TestClient, session: Session
) -> None:
    _, c, shortcut = setup(session)
    login(app_client, "dana@example.com")
    page = app_client.get(f"/conversations/{c.id}").text
    assert f'id="shortcuts-{c.id}"' in page and f"/conversations/{c.id}/escalation-bar" in page
    bar = app_client.get(f"/conversations/{c.id}/escalation-bar", headers={"hx-request": "true"})
    assert bar.status_code == 200
    assert "Escalate to Billing" in bar.text and "Escalate…" in bar.text
    assert f"/conversations/{c.id}/escalate?shortcut_id={shortcut.id}" in bar.text
    assert "Accept escalation" not in bar.text


def test_a_button_opens_its_brief_form_with_required_fields_marked(
    app_client: TestClient, session: Session
) -> None:
    _, c, shortcut = setup(session)
    login(app_client, "dana@example.com")
    form = app_client.get(f"/conversations/{c.id}/escalate?shortcut_id={shortcut.id}").text
    assert "Escalate to Billing" in form and "To Billing (L2)" in form
    for name in ("problem", "tried", "impact"):
        assert f'name="{name}"' in form
    assert form.count('aria-required="true"') == 2, "problem and tried are required, impact not"


def test_a_brief_missing_a_required_field_is_refused_and_nothing_is_stored(
    app_client: TestClient, session: Session, db: Database
) -> None:
    _, c, shortcut = setup(session)
    login(app_client, "dana@example.com")
    response = app_client.post(
        f"/conversations/{c.id}/escalate",
        data={"shortcut_id": str(shortcut.id), "problem": "Charged twice", "tried": "  "},
        headers=csrf_headers(app_client),
    )
    assert response.status_code == 422
    assert "What was tried is required in the brief" in response.text
    assert 'data-field="tried"' in response.text and 'aria-invalid="true"' in response.text
    assert "Charged twice" in response.text, "what was typed stays in the form"
    with db.session() as fresh:
        assert fresh.exec(select(Escalation)).all() == []
        conversation = fresh.get(Conversation, c.id)
        assert conversation is not None and conversation.team_id == c.team_id


def test_a_full_brief_escalates_and_the_pane_shows_the_pinned_brief_and_badge(
    app_client: TestClient, session: Session, db: Database
) -> None:
    w, c, shortcut = setup(session)
    login(app_client, "dana@example.com")
    response = app_client.post(
        f"/conversations/{c.id}/escalate",
        data={
            "shortcut_id": str(shortcut.id),
            "problem": "Charged twice for March",
            "tried": "Checked the invoice <b>twice</b>",
        },
        headers=csrf_headers(app_client),
    )
    assert response.status_code == 200
    assert response.headers["hx-retarget"] == "#conversation"
    assert f'id="pinned-brief-{c.id}"' in response.text
    assert "Problem: Charged twice for March" in response.text
    assert "&lt;b&gt;twice&lt;/b&gt;" in response.text, "the brief is escaped"
    listing = app_client.get("/inbox/list?view=all", headers={"hx-request": "true"}).text
    assert "Escalated · L2 · Billing" in listing
    with db.session() as fresh:
        escalation = fresh.exec(select(Escalation)).one()
        assert escalation.to_team_id == w.billing.id and escalation.agent_id == w.dana.id
        assert escalation.reason == "Escalate to Billing"


def test_an_agent_who_loses_sight_of_it_is_told_it_moved(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    c = customer_writes(session, w.webchat, "Refund?", team=w.support).conversation
    login(app_client, "dana@example.com")
    response = app_client.post(
        f"/conversations/{c.id}/escalate",
        data={"target": f"team:{w.billing.id}", "summary": "Wants a refund"},
        headers=csrf_headers(app_client),
    )
    assert response.status_code == 200 and "Moved out of your view" in response.text


def test_the_generic_button_needs_a_target_and_a_summary(
    app_client: TestClient, session: Session, db: Database
) -> None:
    w, c, _ = setup(session)
    login(app_client, "dana@example.com")
    form = app_client.get(f"/conversations/{c.id}/escalate").text
    assert "One tier up (L2)" in form and f'value="team:{w.billing.id}"' in form
    refused = app_client.post(
        f"/conversations/{c.id}/escalate",
        data={"target": "up:1", "summary": ""},
        headers=csrf_headers(app_client),
    )
    assert refused.status_code == 422 and "Summary is required" in refused.text
    no_target = app_client.post(
        f"/conversations/{c.id}/escalate",
        data={"target": "", "summary": "Needs a specialist"},
        headers=csrf_headers(app_client),
    )
    assert no_target.status_code == 422 and "Choose where to escalate to" in no_target.text
    done = app_client.post(
        f"/conversations/{c.id}/escalate",
        data={"target": "up:1", "summary": "Needs a specialist"},
        headers=csrf_headers(app_client),
    )
    assert done.status_code == 200
    with db.session() as fresh:
        escalation = fresh.exec(select(Escalation)).one()
        assert escalation.kind == "hierarchical" and escalation.to_tier == 2


def test_the_receiving_team_sees_the_brief_and_accepts(
    app_client: TestClient, session: Session, db: Database
) -> None:
    w, c, shortcut = setup(session)
    escalation = do_escalate(
        session=session,
        conversation=c,
        actor=w.dana,
        trigger="agent",
        brief={"problem": "Charged twice", "tried": "Stripe lookup"},
        shortcut=shortcut,
    )
    login(app_client, "bob@example.com")
    page = app_client.get(f"/conversations/{c.id}").text
    assert "Handoff brief" in page and "Tried" not in page.split("Handoff brief")[0]
    assert "What was tried: Stripe lookup" in page
    assert session.exec(select(Notification).where(Notification.agent_id == w.bob.id)).all()
    bar = app_client.get(f"/conversations/{c.id}/escalation-bar").text
    assert "Accept escalation" in bar and f"/escalations/{escalation.id}/accept" in bar
    accepted = app_client.post(
        f"/escalations/{escalation.id}/accept", headers=csrf_headers(app_client)
    )
    assert accepted.status_code == 200
    assert "Bob Stone accepted the escalation for Billing" in accepted.text
    with db.session() as fresh:
        stored = fresh.get(Escalation, escalation.id)
        conversation = fresh.get(Conversation, c.id)
        assert stored is not None and stored.status == "accepted"
        assert conversation is not None and conversation.assignee_id == w.bob.id
    assert "Accept escalation" not in app_client.get(f"/conversations/{c.id}/escalation-bar").text


def test_an_agent_who_cannot_see_the_conversation_gets_404(
    app_client: TestClient, session: Session, db: Database
) -> None:
    _, c, shortcut = setup(session)
    login(app_client, "bob@example.com")
    assert app_client.get(f"/conversations/{c.id}/escalation-bar").status_code == 404
    assert app_client.get(f"/conversations/{c.id}/escalate").status_code == 404
    response = app_client.post(
        f"/conversations/{c.id}/escalate",
        data={"shortcut_id": str(shortcut.id), "problem": "x", "tried": "y"},
        headers=csrf_headers(app_client),
    )
    assert response.status_code == 404
    with db.session() as fresh:
        assert fresh.exec(select(Escalation)).all() == []


def test_the_receiving_team_hears_of_it_live(app_client: TestClient, session: Session) -> None:
    w, c, shortcut = setup(session)
    login(app_client, "bob@example.com")
    app: Any = app_client.app
    with app_client.websocket_connect("/ws", headers=ORIGIN) as ws:
        ws.receive_json()  # hello
        with app.state.handoff.db.session() as s:
            conversation = s.get(Conversation, c.id)
            assert conversation is not None
            do_escalate(
                session=s,
                conversation=conversation,
                actor=w.dana,
                trigger="agent",
                brief={"problem": "Charged twice", "tried": "Stripe lookup"},
                shortcut=s.get(Shortcut, shortcut.id),
            )
        pinned = next_frame(
            ws,
            lambda f: (
                f["type"] == "message.created"
                and "Problem: Charged twice" in (f.get("html") or {}).get("message", "")
            ),
        )
        assert pinned["data"]["conversation_id"] == c.id
        told = next_frame(ws, lambda f: f["type"] == "notification.created")
        assert "escalated conversation" in told["data"]["text"]


def test_admins_define_shortcuts_in_settings(app_client: TestClient, session: Session) -> None:
    w = build_world(session)
    login(app_client, "admin@example.com")
    page = app_client.get("/settings/shortcuts")
    assert page.status_code == 200 and "No shortcuts yet" in page.text
    form = {
        "label": "Refund to Billing",
        "target_kind": "team_id",
        "team_id": str(w.billing.id),
        "rows": "3",
        "brief_name_0": "problem",
        "brief_label_0": "Problem",
        "brief_required_0": "1",
        "brief_name_1": "amount",
        "brief_label_1": "Amount",
        "priority": "high",
        "action_label": "refund",
        "active": "1",
    }
    bad = app_client.post(
        "/settings/shortcuts", data={**form, "label": ""}, headers=csrf_headers(app_client)
    )
    assert bad.status_code == 422 and "label is required" in bad.text.lower()
    created = app_client.post("/settings/shortcuts", data=form, headers=csrf_headers(app_client))
    assert created.status_code == 200 and "Refund to Billing" in created.text
    stored = session.exec(select(Shortcut)).one()
    assert stored.brief_fields == [
        {"name": "problem", "label": "Problem", "required": True},
        {"name": "amount", "label": "Amount", "required": False},
    ]
    assert stored.actions == {"priority": "high", "label": "refund"}
    edit = app_client.get(f"/settings/shortcuts/{stored.id}").text
    assert 'value="Refund to Billing"' in edit and 'value="refund"' in edit


def test_only_admins_open_the_shortcut_settings(app_client: TestClient, session: Session) -> None:
    build_world(session)
    login(app_client, "dana@example.com")
    assert app_client.get("/settings/shortcuts").status_code == 403
    refused = app_client.post(
        "/settings/shortcuts", data={"label": "x"}, headers=csrf_headers(app_client)
    )
    assert refused.status_code == 403
    assert session.exec(select(Message).where(Message.pinned)).all() == []
