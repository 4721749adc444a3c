"""Slack's interactivity endpoint (docs/concepts/sla.md#accept-from-slack).

Slack posts `payload=<json>` form-encoded when someone presses a button in a message Handoff
sent. The request is checked against the policy's signing secret (v0 signature, 5-minute
window), "Accept" accepts the escalation in Handoff, and the answer goes back at once: the
Slack message is updated ("Accepted by ...") after the response, so Slack's 3 seconds hold.

The same endpoint takes the "Escalate" message shortcut (docs/concepts/shortcuts.md#escalating-
from-slack): the answer is an empty 200 and the modal is opened with `views.open` afterwards;
picking another shortcut in it updates the modal, and submitting it escalates.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import parse_qs

from slack_sdk.signature import SignatureVerifier
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from inbox.errors import InvalidInput, Unauthorized
from inbox.models import Conversation
from inbox.notifiers import NotifierError
from inbox.notifiers.slack import ACCEPT_ACTION, accepted_blocks, update_message
from inbox.notifiers.slack_accept import SlackAcceptance, do_accept_from_slack
from inbox.notifiers.slack_shortcut import (
    MESSAGE_SHORTCUT,
    MODAL,
    conversation_for_message,
    do_escalate_from_slack,
    escalation_modal,
    metadata,
    open_view,
    picked,
    update_view,
)
from inbox.policy import SlackSettings
from inbox.sla import current_policy

from .state import state

log = logging.getLogger("handoff.slack")


def _payload(body: bytes) -> dict[str, Any]:
    try:
        raw = parse_qs(body.decode(), strict_parsing=True)["payload"][0]
        payload = json.loads(raw)
    except (ValueError, KeyError, IndexError, UnicodeDecodeError, RecursionError) as exc:
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


async def _open(settings: SlackSettings, trigger_id: str, view: dict[str, Any]) -> None:
    try:
        await open_view(settings, trigger_id=trigger_id, view=view)
    except NotifierError as exc:
        log.warning("could not open the Slack modal: %s", exc)


async def _replace(settings: SlackSettings, view: dict[str, Any], new: dict[str, Any]) -> None:
    try:
        await update_view(
            settings, view_id=str(view.get("id")), view_hash=view.get("hash"), view=new
        )
    except NotifierError as exc:
        log.warning("could not update the Slack modal: %s", exc)


def _message_shortcut(
    request: Request, settings: SlackSettings, payload: dict[str, Any]
) -> Response:
    """Answer at once; the modal opens after the response (trigger_id lives 3 seconds)."""
    trigger_id = str(payload.get("trigger_id") or "")
    if not trigger_id:
        raise InvalidInput("the message shortcut carries no trigger_id")
    channel = str((payload.get("channel") or {}).get("id") or "")
    with state(request).db.session() as session:
        conversation = conversation_for_message(
            session, channel=channel, message=payload.get("message") or {}
        )
        view = escalation_modal(session, conversation)
    return Response(status_code=200, background=BackgroundTask(_open, settings, trigger_id, view))


def _shortcut_picked(
    request: Request, settings: SlackSettings, payload: dict[str, Any]
) -> Response:
    view = payload.get("view") or {}
    conversation_id, _ = metadata(view)
    with state(request).db.session() as session:
        conversation = session.get(Conversation, conversation_id) if conversation_id else None
        new = escalation_modal(session, conversation, picked(payload))
    return Response(status_code=200, background=BackgroundTask(_replace, settings, view, new))


def _view_submission(request: Request, payload: dict[str, Any]) -> Response:
    user = payload.get("user") or {}
    with state(request).db.session() as session:
        result = do_escalate_from_slack(
            session=session, view=payload.get("view") or {}, slack_user_id=str(user.get("id") or "")
        )
    if result.errors:
        return JSONResponse({"response_action": "errors", "errors": result.errors})
    return Response(status_code=200)  # an empty answer closes the modal


async def interactive(request: Request) -> Response:
    body = await request.body()
    handoff = state(request)
    with handoff.db.session() as session:
        settings = current_policy(session).notifiers.slack
    secret = settings.signing_secret
    if not secret or not SignatureVerifier(secret).is_valid_request(body, request.headers):
        raise Unauthorized("The request is not signed by the policy's Slack app")
    payload = _payload(body)
    kind = payload.get("type")
    if kind == "message_action" and payload.get("callback_id") == MESSAGE_SHORTCUT:
        return _message_shortcut(request, settings, payload)
    if kind == "view_submission" and (payload.get("view") or {}).get("callback_id") == MODAL:
        return _view_submission(request, payload)
    in_modal = (payload.get("view") or {}).get("callback_id") == MODAL
    if kind == "block_actions" and in_modal and picked(payload) is not None:
        return _shortcut_picked(request, settings, payload)
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
