"""Channel name -> adapter. A new channel is one module plus one line here."""

from __future__ import annotations

from .api_channel import ApiChannel
from .base import ChannelAdapter
from .webchat.adapter import WebchatChannel

ADAPTERS: dict[str, ChannelAdapter] = {
    "webchat": WebchatChannel(),
    "api": ApiChannel(),
}


def adapter_for(channel: str) -> ChannelAdapter | None:
    return ADAPTERS.get(channel)
