"""Channel name -> adapter. A new channel is one module plus one line here."""

from __future__ import annotations

from typing import cast

from .api_channel import ApiChannel
from .base import ChannelAdapter, WebhookAdapter
from .email import EmailChannel
from .messenger import MessengerChannel
from .slack_channel import SlackChannel
from .telegram import TelegramChannel
from .twilio_channel import TwilioChannel
from .webchat.adapter import WebchatChannel
from .whatsapp import WhatsAppChannel
from .x import XChannel

ADAPTERS: dict[str, ChannelAdapter] = {
    "webchat": WebchatChannel(),
    "api": ApiChannel(),
    "email": EmailChannel(),
    "whatsapp": WhatsAppChannel(),
    "messenger": MessengerChannel(),
    "x": XChannel(),
    "twilio": TwilioChannel(),
    "slack": SlackChannel(),
    "telegram": TelegramChannel(),
}


def adapter_for(channel: str) -> ChannelAdapter | None:
    return ADAPTERS.get(channel)


def sends_files(channel: str) -> bool:
    """Whether an agent's reply through this channel can carry files."""
    adapter = ADAPTERS.get(channel)
    return adapter is not None and adapter.sends_files


def webhook_adapter_for(channel: str) -> WebhookAdapter | None:
    """The adapter when its provider calls a webhook (not the web chat or the API channel)."""
    adapter = ADAPTERS.get(channel)
    if adapter is None or not hasattr(adapter, "parse"):
        return None
    return cast(WebhookAdapter, adapter)
