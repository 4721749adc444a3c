"""Files that come with customers' messages, stored within size limits.

A channel hands the domain `{"filename", "content_type", "data": bytes}` for a file it has
the bytes of (email), or a reference it can fetch later (`{"kind": "photo", "file_id": ...}`
from Telegram, a media id from WhatsApp), kept as it is. A file over the limit is not stored
but listed, so the agent knows the customer sent it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import Session

from .errors import InvalidInput
from .models import Attachment, Message

MAX_FILE = 10 * 1024 * 1024
MAX_PER_MESSAGE = 25 * 1024 * 1024
# Files an agent may attach to one reply.
MAX_FILES = 10


def check_files(files: Sequence[dict[str, Any]]) -> None:
    """Refuse an agent's files the limits would drop: a customer's are listed as skipped
    (they were sent already), but an agent can still pick smaller ones."""
    if len(files) > MAX_FILES:
        raise InvalidInput(f"at most {MAX_FILES} files per reply", {"field": "files"})
    total = 0
    for file in files:
        data = file.get("data")
        name = str(file.get("filename") or "attachment")
        if not isinstance(data, bytes) or not data:
            raise InvalidInput(f"{name} is empty", {"field": "files"})
        if len(data) > MAX_FILE:
            raise InvalidInput(
                f"{name} is larger than {MAX_FILE // (1024 * 1024)} MiB", {"field": "files"}
            )
        total += len(data)
    if total > MAX_PER_MESSAGE:
        raise InvalidInput(
            f"the files together are larger than {MAX_PER_MESSAGE // (1024 * 1024)} MiB",
            {"field": "files"},
        )


def store_attachments(
    session: Session, message: Message, files: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Store the bytes of each file and return what the message lists; does not commit."""
    assert message.id is not None
    listed: list[dict[str, Any]] = []
    total = 0
    for file in files:
        data = file.get("data")
        if not isinstance(data, bytes):
            listed.append({k: v for k, v in file.items() if k != "data"})
            continue
        filename = str(file.get("filename") or "attachment")[:255]
        content_type = str(file.get("content_type") or "application/octet-stream")[:255]
        size = len(data)
        if size > MAX_FILE or total + size > MAX_PER_MESSAGE:
            limit = MAX_FILE if size > MAX_FILE else MAX_PER_MESSAGE
            listed.append(
                {
                    "filename": filename,
                    "content_type": content_type,
                    "size": size,
                    "skipped": f"larger than {limit // (1024 * 1024)} MiB",
                }
            )
            continue
        total += size
        row = Attachment(
            inbox_id=message.inbox_id,
            message_id=message.id,
            filename=filename,
            content_type=content_type,
            size=size,
            data=data,
        )
        session.add(row)
        session.flush()
        listed.append(
            {"id": row.id, "filename": filename, "content_type": content_type, "size": size}
        )
    return listed
