"""Slack (slack-sdk's AsyncWebClient): alerts as Block Kit messages with "Accept" and "Open in
Handoff" buttons, and the message updated once someone accepts.

The client talks to `notifiers.slack.api_base`, so tests point it at a local stand-in.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from ..policy import SlackSettings
from . import NotifierError, NotSetUp

ACCEPT_ACTION = "accept_escalation"
OPEN_ACTION = "open_in_handoff"
TIMEOUT = 10

Block = dict[str, Any]


def escape(text: str) -> str:
    """Slack's mrkdwn reads &, < and > as markup; customer text must stay text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def client(settings: SlackSettings) -> AsyncWebClient:
    if not settings.bot_token:
        raise NotSetUp("Slack is not set up: the policy needs notifiers.slack.bot_token")
    return AsyncWebClient(token=settings.bot_token, base_url=settings.api_base, timeout=TIMEOUT)


def alert_blocks(*, text: str, link: str, escalation_id: int | None) -> list[Block]:
    """A section with what happened, and the buttons: Accept (when an escalation waits for
    someone) and Open in Handoff."""
    buttons: list[Block] = []
    if escalation_id is not None:
        buttons.append(
            {
                "type": "button",
                "action_id": ACCEPT_ACTION,
                "text": {"type": "plain_text", "text": "Accept"},
                "style": "primary",
                "value": str(escalation_id),
            }
        )
    buttons.append(
        {
            "type": "button",
            "action_id": OPEN_ACTION,
            "text": {"type": "plain_text", "text": "Open in Handoff"},
            "url": link,
        }
    )
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": escape(text)[:3000]}},
        {"type": "actions", "block_id": "handoff_actions", "elements": buttons},
    ]


def accepted_blocks(blocks: list[Block], note: str) -> list[Block]:
    """The same message with its buttons replaced by who accepted."""
    kept = [b for b in blocks if b.get("type") != "actions"]
    return [*kept, {"type": "context", "elements": [{"type": "mrkdwn", "text": escape(note)}]}]


async def post_message(
    settings: SlackSettings, *, channel: str, text: str, blocks: list[Block]
) -> str:
    """chat.postMessage; returns the message's ts."""
    try:
        response = await client(settings).chat_postMessage(
            channel=channel, text=text[:3000], blocks=blocks
        )
    except SlackApiError as exc:
        raise NotifierError(f"Slack refused: {exc.response.get('error', exc)}") from exc
    except (SlackClientError, aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise NotifierError(f"Slack: {exc or type(exc).__name__}") from exc
    return str(response.get("ts") or "")


async def update_message(
    settings: SlackSettings, *, channel: str, ts: str, text: str, blocks: list[Block]
) -> None:
    """chat.update of a message Handoff posted."""
    try:
        await client(settings).chat_update(channel=channel, ts=ts, text=text[:3000], blocks=blocks)
    except SlackApiError as exc:
        raise NotifierError(f"Slack refused: {exc.response.get('error', exc)}") from exc
    except (SlackClientError, aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise NotifierError(f"Slack: {exc or type(exc).__name__}") from exc
