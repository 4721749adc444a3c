"""Agents' files as X direct message media: what X carries, and its chunked upload
(docs/channels/x.md).

X takes images (JPEG, PNG, WebP, GIF) and MP4 video in DMs, one per message. A file is
uploaded with the X API v2 chunked upload, `media_category` telling X it is for a DM:
`POST /2/media/upload/initialize`, a `POST /2/media/upload/{id}/append` per segment, then
`POST /2/media/upload/{id}/finalize`; a video or GIF is then processed, and
`GET /2/media/upload?command=STATUS&media_id={id}` says when it is ready. `XApi` makes these
requests and the DMs' (channels/x.py), and turns what X refused into `SendFailed`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from .base import SendFailed, failure_from_response, file_type

Sleep = Callable[[float], Awaitable[None]]

DEFAULT_API_BASE = "https://api.twitter.com"

MB = 1024 * 1024
# What X takes in a DM, by MIME type: the media category it is uploaded as and the largest
# size (X's "Media types & size restrictions": images 5 MB, GIFs 15 MB, video 512 MB).
SENDABLE: dict[str, tuple[str, int]] = {
    "image/jpeg": ("dm_image", 5 * MB),
    "image/png": ("dm_image", 5 * MB),
    "image/webp": ("dm_image", 5 * MB),
    "image/gif": ("dm_gif", 15 * MB),
    "video/mp4": ("dm_video", 512 * MB),
}
KINDS = {"dm_image": "images", "dm_gif": "GIFs", "dm_video": "videos"}
# X takes APPEND segments of up to 5 MB; 4 MB, as X's own sample sends, keeps a margin.
SEGMENT = 4 * MB
# Processing a video holds up this conversation's outbox; past this, try again later.
MAX_PROCESSING_WAIT = 120.0


def media_category(file: dict[str, Any]) -> str:
    """The DM media category a file goes as; a permanent SendFailed for one X refuses."""
    mime = file_type(file)
    name = file["filename"]
    if mime not in SENDABLE:
        raise SendFailed(
            f"X direct messages carry images and MP4 video only: {name} is {mime}",
            permanent=True,
        )
    category, limit = SENDABLE[mime]
    size = len(file["data"])
    if size > limit:
        raise SendFailed(
            f"X direct messages carry {KINDS[category]} of at most {limit // MB} MB: "
            f"{name} is {size / MB:.1f} MB",
            permanent=True,
        )
    return category


@dataclass
class XApi:
    """The X API v2 as the inbox's account; a request X refused raises SendFailed."""

    http: httpx.AsyncClient
    base: str
    token: str
    timeout: float

    async def request(self, method: str, path: str, **options: Any) -> httpx.Response:
        try:
            response = await self.http.request(
                method,
                f"{self.base.rstrip('/')}{path}",
                headers={"authorization": f"Bearer {self.token}"},
                timeout=self.timeout,
                **options,
            )
        except httpx.HTTPError as exc:
            # A SendFailed, not the raw error, so send_parts keeps what went out before it.
            raise SendFailed(f"X could not be reached ({type(exc).__name__})") from exc
        if response.status_code >= 300:
            raise x_failure(response)
        return response


def x_failure(response: httpx.Response) -> SendFailed:
    failure = failure_from_response(response, "X")
    if response.status_code == 429 and failure.retry_after is None:
        # X says when the rate-limit window reopens, as epoch seconds.
        reset = response.headers.get("x-rate-limit-reset", "")
        if reset.isdigit():
            failure.retry_after = max(0.0, int(reset) - time.time())
    return failure


async def upload_media(api: XApi, file: dict[str, Any], category: str, sleep: Sleep) -> str:
    """Upload one file for one DM; its media id once X can attach it."""
    data: bytes = file["data"]
    started = await api.request(
        "POST",
        "/2/media/upload/initialize",
        json={"media_type": file_type(file), "total_bytes": len(data), "media_category": category},
    )
    media_id = str(_data(started, "media upload").get("id") or "")
    if not media_id:
        raise SendFailed("X answered the media upload without an id", permanent=True)
    path = f"/2/media/upload/{quote(media_id, safe='')}"
    for index, start in enumerate(range(0, len(data), SEGMENT)):
        segment = ("blob", data[start : start + SEGMENT], "application/octet-stream")
        await api.request(
            "POST",
            f"{path}/append",
            data={"segment_index": str(index)},
            files={"media": segment},
        )
    finished = _data(await api.request("POST", f"{path}/finalize"), "media upload")
    await _processed(api, media_id, finished, file["filename"], sleep)
    return media_id


async def _processed(
    api: XApi, media_id: str, answer: dict[str, Any], name: str, sleep: Sleep
) -> None:
    """Wait while X processes a video or GIF, as long as its `processing_info` says."""
    waited = 0.0
    while True:
        info = answer.get("processing_info")
        state = info.get("state") if isinstance(info, dict) else None
        if not isinstance(info, dict) or state not in ("pending", "in_progress", "failed"):
            return  # succeeded, or no processing_info: ready at once (an image)
        if state == "failed":
            error = info.get("error")
            why = error.get("message") if isinstance(error, dict) else None
            raise SendFailed(
                f"X could not process {name}: {why or 'no reason given'}", permanent=True
            )
        after = info.get("check_after_secs")
        delay = min(max(float(after), 1.0), 30.0) if isinstance(after, int | float) else 5.0
        if waited + delay > MAX_PROCESSING_WAIT:
            raise SendFailed(f"X was still processing {name} after {waited:.0f} s")
        await sleep(delay)
        waited += delay
        status = await api.request(
            "GET", "/2/media/upload", params={"command": "STATUS", "media_id": media_id}
        )
        answer = _data(status, "media status")


def _data(response: httpx.Response, what: str) -> dict[str, Any]:
    """The `data` object of X's answer; a permanent SendFailed for any other answer."""
    try:
        body = response.json()
    except ValueError as exc:
        raise SendFailed(f"X's {what} answer is not JSON", permanent=True) from exc
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        errors = body.get("errors") if isinstance(body, dict) else body
        raise SendFailed(
            f"X's {what} answer has no data: {json.dumps(errors)[:300]}", permanent=True
        )
    return data
