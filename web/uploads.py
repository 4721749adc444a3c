"""Files agents attach to replies, from the reply box (multipart) or the API (base64), checked
against what the conversation's channel can carry (docs/concepts/attachments.md)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from sqlmodel import Session
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import Message

from channels.registry import sends_files
from inbox.attachments import MAX_FILE, MAX_FILES, MAX_PER_MESSAGE
from inbox.errors import InvalidInput
from inbox.models import Conversation, Inbox

from .api_input import BodyTooLarge, Fields

# The largest reply box post: every file at its limit, plus room for the form's text fields.
MAX_FORM = MAX_PER_MESSAGE + 1024 * 1024
# The largest API body with files: base64 makes 4 bytes of every 3.
MAX_JSON_WITH_FILES = MAX_PER_MESSAGE * 4 // 3 + 1024 * 1024

File = dict[str, Any]
TOO_LARGE = f"The files are larger than {MAX_PER_MESSAGE // (1024 * 1024)} MiB together"


async def reply_form(request: Request) -> FormData:
    """The reply box's form; a body larger than any allowed reply is refused unread (413)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM:
        raise BodyTooLarge(TOO_LARGE)
    # One part more than allowed, so that eleven files get check_files' message; beyond
    # that the parser stops reading, and says the same thing.
    try:
        return await capped(request, MAX_FORM).form(max_files=MAX_FILES + 1)
    except HTTPException as exc:
        if "Too many files" not in str(exc.detail):
            raise
        raise InvalidInput(f"at most {MAX_FILES} files per reply", {"field": "files"}) from exc


def capped(request: Request, limit: int) -> Request:
    """The same request, refused once its body passes `limit` bytes: a chunked upload
    declares no length to check, and the parser would spool all of it to disk."""
    received = 0

    async def receive() -> Message:
        nonlocal received
        message = await request.receive()
        received += len(message.get("body", b""))
        if received > limit:
            raise BodyTooLarge(TOO_LARGE)
        return message

    return Request(request.scope, receive)


async def files_of(form: FormData) -> list[File]:
    """The files chosen in the reply box; an empty file input sends one nameless empty part."""
    files: list[File] = []
    for part in form.getlist("files"):
        if not isinstance(part, UploadFile) or (not part.filename and not part.size):
            continue
        # One byte past the limit is enough for check_files to refuse it by name.
        data = await part.read(MAX_FILE + 1)
        files.append(
            {
                "filename": part.filename or "attachment",
                "content_type": part.content_type or "application/octet-stream",
                "data": data,
            }
        )
    return files


def files_in_json(fields: Fields, key: str = "attachments") -> list[File]:
    """`[{"filename", "content_type"?, "data_base64"}]` from an API body."""
    raw = fields.data.get(key)
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InvalidInput(f"{key} must be a list of files", {"field": key})
    files: list[File] = []
    for index, item in enumerate(raw):
        where = f"{key}[{index}]"
        if not isinstance(item, dict):
            raise InvalidInput(f"{where} must be an object", {"field": where})
        entry = Fields(item, {"filename", "content_type", "data_base64"}, prefix=f"{where}.")
        encoded = entry.required_text("data_base64", max_length=MAX_JSON_WITH_FILES)
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidInput(
                f"{where}.data_base64 is not base64", {"field": f"{where}.data_base64"}
            ) from exc
        files.append(
            {
                "filename": entry.required_text("filename", max_length=255).strip(),
                "content_type": entry.text("content_type", max_length=255)
                or "application/octet-stream",
                "data": data,
            }
        )
    return files


def check_channel_takes(session: Session, conversation: Conversation, files: list[File]) -> None:
    """Refuse files the conversation's channel cannot deliver, before anything is stored."""
    if not files:
        return
    inbox = session.get(Inbox, conversation.inbox_id)
    if inbox is not None and not sends_files(inbox.channel):
        raise InvalidInput(
            f"Replies through {inbox.channel} cannot carry files: send a link instead",
            {"field": "files"},
        )
