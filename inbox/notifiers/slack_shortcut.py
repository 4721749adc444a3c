"""Escalating from Slack (docs/concepts/shortcuts.md#escalating-from-slack): a message shortcut
on a Handoff alert opens a modal with the active shortcuts and the chosen one's brief;
submitting it escalates exactly as the button in the conversation view does.

The modal is built here (Block Kit, through `shortcuts.forms.slack_view`); the endpoint in
web/slack_routes.py answers Slack at once and calls `open_view` / `update_view` afterwards.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlmodel import Session, col, select

from shortcuts.forms import brief_form, escalate, slack_values, slack_view

from ..access import can_see_conversation, scope_for
from ..errors import HandoffError
from ..models import Alert, Conversation, Escalation, Shortcut
from ..policy import SlackSettings
from ..shortcuts_store import check_brief, list_shortcuts
from ..sla import current_policy
from . import NotifierError
from .slack import Block, client
from .slack_accept import agent_for_slack_user

MESSAGE_SHORTCUT = "handoff_escalate"  # the message shortcut's callback_id in the Slack app
MODAL = "handoff_escalate_brief"  # the modal's callback_id
PICK = "shortcut"  # block_id and action_id of the shortcut select
LINK = re.compile(r"/conversations/(\d+)")
NUMBER = re.compile(r"conversation #(\d+)", re.IGNORECASE)


@dataclass
class Submission:
    """What a view_submission came to: an escalation, or errors keyed by block_id."""

    escalation: Escalation | None = None
    errors: dict[str, str] | None = None


def conversation_for_message(
    session: Session, *, channel: str, message: Mapping[str, Any]
) -> Conversation | None:
    """The conversation a Slack message is about: the alert Handoff posted as that message (or
    as the thread it belongs to), else a conversation link or "Conversation #N" in its text."""
    stamps = [str(message[k]) for k in ("ts", "thread_ts") if message.get(k)]
    if stamps:
        alerts = session.exec(
            select(Alert)
            .where(Alert.channel == "slack", col(Alert.external_ref).in_(stamps))
            .where(col(Alert.conversation_id).is_not(None))
            .order_by(col(Alert.id).desc())
        ).all()
        # The same ts in two channels is possible; prefer the alert posted to this channel.
        alerts = sorted(alerts, key=lambda a: a.target != channel)
        if alerts and alerts[0].conversation_id is not None:
            return session.get(Conversation, alerts[0].conversation_id)
    text = f"{message.get('text') or ''} {json.dumps(message.get('blocks') or [])}"
    found = LINK.search(text) or NUMBER.search(text)
    return session.get(Conversation, int(found.group(1))) if found else None


def _notice(title: str, text: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": title[:24]},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": [{"type": "section", "text": {"type": "plain_text", "text": text[:3000]}}],
    }


def _picker(shortcuts: list[Shortcut], chosen: Shortcut) -> Block:
    def option(s: Shortcut) -> dict[str, Any]:
        return {"text": {"type": "plain_text", "text": s.label[:75]}, "value": str(s.id)}

    return {
        "type": "input",
        "block_id": PICK,
        "dispatch_action": True,  # choosing one sends block_actions: the modal shows its brief
        "label": {"type": "plain_text", "text": "Shortcut"},
        "element": {
            "type": "static_select",
            "action_id": PICK,
            "options": [option(s) for s in shortcuts[:100]],
            "initial_option": option(chosen),
        },
    }


def escalation_modal(
    session: Session, conversation: Conversation | None, shortcut_id: int | None = None
) -> dict[str, Any]:
    """The modal: a select of the active shortcuts, then the chosen one's brief fields
    (the first shortcut's until another is picked)."""
    if conversation is None:
        return _notice(
            "Not a Handoff message",
            "This message is not about a Handoff conversation: use the shortcut on a Handoff "
            "alert, or on a message with a link to the conversation.",
        )
    shortcuts = list_shortcuts(session, active_only=True)
    if not shortcuts:
        return _notice("No shortcuts", "No escalation shortcuts are set up in Handoff yet.")
    chosen = next((s for s in shortcuts if s.id == shortcut_id), shortcuts[0])
    view = slack_view(brief_form(session, conversation, chosen), MODAL)
    view["title"]["text"] = f"Escalate #{conversation.id}"[:24]
    view["blocks"] = [_picker(shortcuts, chosen), *view["blocks"]]
    return view


def picked(payload: Mapping[str, Any]) -> int | None:
    """The shortcut chosen in the select of a block_actions payload, if that is what it is."""
    for action in payload.get("actions") or []:
        if isinstance(action, Mapping) and action.get("action_id") == PICK:
            value = (action.get("selected_option") or {}).get("value")
            return int(value) if isinstance(value, str) and value.isdigit() else None
    return None


def metadata(view: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """(conversation id, shortcut id) from the modal's private_metadata."""
    conversation, _, shortcut = str(view.get("private_metadata") or "").partition(":")
    return (
        int(conversation) if conversation.isdigit() else None,
        int(shortcut) if shortcut.isdigit() else None,
    )


def do_escalate_from_slack(
    *, session: Session, view: Mapping[str, Any], slack_user_id: str
) -> Submission:
    """Check the modal's brief and escalate in the name of the Slack user's Handoff agent.
    Anything wrong comes back as Slack's errors, beside the block it concerns."""
    conversation_id, shortcut_id = metadata(view)
    conversation = session.get(Conversation, conversation_id) if conversation_id else None
    shortcut = session.get(Shortcut, shortcut_id) if shortcut_id else None
    if conversation is None or shortcut is None or not shortcut.active:
        return Submission(errors={PICK: "This shortcut or conversation no longer exists"})
    agent = agent_for_slack_user(session, current_policy(session), slack_user_id)
    if agent is None:
        return Submission(
            errors={PICK: "Your Slack account is not linked to a Handoff agent (policy people)"}
        )
    if not can_see_conversation(scope_for(session, agent), conversation):
        return Submission(errors={PICK: "You cannot see this conversation in Handoff"})
    values = slack_values((view.get("state") or {}).get("values") or {})
    try:
        check_brief(shortcut, {f["name"]: values.get(f["name"], "") for f in shortcut.brief_fields})
        escalation = escalate(
            session=session,
            conversation=conversation,
            actor=agent,
            shortcut=shortcut,
            values=values,
        )
    except HandoffError as exc:
        session.rollback()
        field = exc.detail.get("field") if isinstance(exc.detail, dict) else None
        name = str(field or "").removeprefix("brief.")
        shown = {f["name"] for f in shortcut.brief_fields}
        return Submission(errors={name if name in shown else PICK: exc.message})
    return Submission(escalation=escalation)


async def open_view(settings: SlackSettings, *, trigger_id: str, view: dict[str, Any]) -> None:
    try:
        await client(settings).views_open(trigger_id=trigger_id, view=view)
    except SlackApiError as exc:
        raise NotifierError(f"Slack refused: {exc.response.get('error', exc)}") from exc
    except (SlackClientError, aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise NotifierError(f"Slack: {exc or type(exc).__name__}") from exc


async def update_view(
    settings: SlackSettings, *, view_id: str, view_hash: str | None, view: dict[str, Any]
) -> None:
    try:
        await client(settings).views_update(view_id=view_id, hash=view_hash, view=view)
    except SlackApiError as exc:
        raise NotifierError(f"Slack refused: {exc.response.get('error', exc)}") from exc
    except (SlackClientError, aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise NotifierError(f"Slack: {exc or type(exc).__name__}") from exc
