"""The generic API channel (docs/channels/api.md): anything that can POST JSON.

Inbound: `POST /api/v1/inboxes/{id}/messages` (see web/api.py) with `external_id`
de-duplication. Outbound: each agent reply is POSTed to the inbox's `webhook_url`, signed with
`X-Handoff-Signature: sha256=<hex HMAC-SHA256 of the body with the inbox secret>`; the agent's
files travel in the body, base64.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import httpx

from .base import OutboundMessage, failure_from_response

# Seconds to wait for the partner's endpoint before counting the attempt as failed.
SEND_TIMEOUT = 10.0


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _attachment(file: dict[str, Any]) -> dict[str, Any]:
    """A file as the webhook body carries it: JSON has no bytes, so base64."""
    return {
        "filename": file["filename"],
        "content_type": file["content_type"],
        "size": file["size"],
        "data_base64": base64.b64encode(file["data"]).decode("ascii"),
    }


class ApiChannel:
    name = "api"
    sends_files = True  # the webhook body carries each file, base64

    async def send(self, outbound: OutboundMessage, http: httpx.AsyncClient) -> str | None:
        url = outbound.inbox.config.get("webhook_url")
        if not url:
            # Nothing to push to: the integration polls GET /conversations/{id}/messages.
            return None
        body = json.dumps(
            {
                "event": "message.created",
                "conversation_id": outbound.conversation.id,
                "contact": {"identifier": outbound.identifier, "name": outbound.contact.name},
                "message": {
                    "id": outbound.message.id,
                    "content": outbound.message.content,
                    "created_at": outbound.message.created_at.isoformat(),
                    "attachments": [_attachment(file) for file in outbound.files],
                },
            }
        ).encode()
        secret = str(outbound.inbox.config.get("secret", ""))
        response = await http.post(
            url,
            content=body,
            timeout=SEND_TIMEOUT,
            headers={"content-type": "application/json", "x-handoff-signature": sign(secret, body)},
        )
        if response.status_code >= 300:
            raise failure_from_response(response, "webhook")
        return None
