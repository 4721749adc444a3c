"""Files a customer sends with a widget message (docs/channels/webchat.md): read with the
agents' reply box limits (web/uploads.py), refused in the customer's language, and refused
whole rather than stored in part, since the customer is there to pick a smaller file."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request

from inbox.attachments import MAX_FILE, MAX_FILES, MAX_PER_MESSAGE, check_files
from inbox.errors import InvalidInput
from web.api_input import BodyTooLarge
from web.i18n import gettext
from web.uploads import File, reply_form

MIB = 1024 * 1024


async def read_form(request: Request) -> FormData:
    """The reply box's multipart limits (web/uploads.py), refused in the customer's language."""
    try:
        return await reply_form(request)
    except BodyTooLarge as exc:
        raise BodyTooLarge(files_too_large(), exc.detail) from exc
    except InvalidInput as exc:  # more parts than the parser takes
        raise InvalidInput(too_many_files(), exc.detail) from exc


def check_customer_files(files: list[File]) -> None:
    """Refuse what store_attachments would skip: unlike an email's sender, the customer is
    here and can pick a smaller file."""
    try:
        check_files(files)
    except InvalidInput as exc:
        raise InvalidInput(files_problem(files), exc.detail) from exc


def files_problem(files: list[File]) -> str:
    """Which of check_files' limits the files broke, in the customer's language."""
    if len(files) > MAX_FILES:
        return too_many_files()
    for file in files:
        name = file["filename"]
        if not file["data"]:
            return gettext("%(name)s is empty.") % {"name": name}
        if len(file["data"]) > MAX_FILE:
            return gettext("%(name)s is larger than %(n)s MiB.") % {
                "name": name,
                "n": MAX_FILE // MIB,
            }
    return files_too_large()


def too_many_files() -> str:
    return gettext("You can send at most %(n)s files at once.") % {"n": MAX_FILES}


def files_too_large() -> str:
    return gettext("The files are larger than %(n)s MiB together.") % {"n": MAX_PER_MESSAGE // MIB}
