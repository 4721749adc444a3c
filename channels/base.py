"""The interface every channel adapter implements (docs/channels/README.md).

Inbound, a provider's webhook reaches `channels/webhooks.py`, which hands the adapter a
`WebhookRequest` (plain data, no Starlette): the adapter checks it (`verify`), answers a
handshake where the provider has one (`handshake`), and reads the payload into the domain's
terms (`parse` -> `Parsed`). `channels/intake.py` then calls the domain and commits; adapters
never write tables themselves.

Outbound, `send` delivers one message through the provider's API at the inbox's `api_base`
and returns the provider's id for it (stored as the message's `external_id`, so delivery
receipts and replies can find it). It raises `SendFailed` with what the provider said; the
outbox (channels/outbox.py) decides about retrying.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import parse_qsl

import httpx

from inbox.conversations import InboundMessage
from inbox.models import Contact, Conversation, Inbox, Message


@dataclass
class OutboundMessage:
    message: Message
    conversation: Conversation
    inbox: Inbox
    contact: Contact
    # How this inbox knows the contact (email address, chat id, phone number, PSID...).
    identifier: str | None
    # external_ids of the conversation's earlier messages, oldest first (email References,
    # a Slack thread's root ts).
    thread: list[str] = field(default_factory=list)
    # external_id of the customer's latest message (email In-Reply-To).
    reply_to: str | None = None
    # Attachments of the message: {"filename", "content_type", "size", "data"}.
    files: list[dict[str, Any]] = field(default_factory=list)
    # [name, provider id] of the parts an earlier attempt sent (long_text.send_parts).
    parts_sent: list[list[str]] = field(default_factory=list)


def file_type(file: dict[str, Any]) -> str:
    """An outbound file's MIME type without parameters, lower case: "text/plain;
    charset=utf-8" is text/plain to every provider's list of what it takes."""
    return str(file["content_type"]).split(";")[0].strip().lower()


class SendFailed(Exception):
    """The provider refused or could not be reached.

    `permanent` when trying again cannot help (a 400 for a bad recipient, a revoked token);
    `retry_after` when the provider said when to come back (429 Retry-After).
    """

    def __init__(
        self,
        reason: str,
        *,
        permanent: bool = False,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(reason)
        self.permanent = permanent
        self.retry_after = retry_after
        # The provider's HTTP status, when it answered one (failure_from_response).
        self.status = status
        # Set by long_text.send_parts: what went out before the failure, kept for the retry.
        self.parts_sent: list[list[str]] | None = None


def failure_from_response(response: httpx.Response, what: str) -> SendFailed:
    """Turn a provider's non-2xx answer into a SendFailed that keeps its reason."""
    detail = response.text[:300].strip()
    reason = f"{what} answered {response.status_code}" + (f": {detail}" if detail else "")
    retry_after: float | None = None
    if (header := response.headers.get("retry-after")) is not None:
        try:
            retry_after = max(0.0, float(header))
        except ValueError:
            retry_after = None
    # 408, 425, 429 and 5xx are worth another try; any other 4xx will fail the same way again.
    transient = response.status_code in (408, 425, 429) or response.status_code >= 500
    return SendFailed(
        reason, permanent=not transient, retry_after=retry_after, status=response.status_code
    )


class BadSignature(Exception):
    """The request is not from the provider (401)."""


class WrongVerifyToken(Exception):
    """A subscription handshake with the wrong verify token (403)."""


class Malformed(Exception):
    """The body is not what the provider sends (400)."""


@dataclass(frozen=True)
class WebhookRequest:
    method: str
    # The URL the provider called, as it saw it (HANDOFF_PUBLIC_URL behind a proxy): Twilio
    # signs it.
    url: str
    # What follows /webhooks/{channel}/{inbox_id}, e.g. "" or "voice/menu".
    subpath: str
    headers: Mapping[str, str]  # lower-case names
    query: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise Malformed(f"body is not JSON: {exc}") from exc
        except RecursionError as exc:  # "[[[[...": nested deeper than any provider sends
            raise Malformed("body is not JSON a provider sends: nested too deep") from exc

    def json_object(self) -> dict[str, Any]:
        data = self.json()
        if not isinstance(data, dict):
            raise Malformed("body is not a JSON object")
        return data

    def form(self) -> dict[str, str]:
        try:
            text = self.body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Malformed("form body is not UTF-8") from exc
        return dict(parse_qsl(text, keep_blank_values=True))


@dataclass
class Reply:
    """What to answer the provider instead of the default `{"ok": true}`."""

    body: str | bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    status: int = 200


@dataclass
class DeliveryUpdate:
    """The provider says a message we sent moved on: delivered, read or failed."""

    external_id: str
    state: str
    error: str | None = None
    at: datetime | None = None


@dataclass
class DeliveredUpTo:
    """The customer got (or read) everything we sent them up to `until`, no message named
    (Messenger's watermark); `identifier` is how this inbox knows the customer."""

    identifier: str
    state: str
    until: datetime


@dataclass
class Edit:
    """The customer edited a message they had sent (Telegram, Slack)."""

    external_id: str
    content: str


@dataclass
class Parsed:
    messages: list[InboundMessage] = field(default_factory=list)
    deliveries: list[DeliveryUpdate] = field(default_factory=list)
    up_to: list[DeliveredUpTo] = field(default_factory=list)
    edits: list[Edit] = field(default_factory=list)
    # An id of the whole delivery (Slack event_id, Telegram update_id): a repeat is answered
    # 200 and changes nothing.
    receipt: str | None = None
    reply: Reply | None = None


class ChannelAdapter(Protocol):
    """Outbound only: every channel has it (the web chat and the API channel only this)."""

    name: str
    # Whether `send` delivers `OutboundMessage.files`: agents attach files only where it does.
    sends_files: bool

    async def send(self, outbound: OutboundMessage, http: httpx.AsyncClient) -> str | None: ...


class WebhookAdapter(ChannelAdapter, Protocol):
    """A channel whose provider calls `/webhooks/{name}/{inbox_id}`."""

    # Largest body accepted; larger gets 413.
    max_body: int

    def verify(self, request: WebhookRequest, inbox: Inbox) -> None:
        """Raise BadSignature unless the provider signed this request."""

    def handshake(self, request: WebhookRequest, inbox: Inbox) -> Reply | None:
        """Answer a GET (subscription check, CRC); None when the provider has none (405)."""

    def parse(self, request: WebhookRequest, inbox: Inbox) -> Parsed:
        """Read a verified POST; raise Malformed for a body the provider would not send.

        Event types Handoff does not handle give an empty Parsed (200, nothing stored).
        """
