"""Escalating from Slack: the message shortcut on a Handoff alert opens a modal with the
shortcuts and their brief (views.open, answered at once), and submitting it escalates."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from inbox.clock import utcnow
from inbox.db import Database
from inbox.models import Alert, Conversation, Escalation, Shortcut
from inbox.shortcuts_store import seed_shortcuts
from tests.factories import World, build_world
from tests.inbox.sla_support import use_policy, writes
from tests.standins import StandIn, standin_server
from tests.web.test_slack_interactivity import SECRET, TOKEN, signed

TS = "1763280000.000100"
URL = "/webhooks/slack/interactive"


@pytest.fixture
def slack() -> Iterator[StandIn]:
    with standin_server() as standin:
        standin.check = lambda path, headers, body: (
            (200, b'{"ok": true, "view": {"id": "V0MODAL"}}')
            if headers.get("authorization") == f"Bearer {TOKEN}"
            else (200, b'{"ok": false, "error": "invalid_auth"}')
        )
        yield standin


@dataclass
class Setup:
    world: World
    conversation_id: int
    shortcut: Shortcut


def alerted(session: Session, slack: StandIn) -> Setup:
    """A conversation with Support L1, the demo shortcuts, and the Slack alert Handoff posted
    about it (message ts TS in C0ESCALATE); Dana is known in Slack as U0DANA."""
    w = build_world(session)
    use_policy(
        session,
        people=[{"name": "Dana", "role": "agent", "email": "dana@example.com", "slack": "U0DANA"}],
        notifiers={
            "slack": {
                "channel": "C0ESCALATE",
                "bot_token": TOKEN,
                "signing_secret": SECRET,
                "api_base": f"{slack.url}/api/",
            }
        },
    )
    conversation = writes(session, w.webchat, utcnow(), team=w.support).conversation
    assert conversation.id is not None
    session.add(
        Alert(
            conversation_id=conversation.id,
            channel="slack",
            target="C0ESCALATE",
            text="Conversation waits",
            status="sent",
            external_ref=TS,
        )
    )
    session.commit()
    shortcut = seed_shortcuts(session)[0]  # Escalate to Billing
    return Setup(w, conversation.id, shortcut)


def message_action(ts: str = TS, text: str = "Conversation waits") -> dict[str, Any]:
    """What Slack sends when someone runs the message shortcut on a message."""
    return {
        "type": "message_action",
        "callback_id": "handoff_escalate",
        "trigger_id": "13345224609.738474920.8088930838d88f008e0",
        "user": {"id": "U0DANA", "name": "dana"},
        "team": {"id": "T0HANDOFF", "domain": "handoff-demo"},
        "channel": {"id": "C0ESCALATE", "name": "escalations"},
        "message": {"type": "message", "ts": ts, "text": text},
        "response_url": "https://hooks.slack.com/app/T0HANDOFF/1/abc",
    }


def view_submission(
    conversation_id: int, shortcut_id: int, values: dict[str, str], user: str = "U0DANA"
) -> dict[str, Any]:
    state = {
        "shortcut": {
            "shortcut": {
                "type": "static_select",
                "selected_option": {"value": str(shortcut_id)},
            }
        },
        **{
            name: {name: {"type": "plain_text_input", "value": value}}
            for name, value in values.items()
        },
    }
    return {
        "type": "view_submission",
        "user": {"id": user, "name": "dana"},
        "view": {
            "id": "V0MODAL",
            "callback_id": "handoff_escalate_brief",
            "private_metadata": f"{conversation_id}:{shortcut_id}",
            "state": {"values": state},
        },
    }


def views_opened(slack: StandIn) -> list[dict[str, Any]]:
    """The views.open calls, as (trigger_id, view) however slack-sdk encoded them."""
    calls = []
    for r in slack.received:
        if r.path != "/api/views.open":
            continue
        try:
            body = r.json()
        except ValueError:
            body = {k: v[0] for k, v in parse_qs(r.body.decode()).items()}
        if isinstance(body.get("view"), str):
            body["view"] = json.loads(body["view"])
        calls.append(body)
    return calls


def post(client: TestClient, payload: dict[str, Any], **signing: Any) -> Any:
    body, headers = signed(payload, **signing)
    return client.post(URL, content=body, headers=headers)


def test_the_message_shortcut_opens_the_brief_modal_at_once(
    app_client: TestClient, db: Database, slack: StandIn
) -> None:
    with db.session() as session:
        setup = alerted(session, slack)
    started = time.monotonic()
    response = post(app_client, message_action())
    assert time.monotonic() - started < 3
    assert (response.status_code, response.content) == (200, b"")
    [call] = views_opened(slack)
    assert call["trigger_id"] == message_action()["trigger_id"]
    view = call["view"]
    assert view["callback_id"] == "handoff_escalate_brief"
    assert view["private_metadata"] == f"{setup.conversation_id}:{setup.shortcut.id}"
    select_block, *fields = [b for b in view["blocks"] if b["type"] == "input"]
    labels = [o["text"]["text"] for o in select_block["element"]["options"]]
    assert labels == ["Escalate to Billing", "Up a tier", "Technical: API issue"]
    assert [(b["block_id"], b["optional"]) for b in fields] == [
        ("problem", False),
        ("tried", False),
        ("impact", True),
        ("needed", False),
    ]


def test_picking_another_shortcut_shows_its_brief(
    app_client: TestClient, db: Database, slack: StandIn
) -> None:
    with db.session() as session:
        setup = alerted(session, slack)
        up = session.exec(select(Shortcut).where(Shortcut.label == "Up a tier")).one()
    payload = {
        "type": "block_actions",
        "user": {"id": "U0DANA"},
        "view": {
            "id": "V0MODAL",
            "hash": "156772938.1827394",
            "callback_id": "handoff_escalate_brief",
            "private_metadata": f"{setup.conversation_id}:{setup.shortcut.id}",
        },
        "actions": [
            {
                "action_id": "shortcut",
                "block_id": "shortcut",
                "type": "static_select",
                "selected_option": {"value": str(up.id)},
            }
        ],
    }
    assert post(app_client, payload).status_code == 200
    [update] = [r for r in slack.received if r.path == "/api/views.update"]
    body = update.json()
    view = json.loads(body["view"]) if isinstance(body["view"], str) else body["view"]
    assert (body["view_id"], body["hash"]) == ("V0MODAL", "156772938.1827394")
    assert view["private_metadata"] == f"{setup.conversation_id}:{up.id}"
    blocks = [b["block_id"] for b in view["blocks"] if b["type"] == "input"]
    assert blocks == ["shortcut", "problem", "why", "promised"]


def test_a_message_that_is_not_about_a_conversation_says_so(
    app_client: TestClient, db: Database, slack: StandIn
) -> None:
    with db.session() as session:
        alerted(session, slack)
    assert post(app_client, message_action(ts="1.2", text="lunch?")).status_code == 200
    [call] = views_opened(slack)
    assert "submit" not in call["view"]
    assert "not about a Handoff conversation" in call["view"]["blocks"][0]["text"]["text"]


def test_a_link_in_the_message_finds_the_conversation(
    app_client: TestClient, db: Database, slack: StandIn
) -> None:
    with db.session() as session:
        setup = alerted(session, slack)
    text = f"look at <https://handoff.example/conversations/{setup.conversation_id}|this>"
    assert post(app_client, message_action(ts="9.9", text=text)).status_code == 200
    [call] = views_opened(slack)
    assert call["view"]["private_metadata"].startswith(f"{setup.conversation_id}:")


def test_a_badly_signed_shortcut_is_refused(
    app_client: TestClient, db: Database, slack: StandIn
) -> None:
    with db.session() as session:
        alerted(session, slack)
    response = post(app_client, message_action(), secret="not-the-signing-secret")
    assert response.status_code == 401
    assert views_opened(slack) == []


def test_a_missing_required_field_is_shown_in_the_modal_and_nothing_is_escalated(
    app_client: TestClient, db: Database, slack: StandIn
) -> None:
    with db.session() as session:
        setup = alerted(session, slack)
    values = {"problem": "Charged twice", "tried": "", "needed": "Refund one"}
    response = post(
        app_client, view_submission(setup.conversation_id, setup.shortcut.id or 0, values)
    )
    assert response.status_code == 200
    assert response.json() == {
        "response_action": "errors",
        "errors": {"tried": "What was tried is required in the brief"},
    }
    with db.session() as session:
        assert session.exec(select(Escalation)).all() == []


def test_someone_handoff_does_not_know_cannot_escalate(
    app_client: TestClient, db: Database, slack: StandIn
) -> None:
    with db.session() as session:
        setup = alerted(session, slack)
    values = {"problem": "Charged twice", "tried": "Stripe lookup", "needed": "Refund one"}
    payload = view_submission(setup.conversation_id, setup.shortcut.id or 0, values, "U0WHO")
    response = post(app_client, payload)
    assert response.json()["errors"].keys() == {"shortcut"}
    with db.session() as session:
        assert session.exec(select(Escalation)).all() == []


def test_a_complete_brief_escalates_and_closes_the_modal(
    app_client: TestClient, db: Database, slack: StandIn
) -> None:
    with db.session() as session:
        setup = alerted(session, slack)
    values = {"problem": "Charged twice", "tried": "Stripe lookup", "needed": "Refund one"}
    response = post(
        app_client, view_submission(setup.conversation_id, setup.shortcut.id or 0, values)
    )
    assert (response.status_code, response.content) == (200, b"")
    with db.session() as session:
        escalation = session.exec(select(Escalation)).one()
        assert escalation.trigger == "agent"
        assert escalation.agent_id == setup.world.dana.id
        assert escalation.shortcut_id == setup.shortcut.id
        assert {k: escalation.brief[k] for k in values} == values
        conversation = session.get(Conversation, setup.conversation_id)
        assert conversation is not None
        assert conversation.team_id == setup.world.billing.id
        assert conversation.escalation_id == escalation.id
