"""Slack as a support channel (docs/channels/slack.md): one Slack channel (a workspace channel
or a Slack Connect channel shared with a customer) is the inbox, and each thread in it is a
conversation.

Inbound: the Events API POSTs to `/webhooks/slack/{inbox_id}`, signed with the app's signing
secret (v0, within 5 minutes: slack-sdk's SignatureVerifier); `event_id` is the delivery's
receipt, so Slack's retries change nothing. Outbound: `chat.postMessage` into the
conversation's thread through slack-sdk's AsyncWebClient at the inbox's `api_base`, then
each of the agent's files into the same thread (files_upload_v2).

(Named slack_channel, not slack, so that it is never mistaken for the `slack` package.)
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import aiohttp
import httpx
from slack_sdk.errors import SlackApiError, SlackClientError, SlackRequestError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from inbox.conversations import InboundMessage
from inbox.models import Inbox
from inbox.notifiers.slack import escape

from .base import (
    BadSignature,
    Edit,
    Malformed,
    OutboundMessage,
    Parsed,
    Reply,
    SendFailed,
    WebhookRequest,
)
from .long_text import send_parts, split_text

log = logging.getLogger("handoff.slack")

DEFAULT_API_BASE = "https://slack.com/api/"
TIMEOUT = 10
WINDOW = 5 * 60
SLACK_TS = re.compile(r"\d+\.\d+")
# Slack truncates a message's text beyond 40,000 characters; a longer reply goes in parts.
MAX_TEXT = 40_000

# Message subtypes that are a person writing. Everything else (channel_join, bot_message,
# message_deleted, channel_topic...) is not a customer's message.
PERSON_SUBTYPES = frozenset({"", "file_share", "thread_broadcast", "me_message"})

# Errors that will not go away by trying again: the app's setup has to change.
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "no_permission",
        "missing_scope",
        "is_archived",
        "restricted_action",
        "msg_too_long",
        "no_text",
    }
)
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


def unescape(text: str) -> str:
    """Slack sends &, < and > as entities (its own markup, <@U123> and <url|label>, stays)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def escaped_length(char: str) -> int:
    return len(escape(char))


def _name(event: dict[str, Any]) -> str:
    """The sender's name when Slack sent their profile along (not every event carries it)."""
    profile = event.get("user_profile")
    if not isinstance(profile, dict):
        return ""
    for key in ("real_name", "display_name", "name"):
        if isinstance(profile.get(key), str) and profile[key].strip():
            return str(profile[key]).strip()
    return ""


def _file(file: dict[str, Any]) -> dict[str, Any]:
    """A reference to a file shared in Slack: fetching it needs the bot token (url_private)."""
    reference = {
        "kind": "file",
        "id": file.get("id"),
        "name": file.get("name") or file.get("title") or "file",
        "mimetype": file.get("mimetype"),
        "size": file.get("size"),
        "url_private": file.get("url_private"),
    }
    return {key: value for key, value in reference.items() if value is not None}


def _is_ours_or_a_bot(message: dict[str, Any]) -> bool:
    # Our own replies come back as events too, with our bot_id.
    return bool(message.get("bot_id")) or message.get("subtype") == "bot_message"


class SlackChannel:
    name = "slack"
    sends_files = True  # files_upload_v2, one file at a time, in the thread
    max_body = 1024 * 1024

    def verify(self, request: WebhookRequest, inbox: Inbox) -> None:
        secret = str(inbox.config.get("signing_secret") or "")
        if not secret.strip():
            raise BadSignature("the inbox has no signing_secret")
        timestamp = request.header("x-slack-request-timestamp")
        signature = request.header("x-slack-signature")
        if not timestamp or not signature:
            raise BadSignature("X-Slack-Signature or X-Slack-Request-Timestamp is missing")
        verifier = SignatureVerifier(secret)
        try:
            if abs(verifier.clock.now() - int(timestamp)) > WINDOW:
                raise BadSignature("X-Slack-Request-Timestamp is more than 5 minutes away")
            valid = verifier.is_valid(request.body, timestamp, signature)
        except ValueError as exc:  # a timestamp that is no number, a body that is no UTF-8
            raise BadSignature(f"unreadable signature: {exc}") from exc
        if not valid:
            raise BadSignature("X-Slack-Signature does not match")

    def handshake(self, request: WebhookRequest, inbox: Inbox) -> Reply | None:
        return None  # Slack checks the URL with a signed POST (url_verification)

    def parse(self, request: WebhookRequest, inbox: Inbox) -> Parsed:
        payload = request.json_object()
        kind = payload.get("type")
        if kind == "url_verification":
            challenge = payload.get("challenge")
            if not isinstance(challenge, str):
                raise Malformed("url_verification without a challenge")
            return Parsed(reply=Reply(json.dumps({"challenge": challenge}), "application/json"))
        if kind != "event_callback":
            return Parsed()  # app_rate_limited and the like
        event = payload.get("event")
        if not isinstance(event, dict):
            raise Malformed("event_callback without an event")
        event_id = payload.get("event_id")
        parsed = Parsed(receipt=str(event_id) if event_id else None)
        if event.get("type") != "message":
            return parsed
        channel_id = inbox.config.get("channel_id")
        if not channel_id:
            log.warning("Slack inbox %s has no channel_id: every message is ignored", inbox.id)
            return parsed
        if event.get("channel") != channel_id:
            return parsed
        subtype = str(event.get("subtype") or "")
        assert inbox.id is not None
        if subtype == "message_changed":
            edit = self._edit(event)
            if edit is not None:
                parsed.edits.append(edit)
        elif subtype in PERSON_SUBTYPES and not event.get("hidden"):
            inbound = self._inbound(event, inbox.id)
            if inbound is not None:
                parsed.messages.append(inbound)
        return parsed

    def _inbound(self, event: dict[str, Any], inbox_id: int) -> InboundMessage | None:
        if _is_ours_or_a_bot(event):
            return None
        user = event.get("user")
        if not isinstance(user, str) or not user:
            return None
        ts = event.get("ts")
        if not isinstance(ts, str) or not ts:
            raise Malformed("a message event without ts")
        files = [_file(f) for f in event.get("files") or [] if isinstance(f, dict)]
        text = unescape(str(event.get("text") or "")).strip()
        content = text or " ".join(f"[file: {f['name']}]" for f in files)
        if not content:
            return None  # nothing a person wrote (an empty unfurl, a block-only message)
        thread_ts = event.get("thread_ts")
        in_thread = isinstance(thread_ts, str) and bool(thread_ts) and thread_ts != ts
        return InboundMessage(
            inbox_id=inbox_id,
            identifier=user,
            name=_name(event),
            content=content,
            external_id=ts,
            attachments=files,
            # A reply joins its thread's conversation. A reply in a thread Handoff never saw
            # (older than the inbox, or begun by a bot) starts one rather than joining this
            # person's latest conversation, which is another thread.
            thread_refs=[str(thread_ts)] if in_thread else [],
            starts_thread=True,
        )

    def _edit(self, event: dict[str, Any]) -> Edit | None:
        message = event.get("message")
        if not isinstance(message, dict) or _is_ours_or_a_bot(message):
            return None
        ts = message.get("ts")
        text = unescape(str(message.get("text") or "")).strip()
        if not isinstance(ts, str) or not ts or not text:
            return None
        # Also sent when only a reply count or an unfurl changed: the same words change nothing.
        return Edit(external_id=ts, content=text)

    async def send(self, outbound: OutboundMessage, http: httpx.AsyncClient) -> str | None:
        config = outbound.inbox.config
        token = str(config.get("bot_token") or "")
        channel = str(config.get("channel_id") or "")
        if not token or not channel:
            raise SendFailed("the Slack inbox needs a bot_token and a channel_id", permanent=True)
        base = str(config.get("api_base") or DEFAULT_API_BASE)
        client = AsyncWebClient(
            token=token,
            base_url=base if base.endswith("/") else base + "/",
            timeout=TIMEOUT,
            retry_handlers=[],  # the outbox retries, with backoff and a visible state
        )
        # The conversation's first Slack message is its thread's root (a top-level message);
        # ids that are no Slack ts (the bot's "bot:12", a file id) are not.
        thread_ts = next((ref for ref in outbound.thread if SLACK_TS.fullmatch(ref)), None)
        thread = SlackThread(client, channel, thread_ts)
        steps = _steps(thread, outbound.message.content, outbound.files)
        if not steps:
            raise SendFailed("the reply is empty", permanent=True)
        # send_parts counts the text's parts and the files alike, so a retry after a failed
        # file posts neither the text nor the files that went out again.
        sent = await send_parts(outbound, list(steps), lambda name: steps[name]())
        return sent[0]


@dataclass
class SlackThread:
    """One conversation's thread in the inbox's channel, through the Web API."""

    client: AsyncWebClient
    channel: str
    thread_ts: str | None

    async def post_text(self, text: str) -> str:
        """chat.postMessage; the new message's ts."""
        response = await _answer(
            self.client.chat_postMessage(
                channel=self.channel, thread_ts=self.thread_ts, text=escape(text)
            )
        )
        ts = response.get("ts")
        if not isinstance(ts, str) or not ts:
            raise SendFailed("Slack answered ok without the message's ts")
        return ts

    async def share_file(self, file: dict[str, Any]) -> str:
        """The file in the thread; its Slack file id (Slack shares it later, so no ts yet).

        files_upload_v2 makes Slack's three calls: files.getUploadURLExternal, the bytes to
        the upload_url it answers, files.completeUploadExternal into the thread. A retry
        starts over: an upload never completed is dropped by Slack.
        """
        response = await _answer(
            self.client.files_upload_v2(
                channel=self.channel,
                thread_ts=self.thread_ts,
                filename=file["filename"],
                file=file["data"],
            )
        )
        shared = response.get("files")
        first = shared[0] if isinstance(shared, list) and shared else None
        if not isinstance(first, dict) or not first.get("id"):
            raise SendFailed("Slack answered ok without the file's id")
        return str(first["id"])


def _steps(
    thread: SlackThread, text: str, files: list[dict[str, Any]]
) -> dict[str, Callable[[], Awaitable[str]]]:
    """The calls a reply takes, in order, each named for send_parts: the text's parts, then
    one upload per file."""
    steps: dict[str, Callable[[], Awaitable[str]]] = {}
    for number, part in enumerate(split_text(text, MAX_TEXT, escaped_length), 1):
        steps[f"text {number}"] = partial(thread.post_text, part)
    for number, file in enumerate(files, 1):
        steps[f"file {number}"] = partial(thread.share_file, file)
    return steps


async def _answer(call: Awaitable[AsyncSlackResponse]) -> AsyncSlackResponse:
    """Slack's answer to a call, or SendFailed saying why not."""
    try:
        return await call
    except SlackApiError as exc:
        raise _failure(exc) from exc
    except SlackRequestError as exc:
        # files_upload_v2 raises it when the upload_url answers other than 200; its message
        # names the status and the file, never the URL or the token.
        raise SendFailed(f"Slack did not take the file: {exc}"[:300]) from exc
    except (SlackClientError, aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise SendFailed(f"Slack could not be reached ({type(exc).__name__})") from exc


def _failure(exc: SlackApiError) -> SendFailed:
    """What Slack said, and whether trying again can help."""
    response = exc.response
    # A SlackResponse, or aiohttp's response when the body was not JSON (a proxy's 502 page).
    status = int(getattr(response, "status_code", None) or getattr(response, "status", 0) or 0)
    data = getattr(response, "data", None)
    error = str(data.get("error") or "") if isinstance(data, dict) else ""
    headers = getattr(response, "headers", None) or {}
    retry_after: float | None = None
    header = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if header is not None:
        try:
            retry_after = max(0.0, float(header))
        except ValueError:
            retry_after = None
    if error:
        needed = data.get("needed") if isinstance(data, dict) else None
        reason = f"Slack refused: {error}" + (f" (needs {needed})" if needed else "")
    else:
        reason = f"Slack answered {status}"
    if error in PERMANENT_ERRORS:
        return SendFailed(reason, permanent=True)
    transient = error in TRANSIENT_ERRORS or status in (408, 425, 429) or status >= 500
    return SendFailed(reason, permanent=not transient, retry_after=retry_after)
