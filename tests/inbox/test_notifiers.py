"""Manager alerts reach Slack, email and SMS stand-ins on 127.0.0.1 in each provider's shape,
and a failed send says why."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from email import message_from_bytes
from email.message import Message
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlmodel import Session, col, select

from inbox.db import Database
from inbox.escalation import do_escalate
from inbox.ladder import run_due
from inbox.models import Alert
from inbox.notifiers import sender
from inbox.notifiers.alerts import pending_alert_ids
from inbox.notifiers.sender import run_alert_sender, send_alert
from tests.factories import build_world
from tests.standins import StandIn, standin_server

from .sla_support import use_policy, warsaw, writes

BASE_URL = "https://handoff.example.com"
SLACK_TOKEN = "xoxb-1111-test-token"
TWILIO_SID = "AC0123456789abcdef"
TWILIO_TOKEN = "twilio-secret"
MONDAY = warsaw(2026, 11, 16, 9, 0)
KASIA = {
    "name": "Kasia Nowak",
    "role": "team_lead",
    "email": "kasia@example.com",
    "phone": "+48600100200",
    "slack": "U0KASIA",
}


class Sink:
    """An SMTP server's handler that keeps every message."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def smtp_sink() -> Iterator[tuple[Sink, int]]:
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield sink, controller.port
    finally:
        controller.stop()


def slack_api(path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
    """Slack's Web API: a bot token in the Authorization header, a JSON body, `ok` in reply."""
    if headers.get("authorization") != f"Bearer {SLACK_TOKEN}":
        return 200, b'{"ok": false, "error": "invalid_auth"}'
    if not headers.get("content-type", "").startswith("application/json"):
        return 200, b'{"ok": false, "error": "invalid_form_data"}'
    data = json.loads(body)
    if not data.get("channel") or not data.get("blocks"):
        return 200, b'{"ok": false, "error": "no_text"}'
    return 200, json.dumps(
        {"ok": True, "channel": data["channel"], "ts": "1763280000.000100"}
    ).encode()


def twilio_api(path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
    """Twilio's Messages API: basic auth with the account sid, form fields To, From, Body."""
    expected = base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
    if headers.get("authorization") != f"Basic {expected}":
        return 401, b'{"code": 20003, "message": "Authenticate", "status": 401}'
    if path != f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json":
        return 404, b'{"code": 20404, "message": "The requested resource was not found"}'
    form = parse_qs(body.decode())
    if not all(form.get(k) for k in ("To", "From", "Body")):
        return 400, b'{"code": 21604, "message": "A required parameter is missing"}'
    return 201, b'{"sid": "SM0000000000000001", "status": "queued"}'


def notifiers(slack: StandIn, twilio: StandIn, smtp_port: int) -> dict[str, Any]:
    return {
        "slack": {"bot_token": SLACK_TOKEN, "api_base": f"{slack.url}/api/"},
        "email_from": "alerts@handoff.example.com",
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_port,
        "twilio_account_sid": TWILIO_SID,
        "twilio_auth_token": TWILIO_TOKEN,
        "twilio_from": "+15005550006",
        "twilio_api_base": twilio.url,
    }


def breach_ladder(channels: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "name": "Team lead at breach",
            "at": "breach",
            "notify": ["team_lead"],
            "channels": channels,
        }
    ]


async def send_pending(db: Database) -> None:
    async with httpx.AsyncClient() as http:
        for alert_id in pending_alert_ids(db):
            await send_alert(db, http, alert_id, base_url=BASE_URL)


def stored_alerts(session: Session) -> dict[str, Alert]:
    session.expire_all()
    return {a.channel: a for a in session.exec(select(Alert).order_by(col(Alert.id))).all()}


async def test_a_ladder_stage_reaches_slack_email_and_sms_in_each_providers_shape(
    session: Session, db: Database
) -> None:
    with standin_server() as slack, standin_server() as twilio, smtp_sink() as (sink, port):
        slack.check, twilio.check = slack_api, twilio_api
        w = build_world(session)
        use_policy(
            session,
            people=[KASIA],
            ladder=breach_ladder(["slack", "email", "sms"]),
            notifiers=notifiers(slack, twilio, port),
        )
        c = writes(session, w.webchat, MONDAY, team=w.support).conversation
        run_due(session, MONDAY + timedelta(hours=1))
        await send_pending(db)

    link = f"{BASE_URL}/conversations/{c.id}"
    [posted] = slack.received
    assert posted.path == "/api/chat.postMessage"
    body = posted.json()
    assert body["channel"] == "U0KASIA"
    section, actions = body["blocks"]
    assert section["type"] == "section"
    assert f"conversation #{c.id}" in section["text"]["text"]
    assert "Team lead at breach" in section["text"]["text"]
    assert "Ann Ann" in section["text"]["text"]
    assert [b["text"]["text"] for b in actions["elements"]] == ["Open in Handoff"]
    assert actions["elements"][0]["url"] == link

    [(recipients, email)] = sink.messages
    assert recipients == ["kasia@example.com"]
    assert email["From"] == "alerts@handoff.example.com"
    assert email["Subject"].startswith("Handoff: Team lead at breach: conversation #")
    text = email.get_payload(decode=True)
    assert isinstance(text, bytes) and link in text.decode()

    [sms] = twilio.received
    form = parse_qs(sms.body.decode())
    assert form["To"] == ["+48600100200"] and form["From"] == ["+15005550006"]
    assert link in form["Body"][0]

    alerts = stored_alerts(session)
    assert {k: a.status for k, a in alerts.items()} == {
        "slack": "sent",
        "email": "sent",
        "sms": "sent",
    }
    assert alerts["slack"].external_ref == "1763280000.000100"
    assert alerts["sms"].external_ref == "SM0000000000000001"
    assert alerts["email"].external_ref and "@handoff.example.com" in alerts["email"].external_ref


async def test_an_escalation_posts_to_the_policy_channel_with_accept_and_open_buttons(
    session: Session, db: Database
) -> None:
    with standin_server() as slack:
        slack.check = slack_api
        w = build_world(session)
        use_policy(
            session,
            notifiers={
                "slack": {
                    "channel": "C0ESCALATE",
                    "bot_token": SLACK_TOKEN,
                    "api_base": f"{slack.url}/api/",
                }
            },
        )
        c = writes(session, w.webchat, MONDAY, team=w.support).conversation
        escalation = do_escalate(
            session=session,
            conversation=c,
            actor=w.dana,
            trigger="agent",
            brief={"summary": "Charged twice for order 1234"},
            to_team=w.billing,
            reason="Double charge",
            now=MONDAY + timedelta(minutes=5),
        )
        await send_pending(db)
    [posted] = slack.received
    body = posted.json()
    assert body["channel"] == "C0ESCALATE"
    accept, open_ = body["blocks"][1]["elements"]
    assert (accept["action_id"], accept["value"]) == ("accept_escalation", str(escalation.id))
    assert accept["text"]["text"] == "Accept"
    assert open_["url"] == f"{BASE_URL}/conversations/{c.id}"
    assert stored_alerts(session)["slack"].external_ref == "1763280000.000100"


async def test_a_refused_or_unconfigured_send_is_marked_failed_with_the_reason(
    session: Session, db: Database
) -> None:
    with standin_server() as slack, smtp_sink() as (_, port):
        slack.check = lambda path, headers, body: (
            200,
            b'{"ok": false, "error": "channel_not_found"}',
        )
        w = build_world(session)
        use_policy(
            session,
            people=[KASIA],
            ladder=breach_ladder(["slack", "sms"]),
            notifiers={
                "slack": {"bot_token": SLACK_TOKEN, "api_base": f"{slack.url}/api/"},
                "smtp_port": port,
            },
        )
        writes(session, w.webchat, MONDAY, team=w.support)
        run_due(session, MONDAY + timedelta(hours=1))
        await send_pending(db)
    alerts = stored_alerts(session)
    assert alerts["slack"].status == "failed"
    assert alerts["slack"].error is not None and "channel_not_found" in alerts["slack"].error
    assert alerts["sms"].status == "failed"
    assert alerts["sms"].error is not None and "twilio_account_sid" in alerts["sms"].error


@pytest.mark.parametrize(
    ("channel", "reason"), [("sms", "SMS is not set up"), ("email", "Email is not set up")]
)
async def test_a_channel_not_set_up_is_logged_once_and_every_alert_by_it_keeps_the_reason(
    session: Session,
    db: Database,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    channel: str,
    reason: str,
) -> None:
    # A fresh install's default ladder names SMS and email before anyone has Twilio
    # credentials or a mail server (the default policy has no SMTP host).
    monkeypatch.setattr(sender, "_told_not_set_up", set())
    w = build_world(session)
    use_policy(session, people=[KASIA], ladder=breach_ladder([channel]))
    writes(session, w.webchat, MONDAY, team=w.support, who="ann")
    writes(session, w.webchat, MONDAY, team=w.support, who="bob")
    run_due(session, MONDAY + timedelta(hours=1))
    with caplog.at_level(logging.WARNING, logger="handoff.alerts"):
        await send_pending(db)
        await send_pending(db)  # nothing pending is left to try again
    session.expire_all()
    alerts = session.exec(select(Alert).order_by(col(Alert.id))).all()
    assert [a.status for a in alerts] == ["failed", "failed"]
    assert all(a.error and a.error.startswith(reason) for a in alerts)
    said = [r.getMessage() for r in caplog.records if r.name == "handoff.alerts"]
    assert len(said) == 1
    told = f"alerts by {channel} are not sent, only recorded as failed: {reason}"
    assert said[0].startswith(told)


async def test_the_sender_sends_as_soon_as_the_stage_commits(
    session: Session, db: Database
) -> None:
    with standin_server() as slack:
        slack.check = slack_api
        w = build_world(session)
        use_policy(
            session,
            people=[KASIA],
            ladder=breach_ladder(["slack"]),
            notifiers={"slack": {"bot_token": SLACK_TOKEN, "api_base": f"{slack.url}/api/"}},
        )
        writes(session, w.webchat, MONDAY, team=w.support)
        async with httpx.AsyncClient() as http:
            sender = asyncio.create_task(run_alert_sender(db, http, base_url=BASE_URL))
            await asyncio.sleep(0)
            run_due(session, MONDAY + timedelta(hours=1))
            try:
                await asyncio.wait_for(asyncio.to_thread(slack.arrived.wait, 5), 6)
                for _ in range(100):  # the row is marked just after the answer
                    if stored_alerts(session)["slack"].status != "pending":
                        break
                    await asyncio.sleep(0.02)
            finally:
                sender.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await sender
    assert slack.received[0].json()["channel"] == "U0KASIA"
    assert stored_alerts(session)["slack"].status == "sent"
