"""X (Twitter) direct messages through the Account Activity API (docs/channels/x.md).

Inbound, X calls `/webhooks/x/{inbox_id}`: a GET with `crc_token` (the challenge-response
check, answered with an HMAC of the token) and POSTs of account activity signed with
`x-twitter-webhooks-signature`. Only `message_create` events from other people become
messages; our own replies come back as echoes and are ignored.

Outbound, a reply is `POST {api_base}/2/dm_conversations/with/{participant_id}/messages`
with the user access token as a Bearer token (kept fresh by channels/x_tokens.py when the inbox
has a refresh token); the answer's `dm_event_id` is the message's id.
The text goes first (in parts when long), then each file in a DM of its own, uploaded first
(channels/x_media.py).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import quote

import httpx

from inbox.conversations import InboundMessage
from inbox.models import Inbox

from .base import (
    BadSignature,
    DeliveryUpdate,
    Malformed,
    OutboundMessage,
    Parsed,
    Reply,
    SendFailed,
    WebhookRequest,
)
from .long_text import send_parts, split_text
from .x_media import DEFAULT_API_BASE, Sleep, XApi, media_category, upload_media
from .x_tokens import report_rejected

TIMEOUT = 10.0
# X takes direct messages of up to 10,000 characters.
MAX_TEXT = 10_000
# A 401 to an inbox with a refresh token: X no longer takes its access token (it ran out, or
# was revoked early). channels/x_tokens.py renews it at once when told; try again after that,
# with room for a few tries should X's token endpoint be down too.
AFTER_RENEWAL = 20.0


def sign(consumer_secret: str, data: bytes) -> str:
    """X's signature: `sha256=` and the base64 HMAC-SHA256 keyed with the consumer secret."""
    digest = hmac.new(consumer_secret.encode(), data, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


def _config(inbox: Inbox, key: str) -> str:
    value = inbox.config.get(key)
    return str(value) if value else ""


def _dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Malformed(f"{what} is not an object")
    return value


class XChannel:
    name = "x"
    # Each file is uploaded as DM media and sent as a DM of its own: X attaches one per DM.
    sends_files = True
    max_body = 1024 * 1024

    def __init__(self, sleep: Sleep = asyncio.sleep) -> None:
        # How the send waits while X processes a video (tests pass one that only records).
        self.sleep = sleep

    # -- inbound ---------------------------------------------------------------------------

    def verify(self, request: WebhookRequest, inbox: Inbox) -> None:
        secret = _config(inbox, "consumer_secret")
        if not secret:
            raise BadSignature("the inbox has no consumer_secret")
        given = request.header("x-twitter-webhooks-signature")
        if not given:
            raise BadSignature("no x-twitter-webhooks-signature header")
        if not hmac.compare_digest(sign(secret, request.body).encode(), given.encode()):
            raise BadSignature("x-twitter-webhooks-signature does not match")

    def handshake(self, request: WebhookRequest, inbox: Inbox) -> Reply | None:
        """The CRC check X makes when the webhook is registered, and hourly after."""
        token = request.query.get("crc_token")
        if not token:
            raise Malformed("no crc_token")
        secret = _config(inbox, "consumer_secret")
        if not secret:
            raise BadSignature("the inbox has no consumer_secret")
        body = json.dumps({"response_token": sign(secret, token.encode())})
        return Reply(body=body, content_type="application/json")

    def parse(self, request: WebhookRequest, inbox: Inbox) -> Parsed:
        payload = request.json_object()
        ours = _config(inbox, "account_id")
        for_user = payload.get("for_user_id")
        if ours and for_user is not None and str(for_user) != ours:
            return Parsed()  # another account subscribed to the same app's webhook
        users = payload.get("users") or {}
        if not isinstance(users, dict):
            raise Malformed("users is not an object")
        parsed = Parsed()
        for event in _list(payload, "direct_message_events"):
            event = _dict(event, "a direct message event")
            if event.get("type") != "message_create":
                continue
            inbound = self._message(event, users, inbox, ours)
            if inbound is not None:
                parsed.messages.append(inbound)
        for read in _list(payload, "direct_message_mark_read_events"):
            read = _dict(read, "a mark-read event")
            reader, last = read.get("sender_id"), read.get("last_read_event_id")
            if reader is not None and str(reader) != ours and last:
                # Read receipts name the last message the customer saw; only ours move.
                parsed.deliveries.append(DeliveryUpdate(str(last), "read"))
        return parsed

    def _message(
        self, event: dict[str, Any], users: dict[str, Any], inbox: Inbox, ours: str
    ) -> InboundMessage | None:
        create = _dict(event.get("message_create"), "message_create")
        sender, event_id = create.get("sender_id"), event.get("id")
        if not sender or not event_id:
            raise Malformed("a message_create without sender_id or id")
        if str(sender) == ours:
            return None  # our own reply, echoed back
        data = create.get("message_data") or {}
        data = _dict(data, "message_data")
        text = data.get("text") or ""
        if not isinstance(text, str):
            raise Malformed("message_data.text is not text")
        attachments: list[dict[str, Any]] = []
        attachment = data.get("attachment")
        if isinstance(attachment, dict) and isinstance(attachment.get("media"), dict):
            media = attachment["media"]
            # X appends the media's t.co link to the text; the attachment stands for it.
            link = str(media.get("url") or "")
            if link and text.rstrip().endswith(link):
                text = text.rstrip()[: -len(link)]
            attachments.append(
                {
                    "kind": "media",
                    "media_type": str(media.get("type") or ""),
                    "id": str(media.get("id_str") or media.get("id") or ""),
                    "url": str(media.get("media_url_https") or media.get("media_url") or ""),
                }
            )
        user = users.get(str(sender))
        user = user if isinstance(user, dict) else {}
        screen_name = str(user.get("screen_name") or "")
        assert inbox.id is not None
        return InboundMessage(
            inbox_id=inbox.id,
            identifier=str(sender),
            name=str(user.get("name") or (f"@{screen_name}" if screen_name else "")),
            content=_expand_links(text, data.get("entities")).strip(),
            external_id=str(event_id),
            attachments=attachments,
        )

    # -- outbound --------------------------------------------------------------------------

    async def send(self, outbound: OutboundMessage, http: httpx.AsyncClient) -> str | None:
        inbox = outbound.inbox
        token = _config(inbox, "access_token")
        if not token:
            raise SendFailed("the inbox has no access_token", permanent=True)
        if not outbound.identifier:
            raise SendFailed("the contact has no X user id in this inbox", permanent=True)
        # Every file is checked before anything goes out: a refused one must not leave the
        # customer with half a reply.
        files = [(file, media_category(file)) for file in outbound.files]
        api = XApi(http, _config(inbox, "api_base") or DEFAULT_API_BASE, token, TIMEOUT)
        chat = DirectMessages(api, quote(outbound.identifier, safe=""), self.sleep)
        steps = _steps(chat, outbound.message.content, files)
        if not steps:
            raise SendFailed("the reply is empty", permanent=True)
        # send_parts counts the text's parts and the files alike, so a retry after a failed
        # file sends neither the text nor the files that went out again.
        try:
            sent = await send_parts(outbound, list(steps), lambda name: steps[name]())
        except SendFailed as failure:
            if _config(inbox, "refresh_token") and failure.status == 401:
                failure.permanent, failure.retry_after = False, AFTER_RENEWAL
                report_rejected(inbox.config)
            raise
        # The last DM's id: a read receipt names the last message the customer saw.
        return sent[-1]


@dataclass
class DirectMessages:
    """The account's DM conversation with one customer; each send answers a `dm_event_id`."""

    api: XApi
    participant: str  # the customer's user id, quoted for the path
    sleep: Sleep

    async def send_text(self, part: str) -> str:
        return await self._send({"text": part})

    async def send_file(self, file: dict[str, Any], category: str) -> str:
        # A retry uploads again rather than keep a media id: X lets an unshared DM media id
        # serve one message, and one from an attempt that failed may be half uploaded.
        media_id = await upload_media(self.api, file, category, self.sleep)
        return await self._send({"attachments": [{"media_id": media_id}]})

    async def _send(self, body: dict[str, Any]) -> str:
        path = f"/2/dm_conversations/with/{self.participant}/messages"
        return _event_id(await self.api.request("POST", path, json=body))


def _steps(
    chat: DirectMessages, text: str, files: list[tuple[dict[str, Any], str]]
) -> dict[str, Callable[[], Awaitable[str]]]:
    """The DMs a reply takes, in order, each named for send_parts: the text's parts, then a
    DM per file."""
    steps: dict[str, Callable[[], Awaitable[str]]] = {}
    for number, part in enumerate(split_text(text, MAX_TEXT), 1):
        steps[f"text {number}"] = partial(chat.send_text, part)
    for number, (file, category) in enumerate(files, 1):
        steps[f"file {number}"] = partial(chat.send_file, file, category)
    return steps


def _list(payload: dict[str, Any], key: str) -> list[Any]:
    value = payload.get(key) or []
    if not isinstance(value, list):
        raise Malformed(f"{key} is not a list")
    return value


def _expand_links(text: str, entities: Any) -> str:
    """Show the links the customer wrote instead of X's t.co wrappers."""
    urls = entities.get("urls") if isinstance(entities, dict) else None
    for link in urls if isinstance(urls, list) else []:
        if isinstance(link, dict) and link.get("url") and link.get("expanded_url"):
            text = text.replace(str(link["url"]), str(link["expanded_url"]))
    return text


def _event_id(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError as exc:
        raise SendFailed("X's answer is not JSON", permanent=True) from exc
    data = body.get("data") if isinstance(body, dict) else None
    if isinstance(data, dict) and data.get("dm_event_id"):
        return str(data["dm_event_id"])
    # A 2xx with only "errors" is X refusing the message.
    errors = body.get("errors") if isinstance(body, dict) else None
    raise SendFailed(f"X sent no dm_event_id: {json.dumps(errors)[:300]}", permanent=True)
