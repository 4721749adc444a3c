"""An escalation end to end in real Chromium: agent Dana clicks a shortcut, is refused without
the required brief, fills it in; Bob in Billing is told live and finds the brief pinned; the
customer's widget shows the status update from the policy, then the escalation letter Bob
edited; the Slack stand-in gets the alert with an Accept button, and Accept pressed in Slack
accepts the escalation in Handoff."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Iterator
from urllib.parse import unquote_plus, urlencode

import httpx
import pytest
from playwright.sync_api import Browser, expect
from sqlmodel import Session, select

from inbox.models import Conversation, Escalation
from inbox.policy import Policy
from inbox.policy_store import do_save_policy
from inbox.shortcuts_store import do_create_shortcut
from tests.browser.test_end_to_end import open_bubble, signed_in, widget_frame
from tests.factories import build_world
from tests.standins import StandIn, standin_server

pytestmark = pytest.mark.browser
TOKEN = "xoxb-browser-test-token"
SECRET = "browser-test-signing-secret"
TS = "1763280000.000100"
ESCALATED = "Hi {contact}, a specialist from our {team} team is now on your case."


@pytest.fixture
def slack() -> Iterator[StandIn]:
    """Slack's Web API: answers like Slack when the bot token is right."""
    with standin_server() as standin:
        standin.check = lambda path, headers, body: (
            (200, json.dumps({"ok": True, "channel": "C0ESCALATE", "ts": TS}).encode())
            if headers.get("authorization") == f"Bearer {TOKEN}"
            else (200, b'{"ok": false, "error": "invalid_auth"}')
        )
        yield standin


def slack_calls(slack: StandIn, method: str) -> list[str]:
    return [unquote_plus(r.body.decode()) for r in slack.received if r.path == f"/api/{method}"]


def wait_for_call(slack: StandIn, method: str) -> list[str]:
    """The calls of `method` once the first has arrived (the app calls Slack after the commit,
    from its notifier), or none after 5 seconds."""
    deadline = time.monotonic() + 5
    while not slack_calls(slack, method) and time.monotonic() < deadline:
        slack.arrived.clear()
        slack.arrived.wait(0.2)
    return slack_calls(slack, method)


def accept_pressed(escalation_id: int) -> tuple[bytes, dict[str, str]]:
    """Slack's block_actions request for Bob pressing Accept, signed as Slack signs it."""
    action = {
        "action_id": "accept_escalation",
        "block_id": "handoff_actions",
        "type": "button",
        "value": str(escalation_id),
        "text": {"type": "plain_text", "text": "Accept"},
        "action_ts": "1763280001.000200",
    }
    payload = {
        "type": "block_actions",
        "user": {"id": "U0BOB", "username": "bob.stone", "name": "bob.stone"},
        "container": {"type": "message", "message_ts": TS, "channel_id": "C0ESCALATE"},
        "channel": {"id": "C0ESCALATE", "name": "escalations"},
        "message": {
            "type": "message",
            "ts": TS,
            "text": "escalated",
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": "escalated"}},
                {"type": "actions", "block_id": "handoff_actions", "elements": [action]},
            ],
        },
        "actions": [action],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    timestamp = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256)
    return body, {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": timestamp,
        "x-slack-signature": f"v0={digest.hexdigest()}",
    }


def test_an_escalation_from_button_to_accept_in_slack(
    browser: Browser, live_server: str, customer_site: type, session: Session, slack: StandIn
) -> None:
    w = build_world(session)
    policy = Policy.model_validate(
        {
            "rules": {"reopen_team": "Billing"},
            "people": [
                {
                    "name": "Bob Stone",
                    "role": "billing",
                    "email": "bob@example.com",
                    "slack": "U0BOB",
                }
            ],
            "customer_updates": {"templates": {"escalated": {"en": ESCALATED}}},
            "notifiers": {
                "slack": {
                    "channel": "C0ESCALATE",
                    "bot_token": TOKEN,
                    "signing_secret": SECRET,
                    "api_base": f"{slack.url}/api/",
                }
            },
        }
    )
    do_save_policy(session=session, policy=policy, actor=None)
    do_create_shortcut(
        session=session,
        label="Escalate to Billing",
        target={"team_id": w.billing.id},
        brief_fields=[
            {"name": "problem", "label": "Problem", "required": True},
            {"name": "tried", "label": "What was tried", "required": True},
        ],
    )
    customer_site.serve(  # type: ignore[attr-defined]
        "<!doctype html><html><head><title>Acme shop</title></head><body><h1>Acme shop</h1>"
        f'<script src="{live_server}/widget/{w.webchat.widget_token}.js" async></script>'
        "</body></html>"
    )
    _, dana = signed_in(browser, live_server, "dana@example.com")
    _, bob = signed_in(browser, live_server, "bob@example.com")
    expect(bob.locator("#live")).to_be_visible()

    shop = browser.new_context().new_page()
    shop.goto(customer_site.url)  # type: ignore[attr-defined]
    frame = widget_frame(shop)
    open_bubble(shop)
    frame.fill("#prechat input[name=name]", "Olivia Bennett")
    frame.fill("#prechat input[name=email]", "olivia@example.org")
    frame.select_option("#prechat select[name=department]", label="Support L1")
    frame.fill("#prechat textarea[name=content]", "I was charged twice for my lamp")
    frame.click("#prechat button[type=submit]")
    expect(frame.locator("#messages")).to_contain_text("I was charged twice for my lamp")

    row = dana.locator("#rows .row", has_text="I was charged twice")
    expect(row).to_be_visible(timeout=5000)
    row.locator("a").click()
    dana.locator("button.shortcut", has_text="Escalate to Billing").click()
    form = dana.locator(".escalate-form")
    expect(form).to_be_visible()
    form.locator("textarea[name=problem]").fill("Charged twice for order 1042")
    form.locator("button.primary").click()
    # Refused: the message stands beside the empty field, and nothing was escalated.
    expect(form.locator("[data-field=tried] [role=alert]")).to_contain_text("is required")
    session.expire_all()
    assert session.exec(select(Escalation)).all() == []

    form.locator("textarea[name=tried]").fill("Looked it up in Stripe: two captures")
    form.locator("button.primary").click()
    expect(form).to_be_hidden(timeout=5000)
    session.expire_all()
    escalation = session.exec(select(Escalation)).one()
    conversation = session.get(Conversation, escalation.conversation_id)
    assert conversation is not None and conversation.team_id == w.billing.id

    # Bob, in Billing, is told live and finds the brief pinned at the top.
    expect(bob.locator("#bell-count")).to_have_text("1", timeout=5000)
    expect(bob.locator("#toasts")).to_contain_text("escalated")
    bob.goto(f"/conversations/{conversation.id}")
    brief = bob.locator(f"#pinned-brief-{conversation.id}")
    expect(brief).to_contain_text("Problem: Charged twice for order 1042")
    expect(brief).to_contain_text("What was tried: Looked it up in Stripe: two captures")
    expect(bob.locator(".thread")).to_contain_text("@Billing Dana Kowalski escalated")

    # The customer is told, in the policy's words, and sees nothing internal.
    expect(frame.locator("#messages")).to_contain_text(
        "Hi Olivia Bennett, a specialist from our Billing team is now on your case.",
        timeout=5000,
    )
    expect(frame.locator("#messages")).not_to_contain_text("Stripe")

    # Bob writes the escalation letter: the draft says what was tried; he edits and sends it.
    bob.locator("button.shortcut.letter").click()
    letter = bob.locator(f"#letter-form-{conversation.id} textarea[name=text]")
    expect(letter).to_have_value(re.compile("What we have done so far: Looked it up in Stripe"))
    letter.fill(letter.input_value().replace("Kind regards", "Warm regards"))
    bob.locator(f"#letter-form-{conversation.id} button.primary").click()
    expect(frame.locator("#messages")).to_contain_text("Warm regards", timeout=5000)

    # Slack got the alert with its Accept button; Accept pressed there accepts it here.
    [posted] = wait_for_call(slack, "chat.postMessage")
    assert "C0ESCALATE" in posted and '"Accept"' in posted and "accept_escalation" in posted
    assert escalation.id is not None
    body, headers = accept_pressed(escalation.id)
    response = httpx.post(
        f"{live_server}/webhooks/slack/interactive", content=body, headers=headers
    )
    assert response.status_code == 200
    session.expire_all()
    accepted = session.get(Escalation, escalation.id)
    assert accepted is not None
    assert (accepted.status, accepted.accepted_by_id) == ("accepted", w.bob.id)
    [update] = wait_for_call(slack, "chat.update")
    assert "Accepted by Bob Stone" in update
