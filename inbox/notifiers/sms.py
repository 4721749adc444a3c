"""Alert text messages through Twilio's Messages API (or anything that speaks its shape)."""

from __future__ import annotations

import httpx

from ..policy import Notifiers
from . import NotifierError, NotSetUp

TIMEOUT = 10.0
# One SMS segment of plain text is 160 characters; a few segments are plenty for an alert.
MAX_BODY = 480


async def send_sms(notifiers: Notifiers, http: httpx.AsyncClient, *, to: str, body: str) -> str:
    """POST /2010-04-01/Accounts/{sid}/Messages.json with basic auth; returns the message sid."""
    sid, token, sender = (
        notifiers.twilio_account_sid,
        notifiers.twilio_auth_token,
        notifiers.twilio_from,
    )
    if not (sid and token and sender):
        raise NotSetUp(
            "SMS is not set up: the policy needs notifiers.twilio_account_sid, "
            "twilio_auth_token and twilio_from"
        )
    url = f"{notifiers.twilio_api_base.rstrip('/')}/2010-04-01/Accounts/{sid}/Messages.json"
    try:
        response = await http.post(
            url,
            auth=(sid, token),
            data={"To": to, "From": sender, "Body": body[:MAX_BODY]},
            timeout=TIMEOUT,
        )
    except httpx.HTTPError as exc:
        raise NotifierError(f"Twilio: {exc}") from exc
    if response.status_code >= 400:
        raise NotifierError(f"Twilio answered {response.status_code}: {_reason(response)}")
    try:
        return str(response.json()["sid"])
    except (ValueError, KeyError, TypeError) as exc:
        raise NotifierError("Twilio's answer has no message sid") from exc


def _reason(response: httpx.Response) -> str:
    try:
        return str(response.json().get("message") or response.text[:200])
    except ValueError:
        return response.text[:200]
