"""The interface every channel adapter implements (docs/channels/README.md).

Inbound, an adapter verifies the provider's request, parses its payload into the domain's
`InboundMessage` and calls `do_receive_inbound`. Outbound, `send` delivers one agent reply
through the provider's API at the inbox's `api_base` and returns the provider's message id.
Adapters never write tables themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import httpx

from inbox.models import Contact, Conversation, Inbox, Message


@dataclass
class OutboundMessage:
    message: Message
    conversation: Conversation
    inbox: Inbox
    contact: Contact
    identifier: str | None


class SendFailed(Exception):
    """The provider refused or could not be reached; the message shows as failed."""


class ChannelAdapter(Protocol):
    name: str

    async def send(self, outbound: OutboundMessage, http: httpx.AsyncClient) -> str | None: ...
