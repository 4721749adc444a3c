"""Webchat outbound: the customer's widget receives replies over its websocket from the bus,
so sending is only marking the message as sent."""

from __future__ import annotations

import httpx

from ..base import OutboundMessage


class WebchatChannel:
    name = "webchat"
    sends_files = True  # the widget downloads them from Handoff

    async def send(self, outbound: OutboundMessage, http: httpx.AsyncClient) -> str | None:
        return None
