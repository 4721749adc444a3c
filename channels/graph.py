"""What WhatsApp and Messenger share as Meta Graph API channels (docs/channels/whatsapp.md,
docs/channels/messenger.md): the `hub.challenge` handshake, the `X-Hub-Signature-256` check,
Graph's error answers read into SendFailed, and a reply sent as steps (its text's parts, its
files) that a retry resumes.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from inbox.models import Inbox

from .base import (
    BadSignature,
    Malformed,
    OutboundMessage,
    Reply,
    SendFailed,
    WebhookRequest,
    WrongVerifyToken,
    failure_from_response,
)
from .long_text import send_parts

DEFAULT_API_BASE = "https://graph.facebook.com/v21.0"
# One request to Graph each, named for send_parts ("text 1", "file 2"...), in order.
Steps = dict[str, Callable[[], Awaitable[str]]]
# Graph error codes that mean "slow down": application, user, page and WhatsApp throughput
# limits. Anything else a 4xx says will fail the same way again.
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, 80007, 130429, 131048, 131056})
# "API Unknown" and "API Service": Meta's own advice is to wait and retry.
TEMPORARY_CODES = frozenset({1, 2})
# Said to agents in place of Graph's terse titles.
HINTS = {
    131047: "the customer last wrote more than 24 hours ago; outside the customer service "
    "window WhatsApp only delivers approved template messages",
    2018278: "the customer last wrote more than 24 hours ago; Messenger only accepts a "
    "RESPONSE within the 24-hour window",
    551: "this person is not available on Messenger right now",
}


def config_str(inbox: Inbox, key: str) -> str:
    value = inbox.config.get(key)
    return str(value) if value is not None else ""


def api_base(inbox: Inbox) -> str:
    return (config_str(inbox, "api_base") or DEFAULT_API_BASE).rstrip("/")


def check_signature(request: WebhookRequest, app_secret: str) -> None:
    """Raise BadSignature unless `X-Hub-Signature-256` is the body's HMAC with the app secret."""
    if not app_secret:
        raise BadSignature("the inbox has no app_secret to check X-Hub-Signature-256 with")
    given = request.header("x-hub-signature-256")
    if not given.startswith("sha256="):
        raise BadSignature("X-Hub-Signature-256 is missing")
    expected = "sha256=" + hmac.new(app_secret.encode(), request.body, hashlib.sha256).hexdigest()
    # Bytes: compare_digest refuses non-ASCII str, and a forged header must be a 401, not a 500.
    if not hmac.compare_digest(expected.encode(), given.strip().lower().encode()):
        raise BadSignature("X-Hub-Signature-256 does not match the body")


def answer_subscription(request: WebhookRequest, verify_token: str) -> Reply:
    """Meta's subscription check: echo `hub.challenge` when `hub.verify_token` is ours."""
    if request.query.get("hub.mode") != "subscribe":
        raise Malformed("expected hub.mode=subscribe")
    given = request.query.get("hub.verify_token", "")
    if not verify_token or not hmac.compare_digest(verify_token.encode(), given.encode()):
        raise WrongVerifyToken("hub.verify_token does not match the inbox's verify_token")
    return Reply(body=request.query.get("hub.challenge", ""))


def graph_error(response: httpx.Response) -> dict[str, Any] | None:
    """The `error` object of a Graph answer, when it has one."""
    try:
        data = response.json()
    except ValueError:
        return None
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, dict) else None


def graph_failure(response: httpx.Response, what: str) -> SendFailed:
    """A Graph error answer as SendFailed: rate limits and 5xx transient, the rest permanent.

    Graph reports most throttling as a 400 or 403 with a rate-limit code, so the code decides
    before the status does. The reason keeps Graph's message, code and fbtrace_id (what
    Meta's support asks for).
    """
    error = graph_error(response)
    if error is None:
        return failure_from_response(response, what)
    code = error.get("code")
    subcode = error.get("error_subcode")
    message = str(error.get("message") or error.get("type") or "error").strip()
    reason = f"{what} answered {response.status_code}: {message}"
    if code is not None:
        reason += f" (code {code}" + (f", subcode {subcode}" if subcode is not None else "") + ")"
    data = error.get("error_data")
    details = data.get("details") if isinstance(data, dict) else None
    if isinstance(details, str) and details and details not in message:
        reason += f": {details}"
    hint = HINTS.get(subcode) if isinstance(subcode, int) else None
    hint = hint or (HINTS.get(code) if isinstance(code, int) else None)
    if hint:
        reason += f" - {hint}"
    if error.get("fbtrace_id"):
        reason += f" [fbtrace_id {error['fbtrace_id']}]"
    transient = (
        code in RATE_LIMIT_CODES
        or code in TEMPORARY_CODES
        or error.get("is_transient") is True
        or response.status_code in (408, 425, 429)
        or response.status_code >= 500
    )
    retry_after = failure_from_response(response, what).retry_after
    return SendFailed(
        reason, permanent=not transient, retry_after=retry_after, status=response.status_code
    )


async def post_graph(
    http: httpx.AsyncClient,
    url: str,
    payload: dict[str, Any],
    *,
    what: str,
    timeout: float,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    files: dict[str, tuple[str, bytes, str]] | None = None,
) -> dict[str, Any]:
    """POST to a Graph endpoint; the answer's object, or SendFailed with Graph's words.

    The payload goes as JSON, or with `files` as the other fields of a multipart form.
    """
    body: dict[str, Any] = {"data": payload, "files": files} if files else {"json": payload}
    response = await http.post(url, params=params, headers=headers, timeout=timeout, **body)
    if response.status_code >= 300 or graph_error(response) is not None:
        raise graph_failure(response, what)
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        # It may well have gone out: a retry could send it twice, so the agent decides.
        raise SendFailed(
            f"{what} answered {response.status_code} without a JSON object", permanent=True
        )
    return data


async def send_steps(outbound: OutboundMessage, steps: Steps) -> str:
    """Run each step not yet done, in order; the last one's id (receipts for it imply the
    rest). A retry, the outbox's or an agent's "send again", starts at the step that failed."""
    return (await send_parts(outbound, list(steps), lambda name: steps[name]()))[-1]


def readable_location(
    latitude: object, longitude: object, *, name: object = None, address: object = None
) -> str:
    """A shared place as text an agent can read and open."""
    words = " - ".join(str(w).strip() for w in (name, address) if w and str(w).strip())
    if latitude is None or longitude is None:
        return f"Location: {words}" if words else "[location]"
    where = f"{latitude}, {longitude}"
    link = f"https://www.google.com/maps/search/?api=1&query={latitude},{longitude}"
    return f"Location: {words} ({where}) {link}" if words else f"Location: {where} {link}"


class GraphWebhook:
    """Verification and the subscription handshake, the same for every Graph product."""

    max_body = 1024 * 1024
    # Seconds to wait for Graph; tests shorten it to see a timeout.
    timeout = 10.0

    def verify(self, request: WebhookRequest, inbox: Inbox) -> None:
        check_signature(request, config_str(inbox, "app_secret"))

    def handshake(self, request: WebhookRequest, inbox: Inbox) -> Reply | None:
        return answer_subscription(request, config_str(inbox, "verify_token"))


def as_dict(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Malformed(f"{what} is not an object")
    return value


def as_list(value: object, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise Malformed(f"{what} is not a list")
    return value


def as_id(value: object, what: str) -> str:
    """A Graph id: a non-empty string (or a number, as some payloads send)."""
    if isinstance(value, bool) or not isinstance(value, (str, int)) or str(value) == "":
        raise Malformed(f"{what} is missing")
    return str(value)
