"""Telegram through a bot (docs/channels/telegram.md): each private chat with the bot is a
customer.

Inbound: Telegram POSTs each update to `/webhooks/telegram/{inbox_id}` with the
`secret_token` given to `setWebhook` in `X-Telegram-Bot-Api-Secret-Token`; the `update_id`
is the delivery's receipt. Outbound: `sendMessage` at `{api_base}/bot{token}/`, a reply longer
than Telegram's 4096 characters going out as several messages, in order; each of the agent's
files as a `sendDocument` after the text, a short text riding as the first file's caption.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import httpx

from inbox.conversations import InboundMessage
from inbox.models import Inbox

from .base import (
    BadSignature,
    Edit,
    Malformed,
    OutboundMessage,
    Parsed,
    Reply,
    SendFailed,
    WebhookRequest,
    failure_from_response,
)
from .graph import readable_location
from .long_text import send_parts, split_text, utf16_units
from .webchat.language import browser_language

log = logging.getLogger("handoff.telegram")

DEFAULT_API_BASE = "https://api.telegram.org"
TIMEOUT = 10.0
# sendMessage takes 1-4096 characters; counted in UTF-16 code units to be safe with emoji.
MAX_TEXT = 4096
# sendDocument's caption takes 0-1024 characters, counted the same way.
MAX_CAPTION = 1024

# What the agent reads for a message Handoff keeps no file of.
LABELS: dict[str, str] = {
    "animation": "[GIF]",
    "audio": "[audio]",
    "video": "[video]",
    "video_note": "[video message]",
    "voice": "[voice message]",
    "sticker": "[sticker]",
    "dice": "[dice]",
    "game": "[game]",
    "story": "[story]",
    "invoice": "[invoice]",
    "paid_media": "[paid media]",
    "giveaway": "[giveaway]",
}


def _name(sender: dict[str, Any], chat: dict[str, Any]) -> str:
    if chat.get("type") in ("group", "supergroup") and chat.get("title"):
        return str(chat["title"])
    full = " ".join(
        str(sender[key]).strip() for key in ("first_name", "last_name") if sender.get(key)
    )
    if full:
        return full
    return f"@{sender['username']}" if sender.get("username") else ""


def _label(message: dict[str, Any]) -> str | None:
    """A readable line for a message that has no text of its own."""
    if isinstance(venue := message.get("venue"), dict) and isinstance(venue.get("location"), dict):
        where = venue["location"]
        return readable_location(
            where.get("latitude"),
            where.get("longitude"),
            name=venue.get("title"),
            address=venue.get("address"),
        )
    if isinstance(location := message.get("location"), dict):
        return readable_location(location.get("latitude"), location.get("longitude"))
    if isinstance(contact := message.get("contact"), dict):
        who = " ".join(str(contact[key]) for key in ("first_name", "last_name") if contact.get(key))
        return "[contact: " + " ".join(w for w in (who, contact.get("phone_number")) if w) + "]"
    if isinstance(poll := message.get("poll"), dict):
        return f"[poll: {poll.get('question', '')}]"
    if isinstance(sticker := message.get("sticker"), dict) and sticker.get("emoji"):
        return f"[sticker {sticker['emoji']}]"
    return next((label for key, label in LABELS.items() if key in message), None)


def _content(message: dict[str, Any]) -> tuple[str | None, list[dict[str, Any]]]:
    """The words and file references of a message; None for a service message (someone
    joined a group, a pinned message...), which is no customer's message."""
    attachments: list[dict[str, Any]] = []
    label: str | None = None
    photo = message.get("photo")
    if isinstance(photo, list) and photo:
        sizes = [p for p in photo if isinstance(p, dict) and p.get("file_id")]
        if sizes:
            largest = max(
                sizes, key=lambda p: (p.get("width", 0) * p.get("height", 0), p.get("file_size", 0))
            )
            attachments.append(
                {
                    "kind": "photo",
                    "file_id": largest["file_id"],
                    "width": largest.get("width"),
                    "height": largest.get("height"),
                }
            )
            label = "[photo]"
    document = message.get("document")
    if isinstance(document, dict) and document.get("file_id"):
        attachments.append(
            {
                "kind": "document",
                "file_id": document["file_id"],
                "file_name": document.get("file_name"),
                "mime_type": document.get("mime_type"),
            }
        )
        # A GIF comes as an animation and, for older clients, as a document too.
        label = "[GIF]" if "animation" in message else f"[document: {document.get('file_name')}]"
    text = message.get("text") or message.get("caption")
    if isinstance(text, str) and text.strip():
        return text, attachments
    return label or _label(message), attachments


def _chat_and_id(message: dict[str, Any]) -> tuple[Any, int]:
    chat = message.get("chat")
    message_id = message.get("message_id")
    if not isinstance(chat, dict) or not isinstance(chat.get("id"), int):
        raise Malformed("a message without chat.id")
    if not isinstance(message_id, int):
        raise Malformed("a message without message_id")
    return chat, message_id


class TelegramChannel:
    name = "telegram"
    sends_files = True  # sendDocument
    max_body = 1024 * 1024

    def verify(self, request: WebhookRequest, inbox: Inbox) -> None:
        expected = str(inbox.config.get("secret_token") or "")
        if not expected:
            # Without a secret anybody who guesses the URL could write as any customer.
            raise BadSignature("the inbox has no secret_token: set one and call setWebhook")
        given = request.header("x-telegram-bot-api-secret-token")
        if not given:
            raise BadSignature("X-Telegram-Bot-Api-Secret-Token is missing")
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise BadSignature("X-Telegram-Bot-Api-Secret-Token does not match")

    def handshake(self, request: WebhookRequest, inbox: Inbox) -> Reply | None:
        return None  # setWebhook is a call we make; Telegram never GETs the webhook

    def parse(self, request: WebhookRequest, inbox: Inbox) -> Parsed:
        update = request.json_object()
        update_id = update.get("update_id")
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            raise Malformed("an update without an integer update_id")
        parsed = Parsed(receipt=str(update_id))
        assert inbox.id is not None
        if "message" in update:
            message = update["message"]
            if not isinstance(message, dict):
                raise Malformed("message is not an object")
            inbound = self._inbound(message, inbox.id)
            if inbound is not None:
                parsed.messages.append(inbound)
        elif "edited_message" in update:
            edited = update["edited_message"]
            if not isinstance(edited, dict):
                raise Malformed("edited_message is not an object")
            chat, message_id = _chat_and_id(edited)
            text = edited.get("text") or edited.get("caption")
            if isinstance(text, str) and text.strip():
                parsed.edits.append(Edit(external_id=f"{chat['id']}:{message_id}", content=text))
        # Channel posts, callback queries, chat member changes...: 200, nothing stored.
        return parsed

    def _inbound(self, message: dict[str, Any], inbox_id: int) -> InboundMessage | None:
        chat, message_id = _chat_and_id(message)
        sender = message.get("from")
        sender = sender if isinstance(sender, dict) else {}
        if sender.get("is_bot"):
            return None
        content, attachments = _content(message)
        if content is None:
            return None
        language = sender.get("language_code")
        return InboundMessage(
            inbox_id=inbox_id,
            identifier=str(chat["id"]),
            name=_name(sender, chat),
            content=content,
            external_id=f"{chat['id']}:{message_id}",
            language=browser_language(language) if isinstance(language, str) else None,
            attachments=attachments,
        )

    async def send(self, outbound: OutboundMessage, http: httpx.AsyncClient) -> str | None:
        config = outbound.inbox.config
        token = str(config.get("bot_token") or "")
        if not token:
            raise SendFailed("the Telegram inbox has no bot_token", permanent=True)
        chat_id = outbound.identifier
        if not chat_id:
            raise SendFailed("the contact has no Telegram chat id", permanent=True)
        base = str(config.get("api_base") or DEFAULT_API_BASE).rstrip("/")
        chat = BotChat(http, f"{base}/bot{token}", chat_id)
        steps = _steps(chat, outbound.message.content, outbound.files)
        if not steps:
            raise SendFailed("the reply is empty", permanent=True)
        # send_parts counts the text's parts and the files alike, so a retry after a failed
        # document sends neither the text nor the documents that went out again.
        sent = await send_parts(outbound, list(steps), lambda name: steps[name]())
        return sent[0]


@dataclass
class BotChat:
    """One chat, through the Bot API; each call answers `"{chat_id}:{message_id}"`."""

    http: httpx.AsyncClient
    # {api_base}/bot{token}: it holds the token, so it never goes into an error.
    api: str
    chat_id: str

    @property
    def chat(self) -> int | str:
        # Telegram takes the id as a number or a string; send it as it gave it to us.
        return int(self.chat_id) if self.chat_id.lstrip("-").isdigit() else self.chat_id

    async def send_message(self, text: str) -> str:
        return await self._call("sendMessage", json={"chat_id": self.chat, "text": text})

    async def send_document(self, file: dict[str, Any], caption: str) -> str:
        fields = {"chat_id": str(self.chat)} | ({"caption": caption} if caption else {})
        document = (file["filename"], file["data"], file["content_type"])
        return await self._call("sendDocument", data=fields, files={"document": document})

    async def _call(self, method: str, **request: Any) -> str:
        try:
            response = await self.http.post(f"{self.api}/{method}", timeout=TIMEOUT, **request)
        except httpx.HTTPError as exc:
            # Not str(exc): the URL, and so the bot token, must not reach the agent's screen.
            raise SendFailed(f"Telegram could not be reached ({type(exc).__name__})") from exc
        return f"{self.chat_id}:{_sent_message_id(response)}"


def _steps(
    chat: BotChat, text: str, files: list[dict[str, Any]]
) -> dict[str, Callable[[], Awaitable[str]]]:
    """The calls a reply takes, in order, each named for send_parts: the text's parts, then a
    document per file, the first one captioned with the text when it is short enough."""
    caption = text.strip() if files and _fits_caption(text.strip()) else ""
    parts = [] if caption else split_text(text, MAX_TEXT, utf16_units)
    steps: dict[str, Callable[[], Awaitable[str]]] = {}
    for number, part in enumerate(parts, 1):
        steps[f"text {number}"] = partial(chat.send_message, part)
    for number, file in enumerate(files, 1):
        steps[f"file {number}"] = partial(chat.send_document, file, caption if number == 1 else "")
    return steps


def _fits_caption(text: str) -> bool:
    return sum(utf16_units(char) for char in text) <= MAX_CAPTION


def _sent_message_id(response: httpx.Response) -> int:
    """The message_id of Telegram's `{"ok": true, "result": {...}}`, or SendFailed."""
    try:
        answer = response.json()
    except ValueError:
        raise failure_from_response(response, "Telegram") from None
    if not isinstance(answer, dict):
        raise failure_from_response(response, "Telegram")
    result = answer.get("result")
    if response.status_code < 300 and answer.get("ok") and isinstance(result, dict):
        message_id = result.get("message_id")
        if isinstance(message_id, int):
            return message_id
    code = answer.get("error_code") or response.status_code
    description = str(answer.get("description") or "no description")
    parameters = answer.get("parameters")
    retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
    reason = f"Telegram answered {code}: {description}"
    if isinstance(code, int) and (code == 429 or code >= 500):
        wait = float(retry_after) if isinstance(retry_after, int | float) else None
        raise SendFailed(reason, retry_after=wait)
    if response.status_code < 300:
        # ok without a message_id: nothing tells us the customer got it; try again.
        raise SendFailed(f"Telegram answered without a message_id: {answer}"[:300])
    # 400 (chat not found), 401 or 404 (a revoked or wrong token), 403 (the user blocked the
    # bot): trying again gives the same answer.
    raise SendFailed(reason, permanent=True)
