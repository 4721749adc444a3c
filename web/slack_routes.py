"""Slack's interactivity endpoint (docs/concepts/sla.md#accept-from-slack).

Slack posts `payload=<json>` form-encoded when someone presses a button in a message Handoff
sent. The request is checked against the policy's signing secret (v0 signature, 5-minute
window), "Accept" accepts the escalation in Handoff, and the answer goes back at once: the
Slack message is updated ("Accepted by ...") after the response, so Slack's 3 seconds hold.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import parse_qs

from slack_sdk.signature import SignatureVerifier
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from inbox.errors import InvalidInput, Unauthorized
from inbox.notifiers import NotifierError
from inbox.notifiers.slack import ACCEPT_ACTION, accepted_blocks, update_message
from inbox.notifiers.slack_accept import SlackAcceptance, do_accept_from_slack
from inbox.policy import SlackSettings
from inbox.sla import current_policy

from .state import state

log = logging.getLogger("handoff.slack")


def _payload(body: bytes) -> dict[str, Any]:
    try:
        raw = parse_qs(body.decode(), strict_parsing=True)["payload"][0]
        payload = json.loads(raw)
    except (ValueError, KeyError, IndexError, UnicodeDecodeError) as exc:
        raise InvalidInput("expected a form with a JSON payload") from exc
    if not isinstance(payload, dict):
        raise InvalidInput("expected a form with a JSON payload")
    return payload


def _accept_action(payload: dict[str, Any]) -> dict[str, Any] | None:
    if payload.get("type") != "block_actions":
        return None
    actions = payload.get("actions")
    for action in actions if isinstance(actions, list) else []:
        if isinstance(action, dict) and action.get("action_id") == ACCEPT_ACTION:
            return action
    return None


def _note(result: SlackAcceptance, pressed_by: str) -> str:
    name = result.agent.name if result.agent else "someone"
    if not result.accepted_now:
        return f"Already accepted by {name}" if result.agent else "No longer waiting for anyone"
    if result.as_team_lead:
        return f"Accepted by {name} (pressed in Slack by {pressed_by})"
    return f"Accepted by {name}"


async def _update(settings: SlackSettings, payload: dict[str, Any], note: str) -> None:
    channel = (payload.get("channel") or {}).get("id") or (payload.get("container") or {}).get(
        "channel_id"
    )
    message = payload.get("message") or {}
    ts = message.get("ts") or (payload.get("container") or {}).get("message_ts")
    if not channel or not ts or not settings.bot_token:
        return
    blocks = accepted_blocks(list(message.get("blocks") or []), note)
    try:
        await update_message(
            settings,
            channel=channel,
            ts=ts,
            text=f"{message.get('text', '')}\n{note}",
            blocks=blocks,
        )
    except NotifierError as exc:
        log.warning("could not update the Slack message: %s", exc)


async def interactive(request: Request) -> Response:
    body = await request.body()
    handoff = state(request)
    with handoff.db.session() as session:
        settings = current_policy(session).notifiers.slack
    secret = settings.signing_secret
    if not secret or not SignatureVerifier(secret).is_valid_request(body, request.headers):
        raise Unauthorized("The request is not signed by the policy's Slack app")
    payload = _payload(body)
    action = _accept_action(payload)
    if action is None:
        return Response(status_code=200)
    try:
        escalation_id = int(action.get("value", ""))
    except ValueError as exc:
        raise InvalidInput("the Accept button carries no escalation id") from exc
    user = payload.get("user") or {}
    pressed_by = str(user.get("name") or user.get("username") or user.get("id") or "")
    with handoff.db.session() as session:
        result = do_accept_from_slack(
            session=session,
            escalation_id=escalation_id,
            slack_user_id=str(user.get("id") or ""),
            slack_user_name=pressed_by,
        )
    note = _note(result, pressed_by)
    return Response(status_code=200, background=BackgroundTask(_update, settings, payload, note))


routes: list[BaseRoute] = [
    Route("/webhooks/slack/interactive", interactive, methods=["POST"]),
]
