"""The "Accept" button pressed in Slack: a signed request accepts the escalation in Handoff
and the Slack message is updated; a forged or stale request is refused."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from inbox.clock import utcnow
from inbox.db import Database
from inbox.escalation import do_escalate
from inbox.models import AuditEntry, Escalation, Membership
from tests.factories import World, build_world
from tests.inbox.sla_support import use_policy, writes
from tests.standins import StandIn, standin_server

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TOKEN = "xoxb-2222-test-token"


@pytest.fixture
def slack() -> Iterator[StandIn]:
    with standin_server() as standin:
        standin.check = lambda path, headers, body: (
            (200, b'{"ok": true, "channel": "C0ESCALATE", "ts": "1763280000.000100"}')
            if headers.get("authorization") == f"Bearer {TOKEN}"
            else (200, b'{"ok": false, "error": "invalid_auth"}')
        )
        yield standin


def escalated(session: Session, slack: StandIn) -> tuple[World, Escalation]:
    w = build_world(session)
    use_policy(
        session,
        people=[
            {"name": "Bob Stone", "role": "billing", "email": "bob@example.com", "slack": "U0BOB"},
        ],
        notifiers={
            "slack": {
                "channel": "C0ESCALATE",
                "bot_token": TOKEN,
                "signing_secret": SECRET,
                "api_base": f"{slack.url}/api/",
            }
        },
    )
    c = writes(session, w.webchat, utcnow(), team=w.support).conversation
    escalation = do_escalate(
        session=session,
        conversation=c,
        actor=w.dana,
        trigger="agent",
        brief={"summary": "Charged twice"},
        to_team=w.billing,
    )
    return w, escalation


def block_actions(escalation_id: int, user_id: str, user_name: str) -> dict[str, Any]:
    """What Slack sends when someone presses the Accept button (type block_actions)."""
    blocks = [
        {
            "type": "section",
            "block_id": "s1",
            "text": {"type": "mrkdwn", "text": "Conversation #1"},
        },
        {
            "type": "actions",
            "block_id": "handoff_actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": "accept_escalation",
                    "text": {"type": "plain_text", "text": "Accept"},
                    "value": str(escalation_id),
                }
            ],
        },
    ]
    return {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": "T0HANDOFF"},
        "api_app_id": "A0HANDOFF",
        "token": "verification-token-unused",
        "container": {
            "type": "message",
            "message_ts": "1763280000.000100",
            "channel_id": "C0ESCALATE",
            "is_ephemeral": False,
        },
        "trigger_id": "123.456.abc",
        "team": {"id": "T0HANDOFF", "domain": "handoff-demo"},
        "channel": {"id": "C0ESCALATE", "name": "escalations"},
        "message": {
            "type": "message",
            "ts": "1763280000.000100",
            "text": "Conversation #1 escalated",
            "blocks": blocks,
        },
        "response_url": "https://hooks.slack.com/actions/T0HANDOFF/1/abc",
        "actions": [
            {
                "action_id": "accept_escalation",
                "block_id": "handoff_actions",
                "text": {"type": "plain_text", "text": "Accept"},
                "value": str(escalation_id),
                "type": "button",
                "action_ts": "1763280001.000200",
            }
        ],
    }


def signed(
    payload: dict[str, Any], *, secret: str = SECRET, at: int | None = None
) -> tuple[bytes, dict[str, str]]:
    body = urlencode({"payload": json.dumps(payload)}).encode()
    timestamp = str(at if at is not None else int(time.time()))
    digest = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256)
    return body, {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": timestamp,
        "x-slack-signature": f"v0={digest.hexdigest()}",
    }


def updates(slack: StandIn) -> list[dict[str, Any]]:
    return [r.json() for r in slack.received if r.path == "/api/chat.update"]


def test_accept_in_slack_accepts_in_handoff_and_updates_the_message(
    app_client: TestClient, db: Database, slack: StandIn
) -> None:
    with db.session() as session:
        w, escalation = escalated(session, slack)
    body, headers = signed(block_actions(escalation.id or 0, "U0BOB", "bob.stone"))
    response = app_client.post("/webhooks/slack/interactive", content=body, headers=headers)
    assert response.status_code == 200
    with db.session() as session:
        accepted = session.get(Escalation, escalation.id)
        assert accepted is not None
        assert (accepted.status, accepted.accepted_by_id) == ("accepted", w.bob.id)
    [update] = updates(slack)
    assert (update["channel"], update["ts"]) == ("C0ESCALATE", "1763280000.000100")
    assert [b["type"] for b in update["blocks"]] == ["section", "context"]
    assert update["blocks"][1]["elements"][0]["text"] == "Accepted by Bob Stone"


def test_someone_handoff_does_not_know_accepts_as_the_team_lead_and_is_recorded(
    app_client: TestClient, db: Database, slack: StandIn
) -> None:
    with db.session() as session:
        w, escalation = escalated(session, slack)
        lead = session.get(Membership, (w.bob.id, w.billing.id))
        assert lead is not None
        lead.is_lead = True
        session.add(lead)
        session.commit()
    body, headers = signed(block_actions(escalation.id or 0, "U0STRANGER", "night.shift"))
    assert (
        app_client.post("/webhooks/slack/interactive", content=body, headers=headers).status_code
        == 200
    )
    with db.session() as session:
        accepted = session.get(Escalation, escalation.id)
        assert accepted is not None and accepted.accepted_by_id == w.bob.id
        entry = session.exec(
            select(AuditEntry).where(AuditEntry.action == "escalation.accepted_in_slack")
        ).one()
        assert entry.details["slack_user_id"] == "U0STRANGER"
        assert entry.details["as_team_lead"] is True
    note = updates(slack)[0]["blocks"][-1]["elements"][0]["text"]
    assert note == "Accepted by Bob Stone (pressed in Slack by night.shift)"
    # Pressed again: nothing changes, and the message says who has it.
    body, headers = signed(block_actions(escalation.id or 0, "U0BOB", "bob.stone"))
    assert (
        app_client.post("/webhooks/slack/interactive", content=body, headers=headers).status_code
        == 200
    )
    assert updates(slack)[1]["blocks"][-1]["elements"][0]["text"] == "Already accepted by Bob Stone"


@pytest.mark.parametrize(
    "forgery",
    [
        {"secret": "not-the-signing-secret"},
        {"at": int(time.time()) - 6 * 60},  # outside Slack's 5-minute window
    ],
)
def test_a_forged_or_replayed_request_is_refused(
    app_client: TestClient, db: Database, slack: StandIn, forgery: dict[str, Any]
) -> None:
    with db.session() as session:
        _, escalation = escalated(session, slack)
    body, headers = signed(block_actions(escalation.id or 0, "U0BOB", "bob.stone"), **forgery)
    response = app_client.post("/webhooks/slack/interactive", content=body, headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    with db.session() as session:
        still = session.get(Escalation, escalation.id)
        assert still is not None and still.status == "open"
    assert updates(slack) == []
